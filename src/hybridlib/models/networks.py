"""The study's networks: the seed's emotion CNN (VGG + Inception, ~3M params) and AlexNet.

Both are tf_keras functional models (never Keras 3: tensorflowjs 4.22 converts only
tf_keras ``.h5`` files, docs/ARCHITECTURE.md, Pitfalls) built only from layers TF.js' layers API runs
(Conv2D, MaxPooling2D, BatchNormalization, Activation, Concatenate, Flatten, Dense,
Dropout), so the browser can execute any head of them.

Input convention (shared by training, the cloud server and the browser):
**the emotion CNN takes float32 pixels in [0, 1], shape ``N×48×48×1``**. Scaling is *not*
inside the model; :func:`preprocess` does it (uint8 / 255). The browser does the same
(``tf.div(gray, 255)``) before calling the model, so a head cut anywhere after the input
sees the same tensors on both sides.

Layer names are part of the interface: later steps cut the models at layer boundaries
(head on the device, tail in the cloud) and profile per layer by name. They are stable:
``conv1_1``, ``conv1_1_bn``, ``conv1_1_relu``, ``pool1`` …, ``incept3_b3x3`` …,
``incept3`` (the concat), ``flatten``, ``dense1``, ``dense2``, ``predictions``.
:func:`split_points` lists every layer a head/tail cut may follow, :func:`cut_sets` what
crosses each cut, and :func:`chain_cut_points` the layers after which a single tensor carries
the whole state (where a one-tensor split is possible) — all from one graph walk,
:func:`cut_tensors`.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

log = logging.getLogger(__name__)

#: The emotion CNN's input: 48×48 gray, float32 in [0, 1] (see :func:`preprocess`).
EMOTION_INPUT_SHAPE: tuple[int, int, int] = (48, 48, 1)
N_CLASSES = 7

#: the 9 layers counted as "convolutional" for the seed's 9 conv / 5 pool / 3 dense
#: (each Inception module counts once: see :func:`emotion_cnn`).
CONV_LAYERS: tuple[str, ...] = ("conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1",
                                "incept3", "incept4", "conv5_1", "conv5_2")
#: BatchNorm moving-average momentum. Keras' 0.99 needs ~500 steps before the inference
#: statistics are usable; the quick preset's sweep runs ~60 steps per config, so 0.9.
BN_MOMENTUM = 0.9
POOL_LAYERS: tuple[str, ...] = ("pool1", "pool2", "pool3", "pool4", "pool5")
DENSE_LAYERS: tuple[str, ...] = ("dense1", "dense2", "predictions")


def _keras():
    import tf_keras as keras

    return keras


def preprocess(images: np.ndarray) -> np.ndarray:
    """uint8 faces (``N×48×48`` or ``N×48×48×1``, or one ``48×48``) → float32 ``N×48×48×1`` in [0, 1].

    The one place where pixel scaling is defined; the server and the browser use the same
    rule (divide by 255), so a model trained here sees the same numbers everywhere.
    """
    a = np.asarray(images)
    if a.ndim == 2:
        a = a[None]
    if a.ndim == 3:
        a = a[..., None]
    if a.ndim != 4 or a.shape[1:] != EMOTION_INPUT_SHAPE:
        raise InputError(f"preprocess expects 48×48 gray faces (N×48×48[×1]), got shape {np.shape(images)}")
    if a.dtype == np.uint8:
        return a.astype(np.float32) / np.float32(255.0)
    if np.issubdtype(a.dtype, np.floating):
        # Already scaled floats pass through, but 0–255 floats are a classic silent bug.
        if a.size and float(np.nanmax(a)) > 1.0 + 1e-6:
            raise InputError("preprocess got float pixels above 1.0: pass uint8 0–255 or floats in [0, 1]")
        return a.astype(np.float32, copy=False)
    raise InputError(f"preprocess expects uint8 or float pixels, got dtype {a.dtype}")


def _conv_bn_relu(x, filters: int, name: str, kernel: int = 3):
    """A VGG unit: 3×3 same conv (no bias: BN has it) → BatchNorm → ReLU, named ``name[_bn|_relu]``."""
    keras = _keras()
    L = keras.layers
    x = L.Conv2D(filters, kernel, padding="same", use_bias=False, name=name)(x)
    x = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return L.Activation("relu", name=f"{name}_relu")(x)


def _inception(x, name: str, f1: int, f3r: int, f3: int, f5r: int, f5: int, fp: int):
    """A GoogLeNet Inception module (v1): 1×1 | 1×1→3×3 | 1×1→5×5 | 3×3 pool→1×1, concatenated.

    The concatenation is the module's output and carries its name (``incept3``); then BN
    and ReLU follow like in the VGG units so every stage ends with a normalised tensor.
    """
    keras = _keras()
    L = keras.layers
    relu = "relu"
    b1 = L.Conv2D(f1, 1, padding="same", activation=relu, name=f"{name}_b1x1")(x)
    b3 = L.Conv2D(f3r, 1, padding="same", activation=relu, name=f"{name}_b3x3_reduce")(x)
    b3 = L.Conv2D(f3, 3, padding="same", activation=relu, name=f"{name}_b3x3")(b3)
    b5 = L.Conv2D(f5r, 1, padding="same", activation=relu, name=f"{name}_b5x5_reduce")(x)
    b5 = L.Conv2D(f5, 5, padding="same", activation=relu, name=f"{name}_b5x5")(b5)
    bp = L.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_bpool")(x)
    bp = L.Conv2D(fp, 1, padding="same", activation=relu, name=f"{name}_bpool_proj")(bp)
    y = L.Concatenate(name=name)([b1, b3, b5, bp])
    y = L.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(y)
    return L.Activation("relu", name=f"{name}_relu")(y)


def emotion_cnn(input_shape: tuple[int, int, int] = EMOTION_INPUT_SHAPE, n_classes: int = N_CLASSES,
                dropout: float = 0.4, name: str = "emotion_cnn") -> tf_keras.Model:
    """The seed-000 emotion CNN: VGG blocks + Inception blocks, ~3.0M parameters, ReLU.

    Structure (48×48×1 in, float32 in [0, 1], see :func:`preprocess`)::

        conv1_1 32 · conv1_2 32 · pool1          48 → 24   (VGG block)
        conv2_1 64 · conv2_2 64 · pool2          24 → 12   (VGG block)
        conv3_1 128 · incept3 (→192) · pool3     12 → 6    (VGG unit + Inception)
        incept4 (→256) · pool4                    6 → 3    (Inception)
        conv5_1 256 · conv5_2 256 · pool5         3 → 2    (VGG block)
        flatten 1024 · dense1 1024 · dense2 512 · predictions n_classes (softmax)

    **How the seed's "9 convolutional, 5 max-pooling, 3 dense" are counted:** the seed
    gives only these totals. We count layers along the network's depth, and an Inception
    module counts as *one* convolutional layer: its four branches (1×1, 1×1→3×3, 1×1→5×5,
    pool→1×1) run in parallel on the same input and are concatenated into one output, so
    the module is one step of depth and one possible cut point. That gives 7 VGG convs
    (``conv1_1 … conv5_2``) + 2 Inception modules = 9 (:data:`CONV_LAYERS`); the 5 pools are
    ``pool1 … pool5`` (the Inception branches' stride-1 pools are part of their module) and
    the 3 dense layers are ``dense1``, ``dense2``, ``predictions``. Counting every Conv2D
    instead gives 7 + 2×6 = 19 kernels; :func:`layer_counts` reports both.

    ``dropout`` is applied after ``dense1`` and ``dense2`` (the tuning sweep varies it).
    Parameter count at the defaults: 3,147,431 (the seed: "approximately 3 million").
    """
    keras = _keras()
    L = keras.layers
    if not 0.0 <= dropout < 1.0:
        raise InputError(f"dropout must be in [0, 1), got {dropout}")
    if n_classes < 2:
        raise InputError(f"n_classes must be ≥ 2, got {n_classes}")
    inp = keras.Input(shape=tuple(input_shape), name="input")
    x = _conv_bn_relu(inp, 32, "conv1_1")
    x = _conv_bn_relu(x, 32, "conv1_2")
    x = L.MaxPooling2D(2, name="pool1")(x)
    x = _conv_bn_relu(x, 64, "conv2_1")
    x = _conv_bn_relu(x, 64, "conv2_2")
    x = L.MaxPooling2D(2, name="pool2")(x)
    x = _conv_bn_relu(x, 128, "conv3_1")
    x = _inception(x, "incept3", f1=64, f3r=64, f3=96, f5r=16, f5=16, fp=16)   # 192 channels
    x = L.MaxPooling2D(2, name="pool3")(x)
    x = _inception(x, "incept4", f1=64, f3r=96, f3=128, f5r=16, f5=32, fp=32)  # 256 channels
    x = L.MaxPooling2D(2, name="pool4")(x)
    x = _conv_bn_relu(x, 256, "conv5_1")
    x = _conv_bn_relu(x, 256, "conv5_2")
    x = L.MaxPooling2D(2, padding="same", name="pool5")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(1024, activation="relu", name="dense1")(x)
    x = L.Dropout(dropout, name="dropout1")(x)
    x = L.Dense(512, activation="relu", name="dense2")(x)
    x = L.Dropout(dropout, name="dropout2")(x)
    out = L.Dense(n_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inp, out, name=name)


def alexnet(input_shape: tuple[int, int, int] = (227, 227, 3), n_classes: int = 1000,
            dropout: float = 0.5, name: str = "alexnet", fc_units: int = 4096) -> tf_keras.Model:
    """AlexNet as seeds 001/003 count it: 62,378,344 parameters at 227×227×3, 1000 classes.

    One tower (no grouped convolutions, as in most re-implementations; grouping would
    drop the count to ~61M) and no local response normalisation (it has no parameters,
    and TF.js' layers API cannot run it): conv1 96@11×11/4 · pool1 · conv2 256@5×5 ·
    pool2 · conv3 384 · conv4 384 · conv5 256 · pool5 · fc6 4096 · fc7 4096 · fc8.
    Used for partition studies (its cost graph), never trained here. ``fc_units`` (4096 in the
    paper) narrows fc6/fc7 for tests that need every layer kind but not 250 MB of weights.
    """
    keras = _keras()
    L = keras.layers
    inp = keras.Input(shape=tuple(input_shape), name="input")
    x = L.Conv2D(96, 11, strides=4, activation="relu", name="conv1")(inp)
    x = L.MaxPooling2D(3, strides=2, name="pool1")(x)
    x = L.Conv2D(256, 5, padding="same", activation="relu", name="conv2")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool2")(x)
    x = L.Conv2D(384, 3, padding="same", activation="relu", name="conv3")(x)
    x = L.Conv2D(384, 3, padding="same", activation="relu", name="conv4")(x)
    x = L.Conv2D(256, 3, padding="same", activation="relu", name="conv5")(x)
    x = L.MaxPooling2D(3, strides=2, name="pool5")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(fc_units, activation="relu", name="fc6")(x)
    x = L.Dropout(dropout, name="drop6")(x)
    x = L.Dense(fc_units, activation="relu", name="fc7")(x)
    x = L.Dropout(dropout, name="drop7")(x)
    out = L.Dense(n_classes, activation="softmax", name="fc8")(x)
    return keras.Model(inp, out, name=name)


def layer_counts(model: tf_keras.Model) -> dict[str, int]:
    """Counts of layer kinds: ``conv_kernels`` (every Conv2D), ``conv`` (seed-style, an
    Inception module once), ``max_pool`` (stride > 1 pools only), ``dense``, ``params``."""
    keras = _keras()
    L = keras.layers
    convs = [l for l in model.layers if isinstance(l, L.Conv2D)]
    modules = {l.name.split("_b")[0] for l in convs if "_b" in l.name}
    plain = [l for l in convs if "_b" not in l.name]
    pools = [l for l in model.layers if isinstance(l, L.MaxPooling2D) and max(l.strides) > 1]
    dense = [l for l in model.layers if isinstance(l, L.Dense)]
    return {"conv": len(plain) + len(modules), "conv_kernels": len(convs), "inception_modules": len(modules),
            "max_pool": len(pools), "dense": len(dense), "params": int(model.count_params())}


def layer_inputs(layer: Any) -> list[Any]:
    """The tensors ``layer`` takes in its first call (node 0: the model's own graph; sub-models
    cut from a model with shared layers add later nodes, which these never see)."""
    x = layer.get_input_at(0)
    return list(x) if isinstance(x, (list, tuple)) else [x]


def layer_outputs(layer: Any) -> list[Any]:
    """The tensors ``layer`` makes in its first call (see :func:`layer_inputs`)."""
    x = layer.get_output_at(0)
    return list(x) if isinstance(x, (list, tuple)) else [x]


def cut_tensors(model: tf_keras.Model) -> dict[str, list[tuple[int, Any]]]:
    """For every layer after which ``model`` can be cut, the tensors that cross that cut.

    Keys: the names of every layer except those making a model output, in ``model.layers``
    order (a topological order). Values: ``(producer index, tensor)`` of each tensor made at or
    before the layer and used after it — or a model output made before it, which travels too —
    ordered by producer. In a chain that is the layer's own output; inside an Inception module
    it is several (the *cut set*). The one graph walk behind :func:`split_points`,
    :func:`chain_cut_points` and :func:`hybridlib.export.split_model`.
    """
    keras = _keras()
    layers = list(model.layers)
    made: dict[int, tuple[int, Any]] = {}  # id(tensor) → (producer index, tensor)
    for j, l in enumerate(layers):
        for t in layer_outputs(l):
            made.setdefault(id(t), (j, t))
    last_use: dict[int, int] = {}  # id(tensor) → index of its last consumer
    for i, l in enumerate(layers):
        if isinstance(l, keras.layers.InputLayer):
            continue
        for t in layer_inputs(l):
            if id(t) in made:
                last_use[id(t)] = max(last_use.get(id(t), -1), i)
    for t in model.outputs:  # an output made before a cut must cross it
        last_use[id(t)] = len(layers)
    out_layers = {made[id(t)][0] for t in model.outputs if id(t) in made}
    return {l.name: sorted(((j, t) for k, (j, t) in made.items() if j <= i < last_use.get(k, -1)),
                           key=lambda jt: jt[0])
            for i, l in enumerate(layers) if i not in out_layers}


def cut_sets(model: tf_keras.Model) -> dict[str, list[str]]:
    """:func:`cut_tensors` by name: cuttable layer → the layers whose outputs cross the cut."""
    layers = model.layers
    return {name: [layers[j].name for j, _ in ts] for name, ts in cut_tensors(model).items()}


def split_points(model: tf_keras.Model) -> list[str]:
    """Every layer after which a head/tail cut is possible: all but input layers and the
    output layer(s). A cut may carry several tensors (:func:`cut_sets`); the one-tensor
    subset is :func:`chain_cut_points`."""
    keras = _keras()
    inputs = {l.name for l in model.layers if isinstance(l, keras.layers.InputLayer)}
    return [name for name in cut_sets(model) if name not in inputs]


def chain_cut_points(model: tf_keras.Model) -> list[str]:
    """Layers (in order) after which the model's whole state is that layer's one output.

    These are the places where a device head can hand a single tensor to a cloud tail
    (inside an Inception module four branch tensors are live at once, so no cut point
    lies there); the input layer counts (cutting there sends the input: cloud-only).
    Computed from the graph (:func:`cut_sets`), so it stays right if the model changes.
    """
    return [name for name, cut in cut_sets(model).items() if cut == [name]]


def summary_table(model: tf_keras.Model) -> list[dict]:
    """One row per layer: name, class, output shape, parameters (for notebooks and docs)."""
    rows = []
    for l in model.layers:
        shape = l.output_shape
        rows.append({"layer": l.name, "type": type(l).__name__,
                     "output_shape": str(shape[1:] if isinstance(shape, tuple) else shape),
                     "params": int(l.count_params())})
    return rows
