"""Vision for the cloud pipelines (and the live-demo widget): Haar face detection tracked between
full detections, face crops, the emotion classifier (Keras or TFLite, batched), result records
and the overlays drawn on returned frames.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from hybridlib.data.fer import CLASS_NAMES
from hybridlib.models.artifacts import load_model
from hybridlib.models.networks import preprocess
from hybridlib.utils import InputError, sha256_file, write_bytes_atomic, write_text_atomic

log = logging.getLogger(__name__)

class FaceDetector:
    """OpenCV Haar cascade (frontal face), as the seed used; opencv-python-headless must be < 5."""

    def __init__(self, detect_width: int = 320, redetect_every: int = 15) -> None:
        if not hasattr(cv2, "CascadeClassifier") or not hasattr(cv2, "data"):
            raise InputError("this OpenCV has no Haar cascades (opencv-python-headless>=5?); "
                             "install opencv-python-headless<5")
        path = Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self.cascade = cv2.CascadeClassifier(str(path))
        if self.cascade.empty():
            raise InputError(f"could not load the Haar cascade {path}")
        self.detect_width = detect_width
        self.redetect_every = max(1, redetect_every)

    def detect_full(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Seed-style: the whole full-resolution frame, the common ``(1.3, 5)`` parameters."""
        faces = self.cascade.detectMultiScale(gray, 1.3, 5)
        return [tuple(int(v) for v in f) for f in faces]

    def detect_scaled(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Whole frame downscaled to ``detect_width``: 4× fewer pixels, boxes mapped back."""

        h, w = gray.shape[:2]
        s = min(1.0, self.detect_width / w)
        small = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else gray
        faces = self.cascade.detectMultiScale(small, 1.25, 4, minSize=(30, 30))
        return [tuple(int(round(v / s)) for v in f) for f in faces]

    def follow(self, gray: np.ndarray, boxes: list[tuple[int, int, int, int]], since_detect: int,
               ) -> tuple[list[tuple[int, int, int, int]], int]:
        """One frame of a session: track last frame's ``boxes`` while fewer than
        ``redetect_every`` frames have passed since the last full detection, else (or when
        nothing was tracked) search the whole frame. Returns the boxes and the new count."""
        found: list[tuple[int, int, int, int]] = []
        if boxes and since_detect < self.redetect_every:
            for b in boxes:
                nb = self.track(gray, b)
                if nb is not None:
                    found.append(nb)
            since_detect += 1
        if not found:  # nothing tracked (or time to look again): search the whole frame
            return self.detect_scaled(gray), 0
        return found, since_detect

    def follow_fast(self, gray: np.ndarray, st: TrackState, detect_every: int = 30, fit_every: int = 5,
                    min_score: float = 0.6, empty_every: int = 3) -> list[tuple[int, int, int, int]]:
        """The fast pipeline's detection: the whole (downscaled) frame is searched only every
        ``detect_every`` frames (new faces) or when a face is lost; in between each face is
        followed by template matching (:func:`match_template`, ≈ µs) and every ``fit_every``
        frames re-fitted by Haar around its box (:meth:`track`: size changes, drift). Lost =
        correlation below ``min_score`` or a failed fit. With no face, the search runs every
        ``empty_every`` frames (a face that walks in is found within that many frames, and an
        empty room costs a third). Updates ``st``; returns its boxes."""
        if not st.boxes and st.detections and st.since_detect + 1 < empty_every:
            st.since_detect += 1
            return st.boxes
        if st.boxes and st.since_detect + 1 < detect_every:
            st.since_detect += 1
            st.since_fit += 1
            fit = st.since_fit >= fit_every
            found: list[tuple[int, int, int, int]] = []
            for b, tpl, s in zip(st.boxes, st.templates, st.scales):
                if fit:
                    nb = self.track(gray, b)
                else:
                    mb, score = match_template(gray, b, tpl, s)
                    nb = mb if score >= min_score else None
                if nb is None:
                    found = []
                    st.lost += 1
                    break
                found.append(nb)
            if found:
                if fit:
                    st.reset(gray, found)
                else:
                    st.boxes = found
                return st.boxes
        st.reset(gray, self.detect_scaled(gray))
        st.since_detect = 0
        st.detections += 1
        return st.boxes

    def track(self, gray: np.ndarray, prev: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        """Look for a face near ``prev`` only, at 0.8–1.25× its size (≈ 12× cheaper than a search
        of the whole frame: 1.2 ms vs 14 ms at 640×480).

        The region (the box plus 35% each side) is resized so the face is ≈ 36 px, just above
        the cascade's 24 px window: a face that moved less than a third of its size is found.
        """

        x, y, w, h = prev
        H, W = gray.shape[:2]
        size = max(w, h)
        m = int(0.35 * size)
        x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(W, x + w + m), min(H, y + h + m)
        roi = gray[y0:y1, x0:x1]
        if roi.size == 0:
            return None
        s = min(1.0, 36.0 / size)
        small = cv2.resize(roi, (max(1, round(roi.shape[1] * s)), max(1, round(roi.shape[0] * s))),
                           interpolation=cv2.INTER_AREA) if s < 1 else roi
        lo, hi = max(24, int(0.8 * size * s)), int(1.25 * size * s) + 1
        if hi < lo or min(small.shape[:2]) < lo:
            return None
        faces = self.cascade.detectMultiScale(small, 1.1, 3, minSize=(lo, lo), maxSize=(hi, hi))
        if len(faces) == 0:
            return None
        fx, fy, fw, fh = max(faces, key=lambda f: f[2] * f[3])
        return (int(x0 + fx / s), int(y0 + fy / s), int(fw / s), int(fh / s))


@dataclass
class TrackState:
    """One session's faces for :meth:`FaceDetector.follow_fast`: boxes, their templates (the
    face at :data:`TEMPLATE_PX`, scale ``scales[i]``) and frames since the last searches."""

    boxes: list[tuple[int, int, int, int]] = field(default_factory=list)
    templates: list[np.ndarray] = field(default_factory=list)
    scales: list[float] = field(default_factory=list)
    since_detect: int = 0  # frames since the whole frame was searched
    since_fit: int = 0  # frames since the boxes were last fitted by Haar (drift check)
    detections: int = 0  # whole-frame searches so far (tests, the bench)
    lost: int = 0  # of which forced by a lost track or a failed fit

    def reset(self, gray: np.ndarray, boxes: list[tuple[int, int, int, int]]) -> None:
        """Anchor templates on Haar's ``boxes`` in ``gray``."""
        self.boxes, self.templates, self.scales = [], [], []
        for b in boxes:
            tpl, s = _template(gray, b)
            if tpl is not None:
                self.boxes.append(b)
                self.templates.append(tpl)
                self.scales.append(s)
        self.since_fit = 0


#: side of a face template, px: one template pixel is ≈ face size / 48 in the frame (≈ 2 px for
#: an 84 px face), fine enough that the held box is placed as well as Haar's per-frame fit
#: (24 px: ≈ 3.5 px steps, and labels on the astronaut clip flipped 3× more often), and
#: matching still costs ≈ 0.1 ms
TEMPLATE_PX = 48


def _template(gray: np.ndarray, box: tuple[int, int, int, int]) -> tuple[np.ndarray | None, float]:
    x, y, w, h = box
    roi = gray[max(0, y):y + h, max(0, x):x + w]
    if roi.size == 0 or min(roi.shape[:2]) < 8:
        return None, 1.0
    s = TEMPLATE_PX / max(w, h)
    tw, th = max(4, round(roi.shape[1] * s)), max(4, round(roi.shape[0] * s))
    return cv2.resize(roi, (tw, th), interpolation=cv2.INTER_AREA), s


def match_template(gray: np.ndarray, box: tuple[int, int, int, int], tpl: np.ndarray, s: float,
                   margin: float = 0.3) -> tuple[tuple[int, int, int, int] | None, float]:
    """Where the face template ``tpl`` (scale ``s``) is now, within ``margin`` of the box's size
    around ``box``: ``(box, normalised correlation)``, same size. Why: a shift search on a
    ≈ 70 px patch costs ≈ 0.1 ms — 9× less than Haar around the box — and faces move little
    between frames at 15 fps; size changes are left to the periodic Haar fit."""
    x, y, w, h = box
    H, W = gray.shape[:2]
    m = int(margin * max(w, h))
    x0, y0, x1, y1 = max(0, x - m), max(0, y - m), min(W, x + w + m), min(H, y + h + m)
    roi = gray[y0:y1, x0:x1]
    sw, sh = round(roi.shape[1] * s), round(roi.shape[0] * s)
    if sw < tpl.shape[1] or sh < tpl.shape[0]:
        return None, 0.0
    small = cv2.resize(roi, (sw, sh), interpolation=cv2.INTER_AREA)
    res = cv2.matchTemplate(small, tpl, cv2.TM_CCOEFF_NORMED)
    _, score, _, (lx, ly) = cv2.minMaxLoc(res)
    return (round(x0 + lx / s), round(y0 + ly / s), w, h), float(score)


def crop_faces(gray: np.ndarray, boxes: list[tuple[int, int, int, int]], size: int = 48) -> np.ndarray:
    """48×48 uint8 crops of ``boxes`` (the classifier's input, as in FER-2013)."""

    out = np.zeros((len(boxes), size, size), np.uint8)
    for i, (x, y, w, h) in enumerate(boxes):
        roi = gray[max(0, y):y + h, max(0, x):x + w]
        if roi.size:
            out[i] = cv2.resize(roi, (size, size), interpolation=cv2.INTER_AREA)
    return out


def single_threaded() -> None:
    """One worker thread does all the work: thread pools inside OpenCV and TF only add
    spinning and contention (measured: TF batch-1 CPU 5.5 → 4.3 ms with one thread)."""

    cv2.setNumThreads(1)
    try:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:  # TF already initialised by the host app: keep its pools
        log.info("TensorFlow already initialised; keeping its thread pools")


class _TFLiteRunner:
    """The same network on TF Lite's CPU interpreter (XNNPACK, one thread).

    Why: for one to a few 48×48 faces per call, a traced TF function still pays TensorFlow's
    per-op dispatch; the interpreter does the same float32 maths with less of it (measured on
    the 3.15M-param emotion CNN, batch 1: 2.1 vs 3.1 CPU-ms; outputs equal within 1e-7).
    """

    def __init__(self, content: bytes) -> None:
        import tensorflow as tf

        self.it = tf.lite.Interpreter(model_content=content, num_threads=1)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        self.out = self.it.get_output_details()[0]["index"]
        self.shape: tuple[int, ...] = tuple(self.it.get_input_details()[0]["shape"])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if x.shape != self.shape:
            self.it.resize_tensor_input(self.inp, x.shape)
            self.it.allocate_tensors()
            self.shape = x.shape
        self.it.set_tensor(self.inp, np.ascontiguousarray(x, np.float32))
        self.it.invoke()
        return self.it.get_tensor(self.out).copy()


class Classifier:
    """The emotion CNN behind two call styles: ``batch`` (ours) and ``predict_one`` (the seed's).

    ``runtime``: ``"tflite"`` (default ``"auto"`` = TF Lite when conversion works) or ``"tf"``
    (a traced ``tf.function``). ``model.predict``, the seed's call, rebuilds a data pipeline per
    call (≈ 50 ms of overhead for one face); neither runtime here does.
    """

    def __init__(self, model: Any, runtime: str = "auto", cache: str | Path | None = None) -> None:
        import tensorflow as tf

        if runtime not in ("auto", "tflite", "tf"):
            raise InputError(f"runtime {runtime!r}: choose auto, tflite or tf")
        self.model = model
        shape = tuple(model.input_shape[1:])
        self.input_shape = shape
        self._fn = tf.function(lambda x: model(x, training=False),
                               input_signature=[tf.TensorSpec((None, *shape), tf.float32)])
        self._tfl: _TFLiteRunner | None = None
        if runtime != "tf":
            try:
                self._tfl = _TFLiteRunner(self._tflite_bytes(cache))
            except Exception as e:  # noqa: BLE001 - fall back to TF, say why
                if runtime == "tflite":
                    raise
                log.warning("TF Lite conversion failed (%s); using tf.function", e)
        self.runtime = "tflite" if self._tfl is not None else "tf"
        self.batch(np.zeros((1, 48, 48), np.uint8))  # trace/allocate now, not on a user's frame

    def _tflite_bytes(self, cache: str | Path | None) -> bytes:
        """Convert once; with ``cache`` (beside the .h5) reuse it while the .h5 is unchanged."""
        import tensorflow as tf

        digest = None
        if cache is not None:
            cache = Path(cache)
            h5 = cache.with_suffix(".h5")
            digest = sha256_file(h5) if h5.is_file() else None
            stamp = cache.with_name(cache.name + ".sha256")
            if digest and cache.is_file() and stamp.is_file() and stamp.read_text().strip() == digest:
                return cache.read_bytes()
        conv = tf.lite.TFLiteConverter.from_concrete_functions([self._fn.get_concrete_function()], self.model)
        content = conv.convert()
        if cache is not None and digest:
            try:
                write_bytes_atomic(cache, content)
                write_text_atomic(cache.with_name(cache.name + ".sha256"), digest + "\n")
            except OSError as e:
                log.info("could not cache %s: %s", cache, e)
        return content

    @classmethod
    def load(cls, path: str | Path, runtime: str = "auto") -> Classifier:
        path = Path(path)
        if not path.is_file():
            raise InputError(f"model file {path} does not exist")
        try:
            model = load_model(path)
        except ImportError:
            import tf_keras as keras
            model = keras.models.load_model(path, compile=False)
        return cls(model, runtime=runtime, cache=path.with_suffix(".tflite"))

    def batch(self, faces: np.ndarray) -> np.ndarray:
        if len(faces) == 0:
            return np.zeros((0, len(CLASS_NAMES)), np.float32)
        x = preprocess(faces)
        if self._tfl is not None:
            return self._tfl(x)
        return np.asarray(self._fn(x))

    def predict_one(self, face: np.ndarray) -> np.ndarray:
        """The seed's call: ``model.predict`` on a single face."""
        return self.model.predict(preprocess(face[None]), verbose=0)[0]


def face_result(box: tuple[int, int, int, int], probs: np.ndarray) -> dict[str, Any]:
    """One face of a docs/ARCHITECTURE.md, Serving contract message."""
    p = [float(v) for v in probs[:len(CLASS_NAMES)]]
    return {"box": [int(v) for v in box], "emotion": CLASS_NAMES[int(np.argmax(p))],
            "probs": {e: round(v, 5) for e, v in zip(CLASS_NAMES, p)}}


def draw_overlay(img: np.ndarray, faces: list[dict[str, Any]]) -> np.ndarray:
    """Box and "Emotion 87%" label on the BGR frame, in place (OpenCV drawing, as the seed)."""

    for f in faces:
        x, y, w, h = f["box"]
        cv2.rectangle(img, (x, y), (x + w, y + h), (0, 255, 0), 2)
        label = f"{f['emotion']} {100 * f['probs'][f['emotion']]:.0f}%"
        cv2.putText(img, label, (x, max(14, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 0), 2)
    return img


#: BGR (0, 255, 0) in BT.601 Y, U, V: the overlay drawn straight on the decoded YUV planes
_GREEN_YUV = (150, 44, 21)


def draw_overlay_yuv(yuv: np.ndarray, faces: list[dict[str, Any]]) -> np.ndarray:
    """:func:`draw_overlay` on a yuv420p array (PyAV layout: Y rows, then U, then V), in place.

    Drawing on the planes the decoder produced skips two colour conversions per frame (BGR for
    drawing, back to YUV for the encoder: ≈ 1 ms at 640×480).
    """

    h = yuv.shape[0] * 2 // 3
    w = yuv.shape[1]
    y_plane = yuv[:h]
    u_plane = yuv[h:h + h // 4].reshape(h // 2, w // 2)
    v_plane = yuv[h + h // 4:].reshape(h // 2, w // 2)
    for f in faces:
        x, y, bw, bh = f["box"]
        label = f"{f['emotion']} {100 * f['probs'][f['emotion']]:.0f}%"
        org = (x, max(14, y - 6))
        for plane, k, val in ((y_plane, 1, _GREEN_YUV[0]), (u_plane, 2, _GREEN_YUV[1]), (v_plane, 2, _GREEN_YUV[2])):
            cv2.rectangle(plane, (x // k, y // k), ((x + bw) // k, (y + bh) // k), val, max(1, 2 // k))
            cv2.putText(plane, label, (org[0] // k, org[1] // k), cv2.FONT_HERSHEY_SIMPLEX, 0.6 / k, val,
                        max(1, 2 // k))
    return yuv


def half_yuv(yuv: np.ndarray) -> np.ndarray | None:
    """A yuv420p array (PyAV layout) at half width and height, or None when the size does not
    halve into whole chroma rows. Why: the fast pipeline's returned preview video — VP8 encoding
    a 640×480 frame costs ≈ 2.6 CPU-ms, the largest stage after the CNN, and a quarter of the
    pixels costs about a quarter."""
    h, w = yuv.shape[0] * 2 // 3, yuv.shape[1]
    if h % 8 or w % 4:
        return None
    h2, w2 = h // 2, w // 2
    y = cv2.resize(yuv[:h], (w2, h2), interpolation=cv2.INTER_AREA)
    u = cv2.resize(yuv[h:h + h // 4].reshape(h // 2, w // 2), (w2 // 2, h2 // 2), interpolation=cv2.INTER_AREA)
    v = cv2.resize(yuv[h + h // 4:].reshape(h // 2, w // 2), (w2 // 2, h2 // 2), interpolation=cv2.INTER_AREA)
    return np.concatenate([y, u.reshape(h2 // 4, w2), v.reshape(h2 // 4, w2)])


def scaled_faces(faces: list[dict[str, Any]], s: float) -> list[dict[str, Any]]:
    """``faces`` with their boxes scaled by ``s`` (for drawing on a resized frame)."""
    return [{**f, "box": [round(v * s) for v in f["box"]]} for f in faces]


def crops_from_frames(frames: list[np.ndarray], detect_width: int = 320) -> list[np.ndarray]:
    """48×48 uint8 face crops from BGR frames with the cloud pipeline's detector (all faces)."""

    det = FaceDetector(detect_width=detect_width)
    out = []
    for fr in frames:
        gray = cv2.cvtColor(fr, cv2.COLOR_BGR2GRAY)
        boxes = det.detect_scaled(gray)
        if boxes:
            out.append(crop_faces(gray, boxes))
    return out
