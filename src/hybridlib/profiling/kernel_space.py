"""The kernel space: which fused kernel types exist, how a kernel's configuration is described,
the size ranges each network family draws from, and the sides a kernel can be timed on.

Why its own module: the native-TF corpus (:mod:`.kernels`) and the browser corpus
(:mod:`.kernels_tfjs`) describe kernels in the same words, and neither should import the other
for that.
"""
from __future__ import annotations

from typing import Any

#: kernel types :func:`detect_kernels` emits and the corpus can build
KERNEL_TYPES = ("conv-bn-relu", "conv-bn", "conv-relu", "conv", "fc-relu", "fc", "maxpool", "avgpool",
                "global-avgpool", "bn-relu", "bn", "relu", "concat", "add-relu", "add")
#: the kernel types the emotion CNN and AlexNet contain: the default corpus draws these
CORPUS_TYPES = ("conv-bn-relu", "conv-relu", "fc-relu", "fc", "maxpool", "concat", "bn-relu")
#: size ranges of a network family: maps (px), channels, conv kernels/strides, dense sizes
FAMILIES: dict[str, dict[str, Any]] = {
    "emotion": {"hw": (2, 48), "c": (1, 256), "k": (1, 3, 5), "s": (1,), "pool": ((2, 2), (3, 1)),
                "fc_in": (256, 2048), "fc_out": (7, 1024), "max_elems": 150_000, "max_flops": 2e8},
    "alexnet": {"hw": (6, 227), "c": (3, 384), "k": (3, 5, 11), "s": (1, 1, 4), "pool": ((3, 2),),
                "fc_in": (1000, 9216), "fc_out": (1000, 4096), "max_elems": 600_000, "max_flops": 2.5e9},
    "wide": {"hw": (2, 227), "c": (1, 384), "k": (1, 3, 5, 11), "s": (1, 1, 2, 4), "pool": ((2, 2), (3, 1), (3, 2)),
             "fc_in": (256, 9216), "fc_out": (7, 4096), "max_elems": 600_000, "max_flops": 2.5e9},
}
#: the network each family is drawn around
FAMILY_NETWORK = {"emotion": "emotion_cnn", "alexnet": "alexnet"}
CONFIG_FIELDS = ("kernel_type", "h", "w", "c_in", "c_out", "kernel", "stride", "padding", "n_inputs")
#: where kernels can be timed: TF 1 thread (a device core), TF all cores (the cloud), TF.js
#: wasm in CPU-throttled Chromium (a phone's browser; :mod:`.kernels_tfjs`)
SIDES = ("device", "cloud", "browser")
DEFAULT_SIDES = ("device", "cloud")
