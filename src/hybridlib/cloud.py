"""Cloud mode over WebRTC: the browser (or a load-test peer) streams its camera to the server,
the server finds faces, classifies their emotion and sends the answer back twice — drawn on a
returned video track and as one JSON message per processed frame on the ``results`` data channel
(DESIGN.md §6).

Two pipelines share the signalling, the admission control and the message format so the load
study can compare them on equal terms:

``ours`` (default)
    Frames are read off each peer's track as soon as aiortc decodes them, and only the *newest*
    one per session is kept (a stale one is counted as dropped): lag can never build up. One
    :class:`BatchWorker` thread does all the work off the event loop: Haar detection on a
    downscaled frame, re-detected fully every ``redetect_every`` frames and tracked in between
    by searching only a region around the previous box at a narrow scale range, then ONE
    classifier call (a traced ``tf.function``) for the faces of every session in the batch, then
    the overlay. The event loop only moves packets and messages.

``seed``
    Seed 000's server as its text describes it (aiortc's server example with a transform track):
    Haar on the full frame, one ``model.predict`` per face, drawing with OpenCV — all inline in
    the track's ``recv`` on the event loop, every frame in order, nothing batched or dropped. It
    is the baseline that shows why the seed's server fell over at 6 users.

Admission control: at most ``max_sessions`` peer connections; the next ``/offer`` gets 503 with a
JSON reason, and admitted users keep their service. Malformed offers get 4xx JSON, never 500.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from .data import CLASS_NAMES
from .utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    from aiohttp import web

log = logging.getLogger(__name__)


def dtls_bytes(pc: Any) -> tuple[int, int]:
    """(received, sent) bytes over a peer connection's DTLS transports (RTP, RTCP and the data
    channel's SCTP), each transport counted once. aiortc keeps these counters private, so we
    read them by their mangled names; both the server and the load clients measure this way."""
    seen: set[int] = set()
    rx = tx = 0
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for t in transports:
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        rx += getattr(t, "_RTCDtlsTransport__rx_bytes", 0)
        tx += getattr(t, "_RTCDtlsTransport__tx_bytes", 0)
    return rx, tx

PIPELINES = ("ours", "seed")
#: largest accepted ``/offer`` body: a browser SDP offer is 3–10 KB.
MAX_OFFER_BYTES = 64 * 1024
#: 90 kHz RTP video clock: the ``pts`` we report is in these units, relative to the first frame.
VIDEO_CLOCK = 90_000

_APP_KEY = "hybridlib.cloud"


# --------------------------------------------------------------------------------------------
# detection and classification


class FaceDetector:
    """OpenCV Haar cascade (frontal face), as the seed used; opencv-python-headless must be < 5."""

    def __init__(self, detect_width: int = 320, redetect_every: int = 15) -> None:
        import cv2

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
        import cv2

        h, w = gray.shape[:2]
        s = min(1.0, self.detect_width / w)
        small = cv2.resize(gray, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA) if s < 1 else gray
        faces = self.cascade.detectMultiScale(small, 1.25, 4, minSize=(30, 30))
        return [tuple(int(round(v / s)) for v in f) for f in faces]

    def track(self, gray: np.ndarray, prev: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
        """Look for a face near ``prev`` only, at 0.8–1.25× its size (≈ 12× cheaper than a search
        of the whole frame: 1.2 ms vs 14 ms at 640×480).

        The region (the box plus 35% each side) is resized so the face is ≈ 36 px, just above
        the cascade's 24 px window: a face that moved less than a third of its size is found.
        """
        import cv2

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


def crop_faces(gray: np.ndarray, boxes: list[tuple[int, int, int, int]], size: int = 48) -> np.ndarray:
    """48×48 uint8 crops of ``boxes`` (the classifier's input, as in FER-2013)."""
    import cv2

    out = np.zeros((len(boxes), size, size), np.uint8)
    for i, (x, y, w, h) in enumerate(boxes):
        roi = gray[max(0, y):y + h, max(0, x):x + w]
        if roi.size:
            out[i] = cv2.resize(roi, (size, size), interpolation=cv2.INTER_AREA)
    return out


def preprocess(faces: np.ndarray) -> np.ndarray:
    """uint8 N×48×48 → float32 [0,1] N×48×48×1 (the models' input convention)."""
    try:
        from .models import preprocess as _pp  # the models helper's single definition
        return _pp(faces)
    except (ImportError, AttributeError):
        return (faces.astype(np.float32) / 255.0)[..., None]


def _single_threaded() -> None:
    """One worker thread does all the work: thread pools inside OpenCV and TF only add
    spinning and contention (measured: TF batch-1 CPU 5.5 → 4.3 ms with one thread)."""
    import cv2

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

        from .utils import sha256_file, write_bytes_atomic, write_text_atomic

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
            from .train import load_model  # the models helper's loader (custom objects etc.)
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
    """One face of a DESIGN §6 message."""
    p = [float(v) for v in probs[:len(CLASS_NAMES)]]
    return {"box": [int(v) for v in box], "emotion": CLASS_NAMES[int(np.argmax(p))],
            "probs": {e: round(v, 5) for e, v in zip(CLASS_NAMES, p)}}


def draw_overlay(img: np.ndarray, faces: list[dict[str, Any]]) -> np.ndarray:
    """Box and "Emotion 87%" label on the BGR frame, in place (OpenCV drawing, as the seed)."""
    import cv2

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
    import cv2

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


# --------------------------------------------------------------------------------------------
# sessions and the batching worker


def _pct(values: Any, q: float) -> float | None:
    v = list(values)
    return float(np.percentile(v, q)) if v else None


@dataclass
class Stats:
    """Server-wide counters behind ``/metrics`` (all sessions, since start)."""

    sessions_total: int = 0
    refused: int = 0
    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    frames_queued: int = 0  # seed: frames that waited behind others in aiortc's track queue
    frames_lost: int = 0  # seed: frames the client sent that never reached the handler (pts gaps)
    backlog_max: int = 0  # seed: most decoded frames ever waiting for the handler at once
    infer_ms: deque = field(default_factory=lambda: deque(maxlen=2000))
    server_ms: deque = field(default_factory=lambda: deque(maxlen=2000))


class SeedLedger:
    """What the seed's inline design does to frames that arrive while it is busy, counted.

    The seed processes each frame in order inside the returned track's ``recv``, on the event
    loop; nothing is skipped on purpose. Measured here (2 users, 320×240 @ 10 fps, loaded
    2-core box): while the handler runs, the loop cannot read the socket, so frames wait — in
    the kernel's socket buffer, then as encoded frames for aiortc's decoder thread, then decoded
    in the track's unbounded queue — and the server goes on working them off for seconds after
    its users left. So the ledger counts:

    * **queued**: frames the handler took while it was behind — frames were waiting in aiortc's
      queues (``backlog``) or, from the frames' RTP times against the server's clock, the sender
      had already produced later ones (``behind``, which also sees the kernel's buffer);
    * **lost**: frames that never reached the handler (gaps in the RTP times; the sender's frame
      interval is the smallest step seen) — packets dropped while the loop was blocked;
    * at the peer's hang-up (:meth:`CloudService._close`), the frames still in aiortc's queues
      are never answered: **dropped**, with the lost ones.

    Pure bookkeeping (``now`` is passed in) so unit tests can drive it.
    """

    def __init__(self) -> None:
        self.queued = 0
        self.lost = 0
        self.backlog_max = 0
        self.prev_pts: int | None = None
        self.step: int | None = None
        self._t0: float | None = None
        self._pts0 = 0
        self._min_lag = 0.0

    def behind(self, pts90: int, now: float) -> int:
        """Frames the sender had produced after this one when the handler took it (0 until
        the frame interval is known): this frame's lag behind the sender's clock, less the
        smallest lag seen (the pipe's own latency), in frame intervals."""
        if self._t0 is None:
            self._t0, self._pts0 = now, pts90
        lag = (now - self._t0) - (pts90 - self._pts0) / VIDEO_CLOCK
        self._min_lag = min(self._min_lag, lag)
        if not self.step:
            return 0
        return max(0, int((lag - self._min_lag) * VIDEO_CLOCK / self.step))

    def on_frame(self, pts90: int | None, backlog: int, now: float | None = None) -> tuple[int, int]:
        """Record one frame taken by the handler with ``backlog`` more waiting in aiortc's
        queues at wall time ``now`` (s); returns ``(queued, lost)`` added by it."""
        lost = 0
        behind = 0
        if pts90 is not None:
            if self.prev_pts is not None and pts90 > self.prev_pts:
                d = pts90 - self.prev_pts
                self.step = d if self.step is None else min(self.step, d)
                lost = max(0, round(d / self.step) - 1)
            self.prev_pts = pts90 if self.prev_pts is None else max(self.prev_pts, pts90)
            if now is not None:
                behind = self.behind(pts90, now)
        waiting = max(backlog, behind)
        queued = 1 if waiting > 0 else 0
        self.queued += queued
        self.backlog_max = max(self.backlog_max, waiting)
        self.lost += lost
        return queued, lost


def _backlog(track: Any, receiver: Any = None) -> int:
    """Frames waiting for the seed's handler: decoded ones in the aiortc remote track's queue
    (its private ``_queue``), not counting the end-of-stream marker, plus complete encoded ones
    still waiting for the receiver's decoder thread (its private ``__decoder_queue``). Private
    names, read defensively: a missing one counts 0."""
    n = 0
    q = getattr(track, "_queue", None)
    if q is not None:
        n = q.qsize()
        with contextlib.suppress(Exception):
            if n and q._queue[-1] is None:  # asyncio.Queue's deque: the stream ended
                n -= 1
    dq = getattr(receiver, "_RTCRtpReceiver__decoder_queue", None) if receiver is not None else None
    if dq is not None:
        with contextlib.suppress(Exception):
            n += sum(1 for item in list(dq.queue) if item is not None)
    return n


class Session:
    """One admitted peer: its newest unprocessed frame, its tracked faces, its result channel."""

    def __init__(self, pc: Any, stats: Stats) -> None:
        self.id = uuid.uuid4().hex[:8]
        self.pc = pc
        self.stats = stats
        self.channel: Any = None
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self.closed = False
        # slot written by the loop, taken by the worker (under the worker's lock)
        self.pending: tuple[Any, int, float] | None = None
        self.boxes: list[tuple[int, int, int, int]] = []
        self.since_detect = 0
        self._out: Any = None
        self._out_event = asyncio.Event()
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.seed_track: Any = None  # seed: the peer's remote track, whose queue we read
        self.seed_receiver: Any = None  # … and its receiver (encoded frames not yet decoded)
        self.ledger = SeedLedger()

    def send(self, msg: dict[str, Any]) -> None:
        ch = self.channel
        if ch is not None and ch.readyState == "open":
            with contextlib.suppress(Exception):
                ch.send(json.dumps(msg))

    def deliver(self, frame: Any, msg: dict[str, Any]) -> None:
        """Loop side of a finished frame: results message now, video frame for the sender."""
        if self.closed:
            return
        self.frames_out += 1
        self.stats.frames_out += 1
        self.stats.server_ms.append(msg["server_ms"])
        self.send(msg)
        self._out = frame
        self._out_event.set()

    async def next_output(self) -> Any:
        await self._out_event.wait()
        self._out_event.clear()
        return self._out

    def byte_counts(self) -> tuple[int, int]:
        """(received, sent) bytes on this peer's DTLS transports (RTP, RTCP and SCTP alike)."""
        rx, tx = dtls_bytes(self.pc)
        self.rx_bytes, self.tx_bytes = max(self.rx_bytes, rx), max(self.tx_bytes, tx)
        return self.rx_bytes, self.tx_bytes


class BatchWorker(threading.Thread):
    """One thread does every session's detection, classification and drawing.

    Each round takes the newest pending frame of every session that has one, so a slow round
    makes the next one bigger (better batched) instead of making a queue longer.
    """

    def __init__(self, detector: FaceDetector, classifier: Classifier, stats: Stats,
                 loop: asyncio.AbstractEventLoop, max_batch: int = 32) -> None:
        super().__init__(name="hybridlib-cloud-worker", daemon=True)
        self.detector, self.classifier, self.stats, self.loop = detector, classifier, stats, loop
        self.max_batch = max_batch
        self.cond = threading.Condition()
        self.sessions: list[Session] = []
        self._stopping = False

    def submit(self, s: Session, frame: Any, seq: int) -> None:
        """Loop side: replace the session's pending frame by this newer one (the old is dropped)."""
        with self.cond:
            if s.pending is not None:
                s.dropped += 1
                self.stats.frames_dropped += 1
            s.pending = (frame, seq, time.perf_counter())
            if s not in self.sessions:
                self.sessions.append(s)
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self._stopping = True
            self.cond.notify()

    def _take(self) -> list[tuple[Session, Any, int, float]]:
        with self.cond:
            while not self._stopping and not any(s.pending for s in self.sessions):
                self.cond.wait(0.5)
            if self._stopping:
                return []
            work = []
            for s in list(self.sessions):
                if s.closed:
                    self.sessions.remove(s)
                elif s.pending is not None:
                    work.append((s, *s.pending))
                    s.pending = None
            return work

    def run(self) -> None:
        while not self._stopping:
            work = self._take()
            if not work:
                continue
            try:
                self._process(work)
            except Exception:  # one bad frame must not kill the service
                log.exception("cloud worker: batch failed")

    def _process(self, work: list[tuple[Session, Any, int, float]]) -> None:
        import av
        import cv2

        t0 = time.perf_counter()
        imgs, grays, boxes_per, det_ms = [], [], [], []
        for s, frame, _seq, _t in work:
            td = time.perf_counter()
            if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
                img = frame.to_ndarray()  # planes as decoded; the Y plane is the gray image
                gray = img[:frame.height]
            else:
                img = cv2.cvtColor(frame.to_ndarray(format="bgr24"), cv2.COLOR_BGR2YUV_I420)
                gray = img[:frame.height]
            boxes: list[tuple[int, int, int, int]] = []
            if s.boxes and s.since_detect < self.detector.redetect_every:
                for b in s.boxes:
                    nb = self.detector.track(gray, b)
                    if nb is not None:
                        boxes.append(nb)
                s.since_detect += 1
            if not boxes:  # nothing tracked (or time to look again): search the whole frame
                boxes = self.detector.detect_scaled(gray)
                s.since_detect = 0
            s.boxes = boxes
            det_ms.append((time.perf_counter() - td) * 1000)
            imgs.append(img)
            grays.append(gray)
            boxes_per.append(boxes)
        crops = [crop_faces(g, b) for g, b in zip(grays, boxes_per)]
        allc = np.concatenate(crops) if crops else np.zeros((0, 48, 48), np.uint8)
        probs = []
        tc = time.perf_counter()
        for i in range(0, len(allc), self.max_batch):
            probs.append(self.classifier.batch(allc[i:i + self.max_batch]))
        probs_all = np.concatenate(probs) if probs else np.zeros((0, len(CLASS_NAMES)))
        k = 0
        done = time.perf_counter()
        cnn_ms = round((done - tc) * 1000 / len(work), 2)  # the batch's cost, shared per frame
        per_frame_ms = (done - t0) * 1000 / len(work)
        for (s, frame, seq, t_in), img, boxes, dms in zip(work, imgs, boxes_per, det_ms):
            faces = [face_result(b, probs_all[k + j]) for j, b in enumerate(boxes)]
            k += len(boxes)
            draw_overlay_yuv(img, faces)
            out = av.VideoFrame.from_ndarray(img, format="yuv420p")
            out.pts = frame.pts
            if frame.time_base is not None:
                out.time_base = frame.time_base
            msg = {"frame": seq, "pts": _pts90(frame), "size": [frame.width, frame.height], "faces": faces,
                   "server_ms": round((time.perf_counter() - t_in) * 1000, 2),
                   "detect_ms": round(dms, 2), "cnn_ms": cnn_ms, "batch": len(work)}
            self.stats.infer_ms.append(per_frame_ms)
            self.loop.call_soon_threadsafe(s.deliver, out, msg)


def _pts90(frame: Any) -> int | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return int(round(frame.pts * frame.time_base * VIDEO_CLOCK))


def _video_track_class() -> type:
    """Built lazily so importing this module does not import aiortc."""
    from aiortc import MediaStreamTrack

    class OursTrack(MediaStreamTrack):
        """The returned video: whatever the worker last finished for this session."""

        kind = "video"

        def __init__(self, session: Session) -> None:
            super().__init__()
            self.session = session

        async def recv(self) -> Any:
            return await self.session.next_output()

    class SeedTrack(MediaStreamTrack):
        """Seed 000's transform track: everything inline in ``recv``, on the event loop."""

        kind = "video"

        def __init__(self, track: Any, session: Session, cloud: CloudService) -> None:
            super().__init__()
            self.track, self.session, self.cloud = track, session, cloud

        async def recv(self) -> Any:
            import av
            import cv2

            from aiortc.mediastreams import MediaStreamError

            frame = await self.track.recv()
            s, st = self.session, self.cloud.stats
            if s.closed:  # counted as dropped by _close with the rest of the backlog
                raise MediaStreamError
            t_in = time.perf_counter()
            backlog = _backlog(self.track, s.seed_receiver)
            queued, lost = s.ledger.on_frame(_pts90(frame), backlog, t_in)
            st.frames_queued += queued
            st.frames_lost += lost
            st.frames_dropped += lost
            s.dropped += lost
            st.backlog_max = max(st.backlog_max, s.ledger.backlog_max)
            s.frames_in += 1
            st.frames_in += 1
            img = frame.to_ndarray(format="bgr24")
            gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            faces = []
            boxes = self.cloud.detector.detect_full(gray)
            t_det = time.perf_counter()
            for box in boxes:
                face = crop_faces(gray, [box])[0]
                faces.append(face_result(box, self.cloud.classifier.predict_one(face)))
            t_cnn = time.perf_counter()
            draw_overlay(img, faces)
            out = av.VideoFrame.from_ndarray(img, format="bgr24")
            out.pts, out.time_base = frame.pts, frame.time_base
            ms = round((time.perf_counter() - t_in) * 1000, 2)
            st.infer_ms.append(ms)
            s.frames_out += 1
            st.frames_out += 1
            st.server_ms.append(ms)
            s.send({"frame": s.frames_in, "pts": _pts90(frame), "size": [frame.width, frame.height],
                    "faces": faces, "server_ms": ms, "detect_ms": round((t_det - t_in) * 1000, 2),
                    "cnn_ms": round((t_cnn - t_det) * 1000, 2), "batch": 1})
            return out

    return OursTrack, SeedTrack


# --------------------------------------------------------------------------------------------
# the service: /offer, admission control, metrics


@dataclass
class CloudConfig:
    max_sessions: int = 4
    pipeline: str = "ours"
    detect_width: int = 320
    redetect_every: int = 15
    max_batch: int = 32

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise InputError(f"pipeline {self.pipeline!r}: choose one of {', '.join(PIPELINES)}")
        if self.max_sessions < 1:
            raise InputError(f"max_sessions must be ≥ 1, got {self.max_sessions}")


class CloudService:
    """Everything cloud mode keeps per server: peers, sessions, the worker, the counters."""

    def __init__(self, classifier: Classifier, config: CloudConfig | None = None,
                 detector: FaceDetector | None = None) -> None:
        self.config = config or CloudConfig()
        self.classifier = classifier
        self.detector = detector or FaceDetector(self.config.detect_width, self.config.redetect_every)
        self.stats = Stats()
        self.sessions: dict[str, Session] = {}
        self.worker: BatchWorker | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closed_bytes = [0, 0]

    # ---- HTTP
    async def handle_offer(self, request: web.Request) -> web.Response:
        from aiohttp import web

        def err(status: int, msg: str, **extra: Any) -> web.Response:
            return web.json_response({"error": msg, **extra}, status=status)

        ctype = request.content_type
        if ctype != "application/json":
            return err(415, f"Content-Type must be application/json, got {ctype or 'none'!r}")
        if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
            return err(413, f"offer body of {request.content_length} bytes exceeds {MAX_OFFER_BYTES}")
        try:
            body = await request.content.read(MAX_OFFER_BYTES + 1)
        except Exception as e:  # client went away mid-body, bad chunking …
            return err(400, f"could not read the request body: {e}")
        if len(body) > MAX_OFFER_BYTES:
            return err(413, f"offer body exceeds {MAX_OFFER_BYTES} bytes")
        try:
            params = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return err(400, f"body is not valid JSON: {e}")
        if not isinstance(params, dict):
            return err(400, "body must be a JSON object {\"sdp\": …, \"type\": \"offer\"}")
        sdp, typ = params.get("sdp"), params.get("type")
        if not isinstance(sdp, str) or not sdp.strip():
            return err(400, "field 'sdp' must be a non-empty string")
        if typ != "offer":
            return err(400, f"field 'type' must be \"offer\", got {typ!r}")
        if "m=video" not in sdp:
            return err(400, "the offer has no video track (m=video): cloud mode needs the camera")
        defect = _offer_defect(sdp)
        if defect:
            return err(400, f"bad SDP offer: {defect}")
        # check and admit with no ``await`` in between: _accept registers the session
        # before its first await, so two concurrent offers cannot both take the last slot
        if len(self.sessions) >= self.config.max_sessions:
            self.stats.refused += 1
            return err(503, f"server at capacity: {self.config.max_sessions} session(s) in use",
                       reason="capacity", max_sessions=self.config.max_sessions)
        try:
            answer = await self._accept(sdp)
        except _BadOffer as e:
            return err(400, f"bad SDP offer: {e}")
        return web.json_response(answer)

    async def _accept(self, sdp: str) -> dict[str, str]:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        OursTrack, SeedTrack = _video_track_class()
        pc = RTCPeerConnection()
        s = Session(pc, self.stats)
        self.sessions[s.id] = s
        self.stats.sessions_total += 1

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == "results":
                s.channel = channel

                @channel.on("message")
                def on_message(m: Any) -> None:  # tiny ping/pong for a client's RTT estimate
                    with contextlib.suppress(Exception):
                        d = json.loads(m)
                        if isinstance(d, dict) and "ping" in d:
                            channel.send(json.dumps({"pong": d["ping"]}))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(s)

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind != "video":
                return

            @track.on("ended")
            async def on_ended() -> None:  # the peer hung up (RTCP BYE): free its slot now
                await self._close(s)

            if self.config.pipeline == "seed":
                s.seed_track = track
                s.seed_receiver = next((t.receiver for t in pc.getTransceivers()
                                        if t.receiver is not None and t.receiver.track is track), None)
                pc.addTrack(SeedTrack(track, s, self))
            else:
                pc.addTrack(OursTrack(s))
                self._spawn(self._read(s, track))

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as e:
            await self._close(s)
            raise _BadOffer(str(e) or type(e).__name__) from e
        log.info("session %s admitted (%d/%d, pipeline %s)", s.id, len(self.sessions),
                 self.config.max_sessions, self.config.pipeline)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _read(self, s: Session, track: Any) -> None:
        """Drain the decoded frames as they come; hand only the newest to the worker."""
        from aiortc.mediastreams import MediaStreamError

        if self.worker is None:
            self.worker = BatchWorker(self.detector, self.classifier, self.stats,
                                      asyncio.get_running_loop(), self.config.max_batch)
            self.worker.start()
        while not s.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            s.frames_in += 1
            self.stats.frames_in += 1
            self.worker.submit(s, frame, s.frames_in)
        await self._close(s)

    async def _close(self, s: Session) -> None:
        if s.closed:
            return
        s.closed = True
        if s.seed_track is not None:  # seed: frames still queued are never answered
            left = _backlog(s.seed_track, s.seed_receiver)
            s.dropped += left
            self.stats.frames_dropped += left
            log.info("seed session %s: %d frames still queued at close (dropped); last pts %s",
                     s.id, left, s.ledger.prev_pts)
        rx, tx = s.byte_counts()
        self._closed_bytes[0] += rx
        self._closed_bytes[1] += tx
        self.sessions.pop(s.id, None)
        s._out_event.set()
        with contextlib.suppress(Exception):
            await s.pc.close()
        log.info("session %s closed (in %d, out %d, dropped %d)", s.id, s.frames_in, s.frames_out,
                 s.dropped)

    async def shutdown(self, app: Any = None) -> None:
        for s in list(self.sessions.values()):
            await self._close(s)
        if self.worker is not None:
            self.worker.stop()
            await asyncio.get_running_loop().run_in_executor(None, self.worker.join, 5)
            self.worker = None
        for t in list(self._tasks):
            t.cancel()

    def metrics(self) -> dict[str, Any]:
        st = self.stats
        rx, tx = self._closed_bytes
        for s in list(self.sessions.values()):
            a, b = s.byte_counts()
            rx += a
            tx += b
        return {"mode": "cloud", "pipeline": self.config.pipeline,
                "sessions": len(self.sessions), "max_sessions": self.config.max_sessions,
                "sessions_total": st.sessions_total, "refused": st.refused,
                "frames_in": st.frames_in, "frames_out": st.frames_out,
                "frames_dropped": st.frames_dropped,
                "frames_queued": st.frames_queued, "frames_lost": st.frames_lost,
                "backlog_max": st.backlog_max,
                "inference_ms_p50": _pct(st.infer_ms, 50), "inference_ms_p95": _pct(st.infer_ms, 95),
                "server_ms_p50": _pct(st.server_ms, 50), "server_ms_p95": _pct(st.server_ms, 95),
                "bytes_in": rx, "bytes_out": tx}


class _BadOffer(Exception):
    pass


def _offer_defect(sdp: str) -> str | None:
    """Why aiortc could never connect this offer, or None. aiortc accepts an offer whose media
    lack DTLS fingerprints or ICE credentials and only fails later, in a background task
    (found by fuzzing: ``benchmarks/fuzz.py``); refuse such offers up front with a 400."""
    from aiortc.sdp import SessionDescription

    try:
        desc = SessionDescription.parse(sdp)
    except Exception as e:  # noqa: BLE001 - the parser raises many types on bad text
        return f"cannot parse ({type(e).__name__}: {e})"[:300]
    for m in desc.media:
        if m.dtls is None or not m.dtls.fingerprints:
            return f"m={m.kind} has no a=fingerprint (DTLS)"
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            return f"m={m.kind} has no ICE credentials (a=ice-ufrag / a=ice-pwd)"
    return None


def setup_cloud(app: web.Application, model_path: str | Path | None = None, max_sessions: int = 4,
                pipeline: str = "ours", classifier: Classifier | None = None,
                **config: Any) -> CloudService:
    """Add cloud mode to an aiohttp app: ``POST /offer``, a metrics provider, clean shutdown.

    ``serve.make_app`` calls this when ``mode == "cloud"``; tests may pass a ``classifier``
    directly instead of a model file.
    """
    cfg = CloudConfig(max_sessions=max_sessions, pipeline=pipeline, **config)
    if pipeline == "ours":
        _single_threaded()
    if classifier is None:
        if model_path is None:
            raise InputError("cloud mode needs a model file (--model PATH.h5)")
        classifier = Classifier.load(model_path, runtime="auto" if pipeline == "ours" else "tf")
    if pipeline == "seed":
        # model.predict traces its Keras function on the first call (seconds): do it now, so the
        # first user's first frame measures the seed's steady cost, not the tracing
        classifier.predict_one(np.zeros((48, 48), np.uint8))
    svc = CloudService(classifier, cfg)
    app[_APP_KEY] = svc
    app.router.add_post("/offer", svc.handle_offer)
    providers: list[Callable[[], dict]] = app.get("metrics_providers") if "metrics_providers" in app else None
    if providers is None:
        providers = []
        app["metrics_providers"] = providers
    providers.append(svc.metrics)
    app.on_shutdown.append(svc.shutdown)
    return svc


# --------------------------------------------------------------------------------------------
# standalone server (used by the load generator when ``hybridlib serve`` is unavailable)


def _main(argv: list[str] | None = None) -> int:
    import argparse

    from aiohttp import web

    p = argparse.ArgumentParser(prog="python -m hybridlib.cloud",
                                description="Cloud-mode server alone (/offer, /metrics, /healthz).")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--model", required=True)
    p.add_argument("--max-sessions", type=int, default=4)
    p.add_argument("--pipeline", choices=PIPELINES, default="ours")
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    app = web.Application()
    svc = setup_cloud(app, model_path=a.model, max_sessions=a.max_sessions, pipeline=a.pipeline)

    async def healthz(_r: web.Request) -> web.Response:
        return web.json_response({"ok": True, "mode": "cloud"})

    async def metrics(_r: web.Request) -> web.Response:
        return web.json_response(svc.metrics())

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    web.run_app(app, host=a.host, port=a.port, print=None)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(_main())
