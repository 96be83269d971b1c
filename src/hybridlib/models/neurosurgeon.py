"""Neurosurgeon's eight benchmark networks (seed 003), rebuilt from their published architectures.

Neurosurgeon (Kang et al., ASPLOS 2017) partitions a DNN between phone and datacenter at layer
granularity and evaluates it on eight benchmarks (seed 003, "More Applications"):

======  ==========================  =========  ==============  ============
bench   application                 network    input           003 layers
======  ==========================  =========  ==============  ============
IMC     image classification        AlexNet    image           24
VGG     image classification        VGG        image           46
FACE    facial recognition          DeepFace   image           10
DIG     digit recognition           MNIST      image           9
ASR     speech recognition          Kaldi      speech          13
POS     part-of-speech tagging      SENNA      word vectors    3
NER     named entity recognition    SENNA      word vectors    3
CHK     word chunking               SENNA      word vectors    3
======  ==========================  =========  ==============  ============

:data:`NEUROSURGEON` maps each benchmark to a builder and what we know about it. Every network
here is **untrained**: weights are random (seeded by :func:`build`). Per-layer latency, data
sizes at each cut and TF.js download sizes do not depend on the weights, and those are what a
partitioning study needs; accuracy is not studied with these models (``trained: False``).

All are tf_keras functional models made only of layers that TF.js 4.22's layers API runs (so any
head can run in a browser page), with two documented exceptions handled by formulation rather
than by unsupported layers: DeepFace's locally connected layers (TF.js has no
``LocallyConnected2D``; see :func:`deepface`) and SENNA's HardTanh (no Lambda layers; see
:func:`senna`). Layer counts: 003 counts Caffe layers (every ReLU, dropout, softmax and a final
argmax is a layer); Keras fuses activations into Conv2D/Dense, so ``len(model.layers)`` is
smaller — each registry entry's ``layers_note`` says how 003's number decomposes.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridlib.models.networks import alexnet
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

#: VGG's convolution widths per block; ``depth`` 16 has (2, 2, 3, 3, 3) convs per block, 19 has (2, 2, 4, 4, 4).
VGG_BLOCKS: dict[int, tuple[int, ...]] = {16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}
VGG_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 512)
#: SENNA's output sizes: 45 Penn Treebank POS tags; NER: CoNLL-2003's 4 entity types in IOBES (4×4+1);
#: CHK: CoNLL-2000 chunk tags in IOBES, 42 as we recall SENNA's list (not checked against it: ``n_tags``).
SENNA_TAGS: dict[str, int] = {"pos": 45, "chk": 42, "ner": 17}


def _keras():
    import tf_keras as keras

    return keras


def vgg(depth: int = 16, input_shape: tuple[int, int, int] = (224, 224, 3), n_classes: int = 1000,
        dropout: float = 0.5, name: str | None = None) -> tf_keras.Model:
    """VGG-16 (default) or VGG-19 (Simonyan & Zisserman 2015), untrained.

    Blocks of 3×3 same convolutions + ReLU, each block closed by a 2×2/2 max pool (names
    ``conv1_1 … conv5_3``, ``pool1 … pool5``, as in the Caffe model), then ``fc6`` 4096 ·
    ``drop6`` · ``fc7`` 4096 · ``drop7`` · ``fc8`` (softmax). VGG-16 at 224×224×3, 1000 classes:
    **138,357,544 parameters** — 14,714,688 (10.6 %) in the 13 convolutions, 123,642,856 in the
    three fully connected layers. VGG-19: 143,667,240.

    What a phone page could run: the full fp32 model is 553 MB of weights (277 MB float16,
    138 MB uint8) — too much to download per session. The convolutional head alone
    (``input … pool5``) is 58.9 MB fp32 / 14.7 MB uint8 of weights, and its output (7×7×512 =
    100 KB fp32) is smaller than a 224×224×3 float input (602 KB), so a head-only download in
    uint8 storage with the cut at ``pool5`` and the 124M-parameter classifier in the cloud is the
    realistic browser split; the head's ~15.3 G multiply-adds are then the phone's cost. Tests
    never export the full model to TF.js.

    Seed 003 reports 46 layers for VGG: that is the Caffe count of **VGG-19** (16 conv + 18 ReLU +
    5 pool + 3 fc + 2 dropout + softmax + argmax); VGG-16 counted the same way has 40. Pass
    ``depth=19`` for that network.
    """
    keras = _keras()
    L = keras.layers
    if depth not in VGG_BLOCKS:
        raise InputError(f"VGG depth must be one of {sorted(VGG_BLOCKS)}, got {depth}")
    inp = keras.Input(shape=tuple(input_shape), name="input")
    x = inp
    for b, (n, width) in enumerate(zip(VGG_BLOCKS[depth], VGG_WIDTHS), start=1):
        for i in range(1, n + 1):
            x = L.Conv2D(width, 3, padding="same", activation="relu", name=f"conv{b}_{i}")(x)
        x = L.MaxPooling2D(2, strides=2, name=f"pool{b}")(x)
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(4096, activation="relu", name="fc6")(x)
    x = L.Dropout(dropout, name="drop6")(x)
    x = L.Dense(4096, activation="relu", name="fc7")(x)
    x = L.Dropout(dropout, name="drop7")(x)
    out = L.Dense(n_classes, activation="softmax", name="fc8")(x)
    return keras.Model(inp, out, name=name or f"vgg{depth}")


def vgg16_param_count(input_shape: tuple[int, int, int] = (224, 224, 3), n_classes: int = 1000,
                      depth: int = 16) -> int:
    """VGG's parameter count, computed without building it (138,357,544 for VGG-16 at 224×224×3).

    Building VGG-16 allocates and initialises 553 MB, which takes seconds; tests and notebooks
    that only need the number use this (and a test checks it against the built model once).
    """
    h, w, c = input_shape
    total = 0
    for n, width in zip(VGG_BLOCKS[depth], VGG_WIDTHS):
        for _ in range(n):
            total += 9 * c * width + width
            c = width
        h, w = h // 2, w // 2
    for fan_in, fan_out in ((h * w * c, 4096), (4096, 4096), (4096, n_classes)):
        total += fan_in * fan_out + fan_out
    return total


def deepface(input_shape: tuple[int, int, int] = (152, 152, 3), n_classes: int = 4030, dropout: float = 0.5,
             local: str = "conv", name: str = "deepface", fc_units: int = 4096) -> tf_keras.Model:
    """DeepFace (Taigman et al., CVPR 2014), untrained, on 152×152×3 aligned RGB faces.

    ``c1`` conv 32@11×11 → ``m2`` max pool 3×3/2 → ``c3`` conv 16@9×9 → ``l4`` local 16@9×9 →
    ``l5`` local 16@7×7 stride 2 → ``l6`` local 16@5×5 → ``f7`` fc 4096 (dropout) → ``f8`` fc
    ``n_classes`` softmax (4030 identities in the paper); ReLU after every layer but ``f8``.
    Feature maps 142² · 71² · 63² · 55² · 25² · 21² (×16 = 7056 into ``f7``).

    **Locally connected layers (divergence).** ``l4``–``l6`` apply a different filter bank at
    every output position. tensorflowjs 4.22 writes a ``LocallyConnected2D`` into model.json,
    but TF.js 4.22's layers API has no such class, so the page cannot load it. ``local="conv"``
    (default, runnable everywhere) uses a Conv2D with the same kernel, stride, filters and
    output shape: the same multiply-adds per position (e.g. ``l4``: 55²×9²×16×16 = 62.7 M) but
    weights shared across positions, so 20,752 instead of 62,774,800 parameters in ``l4`` and
    the model has **45,509,246** parameters instead of **118,923,774** (the paper: "more than
    120 million"). Latency models should charge ``l4``–``l6`` the unshared weights' memory
    traffic (251 MB for ``l4`` in fp32), and download sizes should use the local count.
    ``local="locally_connected"`` builds the true layers (Keras only, for counts and Python
    profiling). 003 reports 10 layers: our reading is the 8 layers above + softmax + argmax
    (ReLUs fused; a hypothesis, 003 does not break the count down). ``fc_units`` (4096) narrows
    ``f7`` for tests that need every layer kind but not 180 MB of weights.
    """
    keras = _keras()
    L = keras.layers
    if local not in ("conv", "locally_connected"):
        raise InputError(f"local must be 'conv' or 'locally_connected', got {local!r}")

    def loc(x, filters: int, k: int, stride: int, lname: str):
        if local == "conv":
            return L.Conv2D(filters, k, strides=stride, activation="relu", name=lname)(x)
        return L.LocallyConnected2D(filters, k, strides=stride, activation="relu", name=lname)(x)

    inp = keras.Input(shape=tuple(input_shape), name="input")
    x = L.Conv2D(32, 11, activation="relu", name="c1")(inp)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="m2")(x)
    x = L.Conv2D(16, 9, activation="relu", name="c3")(x)
    x = loc(x, 16, 9, 1, "l4")
    x = loc(x, 16, 7, 2, "l5")
    x = loc(x, 16, 5, 1, "l6")
    x = L.Flatten(name="flatten")(x)
    x = L.Dense(fc_units, activation="relu", name="f7")(x)
    x = L.Dropout(dropout, name="drop7")(x)
    out = L.Dense(n_classes, activation="softmax", name="f8")(x)
    return keras.Model(inp, out, name=name)


def lenet(variant: str = "caffe", n_classes: int = 10, name: str | None = None) -> tf_keras.Model:
    """A LeNet for MNIST digits (DIG), untrained; float32 pixels in [0, 1].

    ``variant="caffe"`` (default; the DIG benchmark): Caffe's MNIST LeNet, which Neurosurgeon's
    Caffe-based benchmarks ran: 28×28×1 → ``conv1`` 20@5×5 → ``pool1`` 2×2/2 → ``conv2``
    50@5×5 → ``pool2`` → ``ip1`` 500 ReLU → ``ip2`` softmax. No activation after the
    convolutions (as in Caffe's prototxt). **431,080 parameters.** Its Caffe layer count
    (conv1 pool1 conv2 pool2 ip1 relu1 ip2 softmax + argmax) is 003's 9.

    ``variant="lenet5"``: LeCun et al. 1998's LeNet-5 on 32×32×1 (MNIST padded by 2): C1 6@5×5
    tanh → S2 avg 2×2 → C3 16@5×5 tanh → S4 → C5 120 → F6 84 tanh → 10 softmax, **61,706
    parameters**. Divergences from 1998: C3 sees all 6 maps (the paper's sparse table gives
    1,516 weights, not 2,416), plain average pooling (no trainable subsampling gain), softmax
    instead of the RBF output.
    """
    keras = _keras()
    L = keras.layers
    if variant == "caffe":
        inp = keras.Input(shape=(28, 28, 1), name="input")
        x = L.Conv2D(20, 5, name="conv1")(inp)
        x = L.MaxPooling2D(2, strides=2, name="pool1")(x)
        x = L.Conv2D(50, 5, name="conv2")(x)
        x = L.MaxPooling2D(2, strides=2, name="pool2")(x)
        x = L.Flatten(name="flatten")(x)
        x = L.Dense(500, activation="relu", name="ip1")(x)
        out = L.Dense(n_classes, activation="softmax", name="ip2")(x)
    elif variant == "lenet5":
        inp = keras.Input(shape=(32, 32, 1), name="input")
        x = L.Conv2D(6, 5, activation="tanh", name="c1")(inp)
        x = L.AveragePooling2D(2, name="s2")(x)
        x = L.Conv2D(16, 5, activation="tanh", name="c3")(x)
        x = L.AveragePooling2D(2, name="s4")(x)
        x = L.Flatten(name="flatten")(x)
        x = L.Dense(120, activation="tanh", name="c5")(x)
        x = L.Dense(84, activation="tanh", name="f6")(x)
        out = L.Dense(n_classes, activation="softmax", name="output")(x)
    else:
        raise InputError(f"LeNet variant must be 'caffe' or 'lenet5', got {variant!r}")
    return keras.Model(inp, out, name=name or f"lenet_{variant}")


def kaldi_dnn(frames: int = 11, n_filterbanks: int = 40, hidden: int = 2048, n_hidden: int = 5,
              n_senones: int = 3000, activation: str = "sigmoid", name: str = "kaldi_dnn") -> tf_keras.Model:
    """A Kaldi-style hybrid DNN–HMM acoustic model (ASR), untrained.

    Input: ``frames`` spliced frames of ``n_filterbanks`` log-mel filterbanks (11 × 40: the
    current frame ± 5, Kaldi nnet1's ``--splice=5``), shape ``N×11×40``; ``splice`` flattens
    them to 440. Then ``n_hidden`` fully connected layers ``fc1 …`` of ``hidden`` units with
    ``activation`` (Kaldi's nnet1 recipe: sigmoid, 2048 units) and ``senones`` softmax: the
    posteriors of the tied HMM states the decoder consumes. At the defaults **23,835,576
    parameters** (94 MB fp32). The number of senones depends on the corpus' decision tree
    (about 2k for TIMIT to 9k for Switchboard); 3000 is a mid value.

    003's 13 layers = 5 × (fc + sigmoid) + output fc + softmax + argmax, hence 5 hidden layers
    by default (Kaldi's nnet1 recipe uses 6 on larger corpora: ``n_hidden=6``).
    """
    keras = _keras()
    L = keras.layers
    if n_hidden < 1:
        raise InputError(f"n_hidden must be ≥ 1, got {n_hidden}")
    inp = keras.Input(shape=(frames, n_filterbanks), name="input")
    x = L.Flatten(name="splice")(inp)
    for i in range(1, n_hidden + 1):
        x = L.Dense(hidden, activation=activation, name=f"fc{i}")(x)
    out = L.Dense(n_senones, activation="softmax", name="senones")(x)
    return keras.Model(inp, out, name=name)


def senna(task: str = "pos", window: int = 5, vocab: int = 100_000, word_dim: int = 50,
          features: tuple[tuple[int, int], ...] = ((5, 5),), hidden: int = 300, n_tags: int | None = None,
          name: str | None = None) -> tf_keras.Model:
    """SENNA's window-approach tagger (Collobert et al., JMLR 2011) for ``task`` pos|chk|ner, untrained.

    Input: ``N×window×(1 + len(features))`` float32 **integer ids**: column 0 the word's index
    in a ``vocab``-word dictionary, then one column per discrete feature (default: the 5-valued
    capitalisation feature). Lookup tables ``words`` (``vocab×word_dim``) and ``feat1 …``
    (``values×dim``) embed each word of the window; ``lookup`` concatenates them, ``window``
    flattens (5 × 55 = 275), ``fc1`` 300 → ``htanh`` → ``fc3`` linear tag scores (POS 45,
    CHK 42, NER 17; :data:`SENNA_TAGS`). POS at the defaults: **5,096,370 parameters**, 98 %
    in the word table. Each task is its own network (own tables), as in SENNA.

    Written for TF.js' layers API: the id columns are separated with Reshape + Cropping2D (no
    Lambda layers, which do not convert), and TF.js' Embedding casts float ids to int32 like
    Keras does (exact below 2²⁴). HardTanh(z) = clip(z, −1, 1) is written as
    ``ReLU(max_value=2)`` of a shifted pre-activation: ``fc1`` computes z + 1 (its bias holds
    the +1), ``htanh`` gives min(max(z + 1, 0), 2) = HardTanh(z) + 1, and ``fc3``'s bias holds
    the −1 (V(h + 1) + c' = Vh + c with c' = c − V·1). Same function, parameter count and
    per-layer cost as SENNA; the tensor after ``htanh`` lies in [0, 2] instead of [−1, 1].

    003 counts 3 layers (fc1, HardTanh, fc3) with "word vectors" as input: its ``input`` cut
    corresponds to our cut after ``window``. Divergences: SENNA v3 also feeds a task feature
    (POS: suffixes, CHK: POS tags, NER: gazetteers) and uses a 130k-word dictionary; pass
    ``features``/``vocab`` to add them (defaults follow the 2011 paper's basic setup).
    """
    keras = _keras()
    L = keras.layers
    if task not in SENNA_TAGS:
        raise InputError(f"SENNA task must be one of {sorted(SENNA_TAGS)}, got {task!r}")
    cols = 1 + len(features)
    tables = [("words", vocab, word_dim)] + [(f"feat{i}", v, d) for i, (v, d) in enumerate(features, start=1)]
    inp = keras.Input(shape=(window, cols), name="input")
    ids = L.Reshape((window, cols, 1), name="ids")(inp)
    embedded = []
    for c, (tname, values, dim) in enumerate(tables):
        col = L.Cropping2D(((0, 0), (c, cols - 1 - c)), name=f"{tname}_ids")(ids)
        col = L.Reshape((window,), name=f"{tname}_col")(col)
        embedded.append(L.Embedding(values, dim, name=tname)(col))
    x = L.Concatenate(name="lookup")(embedded) if len(embedded) > 1 else embedded[0]
    x = L.Flatten(name="window")(x)
    x = L.Dense(hidden, bias_initializer="ones", name="fc1")(x)  # z + 1: see the docstring
    x = L.ReLU(max_value=2.0, name="htanh")(x)  # HardTanh(z) + 1
    out = L.Dense(n_tags or SENNA_TAGS[task], name="fc3")(x)
    return keras.Model(inp, out, name=name or f"senna_{task}")


@dataclass(frozen=True)
class Benchmark:
    """One of 003's benchmarks: how to build its network and how it relates to the paper."""

    benchmark: str
    network: str
    application: str
    input: str  # 003's "Input" column
    builder: Callable[..., Any]
    layers_003: int  # the layer count 003 reports
    layers_note: str  # how that count decomposes (Caffe layers) vs ours
    divergence: str = ""  # where ours differs from the published network, and why
    trained: bool = False  # always False: random weights (latency and sizes only)
    kwargs: dict[str, Any] = field(default_factory=dict)

    def build(self, seed: int = 0, **overrides: Any) -> tf_keras.Model:
        """The network with seeded random weights (``overrides`` go to the builder)."""
        _keras().utils.set_random_seed(seed)
        return self.builder(**{**self.kwargs, **overrides})


_SENNA_NOTE = ("fc1 + HardTanh + fc3 = 3; 003's input is the window of word vectors, so the lookup "
               "tables precede its layer 1")
_SENNA_DIV = ("HardTanh as ReLU(max_value=2) of z+1 (biases shifted, same function); ids split with "
              "Cropping2D; word + caps tables only (SENNA v3 adds a task feature and 130k words)")

#: Benchmark → network (seed 003, "More Applications"), each buildable with seeded random weights.
NEUROSURGEON: dict[str, Benchmark] = {
    "IMC": Benchmark("IMC", "AlexNet", "image classification", "image", alexnet, 24,
                     "Caffe: 5 conv + 7 ReLU + 2 LRN + 3 pool + 3 fc + 2 dropout + softmax + argmax = 24",
                     "no local response normalisation (TF.js cannot run it; no parameters) and one "
                     "tower (no grouped convs): 22 of the 24 Caffe layers, 62,378,344 parameters"),
    "VGG": Benchmark("VGG", "VGG-16", "image classification", "image", vgg, 46,
                     "VGG-16 counted like Caffe gives 40 (13 conv + 15 ReLU + 5 pool + 3 fc + 2 dropout "
                     "+ softmax + argmax); 46 is VGG-19's count (build with depth=19)",
                     "VGG-16 as briefed (138,357,544 params); 003's 46 layers match VGG-19", kwargs={"depth": 16}),
    "FACE": Benchmark("FACE", "DeepFace", "facial recognition", "image", deepface, 10,
                      "C1 M2 C3 L4 L5 L6 F7 F8 + softmax + argmax = 10 (ReLUs fused; our reading)",
                      "L4–L6 locally connected layers built as Conv2D with the same kernel, stride and "
                      "output shape (TF.js 4.22 has no LocallyConnected2D): same multiply-adds per "
                      "position, 45,509,246 instead of 118,923,774 parameters"),
    "DIG": Benchmark("DIG", "LeNet (Caffe MNIST)", "digit recognition", "image", lenet, 9,
                     "conv1 pool1 conv2 pool2 ip1 relu1 ip2 softmax + argmax = 9",
                     "none in the layers; pixels arrive scaled to [0, 1] (Caffe's data layer scales by "
                     "1/256 inside the net)", kwargs={"variant": "caffe"}),
    "ASR": Benchmark("ASR", "Kaldi DNN", "speech recognition", "speech", kaldi_dnn, 13,
                     "5 × (fc + sigmoid) + fc + softmax + argmax = 13",
                     "senone count (3000) and filterbank input (11×40) are typical Kaldi values, not 003's"),
    "POS": Benchmark("POS", "SENNA", "part-of-speech tagging", "word vectors", senna, 3, _SENNA_NOTE,
                     _SENNA_DIV, kwargs={"task": "pos"}),
    "NER": Benchmark("NER", "SENNA", "named entity recognition", "word vectors", senna, 3, _SENNA_NOTE,
                     _SENNA_DIV, kwargs={"task": "ner"}),
    "CHK": Benchmark("CHK", "SENNA", "word chunking", "word vectors", senna, 3, _SENNA_NOTE,
                     _SENNA_DIV, kwargs={"task": "chk"}),
}


def build(benchmark: str, seed: int = 0, **overrides: Any) -> tf_keras.Model:
    """:data:`NEUROSURGEON` ``[benchmark].build(seed, **overrides)``, with a helpful error."""
    key = benchmark.upper()
    if key not in NEUROSURGEON:
        raise InputError(f"unknown Neurosurgeon benchmark {benchmark!r}; known: {', '.join(NEUROSURGEON)}")
    return NEUROSURGEON[key].build(seed, **overrides)


def sample_input(model: tf_keras.Model, n: int = 2, seed: int = 0) -> np.ndarray:
    """``n`` valid random inputs for ``model``: pixels/features in [0, 1), or, for SENNA, integer
    ids (as float32) within each lookup table's size, column by column (for parity and profiling)."""
    rng = np.random.default_rng(seed)
    shape = (n, *(int(d) for d in model.inputs[0].shape[1:]))
    tables = [l for l in model.layers if type(l).__name__ == "Embedding"]
    if not tables:
        return rng.random(shape, dtype=np.float32)
    if len(tables) != shape[-1]:
        raise InputError(f"{model.name}: {len(tables)} lookup tables for {shape[-1]} id columns")
    cols = [rng.integers(0, t.input_dim, shape[:-1]) for t in tables]
    return np.stack(cols, axis=-1).astype(np.float32)


__all__ = ["NEUROSURGEON", "SENNA_TAGS", "VGG_BLOCKS", "Benchmark", "build", "deepface", "kaldi_dnn", "lenet",
           "sample_input", "senna", "vgg", "vgg16_param_count"]
