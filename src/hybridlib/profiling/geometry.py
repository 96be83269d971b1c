"""Sizes, FLOPs, parameters and bytes moved of a layer or kernel configuration.

Why one module: the per-layer predictor (:mod:`.predict`, Neurosurgeon's layer types ``conv``,
``pool``, ``dense``, ``activation``, ``norm``) and the per-kernel one (:mod:`.kpredict`, fused
kernel types of :data:`hybridlib.profiling.kernel_space.KERNEL_TYPES`) learn from the same
quantities — latency follows the FLOPs (a *product* of sizes) and the memory traffic — so both
read them from :func:`derived`. A layer configuration is the kernel of its one layer
(:data:`LAYER_KERNELS`: ``conv`` → ``conv``, ``dense`` → ``fc``, …; ``filters``/``units`` are
its output channels), so there is one set of formulas, and a dense layer's FLOPs count its
bias add as a fully connected kernel's do.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from hybridlib.utils import InputError

#: a per-layer predictor type → the fused kernel type of that one layer
LAYER_KERNELS = {"conv": "conv", "pool": "maxpool", "dense": "fc", "activation": "relu", "norm": "bn"}


def column(df: pd.DataFrame, col: str, default: float) -> np.ndarray:
    """``df[col]`` as floats, missing values (or a missing column) read as ``default``."""
    if col not in df:
        return np.full(len(df), default, float)
    return df[col].fillna(default).to_numpy(float)


def kernel_types(df: pd.DataFrame) -> np.ndarray:
    """The kernel type of every row: its ``kernel_type``, or its layer ``type`` mapped by
    :data:`LAYER_KERNELS`."""
    if "kernel_type" in df:
        return df["kernel_type"].astype(str).to_numpy()
    if "type" not in df:
        raise InputError("configurations need a 'kernel_type' (kernel) or 'type' (layer) column")
    bad = sorted(set(df["type"]) - set(LAYER_KERNELS))
    if bad:
        raise InputError(f"unknown layer type(s) {', '.join(map(repr, bad))}; known: {', '.join(LAYER_KERNELS)}")
    return df["type"].map(LAYER_KERNELS).astype(str).to_numpy()


def output_channels(df: pd.DataFrame, t: np.ndarray) -> np.ndarray:
    """Output channels: ``c_out`` of a kernel; ``filters`` of a conv layer, ``units`` of a dense
    layer, ``c_in`` of every other layer."""
    if "kernel_type" in df or "c_out" in df:
        return column(df, "c_out", 1)
    ci = column(df, "c_in", 1)
    return np.select([t == "conv", t == "fc"], [column(df, "filters", 0), column(df, "units", 0)], ci)


def derived(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with output size, FLOPs, parameters and bytes moved (float32) added.

    Columns added: ``out_h``, ``out_w``, ``out_size``, ``in_size`` (elements), ``flops``,
    ``params`` (also as ``weights``), ``in_bytes``, ``out_bytes``, ``weight_bytes``, ``bytes``
    and ``intensity`` (FLOPs per byte moved: compute- vs memory-bound). A fused BN adds 2 FLOPs
    and a fused ReLU 1 per output element of a convolution or an elementwise kernel; a fully
    connected kernel counts its multiply-adds and bias (its activation is noise beside them).
    """
    d = df.copy()
    t = kernel_types(df)
    h, w = column(d, "h", 1), column(d, "w", 1)
    ci, co = column(d, "c_in", 1), output_channels(d, t)
    k, s = column(d, "kernel", 1), np.maximum(column(d, "stride", 1), 1)
    same = (d["padding"].astype(str) == "same").to_numpy() if "padding" in d else np.ones(len(d), bool)
    spatial = np.array([x.startswith("conv") or x in ("maxpool", "avgpool") for x in t], bool)
    conv = np.char.startswith(t.astype(str), "conv")
    fc = np.char.startswith(t.astype(str), "fc")
    n_bn = np.char.count(t.astype(str), "bn")
    ho = np.where(spatial, np.where(same, np.ceil(h / s), np.floor((h - k) / s) + 1), h)
    wo = np.where(spatial, np.where(same, np.ceil(w / s), np.floor((w - k) / s) + 1), w)
    ho = np.where(t == "global-avgpool", 1, np.maximum(ho, 1))
    wo = np.where(t == "global-avgpool", 1, np.maximum(wo, 1))
    out = np.where(fc, co, ho * wo * co)
    extra = out * (n_bn * 2 + np.char.count(t.astype(str), "relu"))
    flops = np.select([conv, fc, np.isin(t, ["maxpool", "avgpool"])],
                      [2 * out * k * k * ci + extra, 2 * ci * co + co, out * k * k],
                      default=h * w * ci + extra)
    params = np.select([conv, fc, np.char.startswith(t.astype(str), "bn")],
                       [k * k * ci * co + co + np.where(n_bn > 0, 4 * co, 0), ci * co + co, 4 * ci], 0)
    d["out_h"], d["out_w"], d["out_size"], d["in_size"] = ho, wo, out, h * w * ci
    d["flops"], d["params"] = flops.astype(float), params.astype(float)
    d["weights"] = d["params"]
    d["in_bytes"], d["out_bytes"], d["weight_bytes"] = 4.0 * h * w * ci, 4.0 * out, 4.0 * params
    d["bytes"] = d["in_bytes"] + d["out_bytes"] + d["weight_bytes"]
    d["intensity"] = d["flops"] / d["bytes"]
    return d
