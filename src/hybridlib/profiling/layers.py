"""Per-layer latency, output size and device energy of a Keras model in native TensorFlow.

Neurosurgeon profiles each layer once on the device and in the cloud, then decides on the
cached costs (never re-run the model for every candidate cut). Here:

* **device (TF)** = TensorFlow restricted to one thread (``intra_op = inter_op = 1``), a
  stand-in for a phone's CPU core; **cloud** = TensorFlow with all cores of this machine.
  Thread counts are fixed when TF initialises, so each side runs in its own spawned process
  (:func:`hybridlib.profiling.timing.run_in_worker`).
* Each layer is timed alone on the activations it sees in the real model (one forward pass
  records them), wrapped in a ``tf.function`` so Python overhead is small: ``warmup``
  untimed calls, then the **median** of ``repeats``, interleaved with the other layers.
* the fixed cost of a ``tf.function`` call (timed on an identity) is subtracted from each
  layer (``ms``; the raw median is ``ms_raw``), else 50 tiny layers add up to a phantom
  whole-model time several times the real one.
* the whole model and two prefix sub-models are timed in the same rounds, so the profile
  adds up (:mod:`.reconcile`).
* ``out_bytes`` = float32 size of the layer's output (batch 1).
* **energy**: there is no power meter here. Device energy is a *model*
  (:class:`PowerModel`): ``device_mj = device_ms × active_w`` with ``active_w`` = 2.0 W by
  default, the order of a mobile SoC's CPU cluster under load (Neurosurgeon measured its
  Tegra K1 board with a Watts Up? meter; ARM Cortex-A15 clusters draw ~1–2.5 W). Radio energy
  is in the network model of :mod:`hybridlib.partition`. Every table says
  ``energy_source = "model"``.
"""
from __future__ import annotations

import os
import platform
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hybridlib import models
from hybridlib.models.artifacts import load_model
from hybridlib.profiling.reconcile import apply_reconciliation, probe_cuts, single_cuts
from hybridlib.profiling.timing import round_robin, run_in_worker
from hybridlib.utils import InputError, package_versions

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

SIDES = ("device", "cloud")
MODELS = ("emotion_cnn", "alexnet")


@dataclass(frozen=True)
class PowerModel:
    """Device power while computing (W); W·ms = mJ. An assumption, not a measurement."""

    active_w: float = 2.0
    source: str = ("assumed mobile CPU-cluster power under load (no power meter here); "
                   "order of Neurosurgeon's Tegra K1 / ARM Cortex-A15 measurements")

    def energy_mj(self, ms: float) -> float:
        return ms * self.active_w


@dataclass(frozen=True)
class ProfileSpec:
    """What to profile and how: a model builder name or an ``.h5`` path, threads, repeats."""

    model: str
    threads: int
    repeats: int = 5
    warmup: int = 2
    batch: int = 1

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise InputError(f"threads must be ≥ 0 (0 = all cores), got {self.threads}")
        if self.repeats < 1:
            raise InputError(f"repeats must be ≥ 1, got {self.repeats}")
        if self.warmup < 0:
            raise InputError(f"warmup must be ≥ 0, got {self.warmup}")


def build_model(model: str) -> tf_keras.Model:
    """The Keras model to profile: a builder name (:data:`MODELS`) or an ``.h5`` file."""
    if model == "emotion_cnn":
        return models.emotion_cnn()
    if model == "alexnet":
        return models.alexnet()
    p = Path(model)
    if p.suffix == ".h5":
        return load_model(p)
    raise InputError(f"unknown model {model!r}: give emotion_cnn, alexnet or a .h5 path")


def inbound_names(layer: Any) -> list[str]:
    """Names of the layers feeding ``layer`` (its first inbound node)."""
    node = layer._inbound_nodes[0]
    il = node.inbound_layers
    return [l.name for l in (il if isinstance(il, (list, tuple)) else [il])]


def time_model_layers(model: tf_keras.Model, repeats: int = 5, warmup: int = 2, batch: int = 1,
                      seed: int = 0) -> list[dict[str, Any]]:
    """Per-layer median latency of ``model`` in this process (its thread settings apply)."""
    import tensorflow as tf
    import tf_keras as keras

    names = [l.name for l in model.layers]
    probe = keras.Model(model.inputs, [l.output for l in model.layers])
    rng = np.random.default_rng(seed)
    shape = (batch, *model.inputs[0].shape[1:])
    x = rng.random(shape, dtype=np.float32)
    acts = dict(zip(names, probe(x, training=False)))
    # the fixed cost of calling a tf.function at all (measured on an identity), subtracted
    # from every layer so that 50 tiny layers do not add up to a phantom 20 ms
    ident = tf.function(lambda a: tf.identity(a))
    fns: list[Callable[[], Any]] = [lambda: ident(x)]
    whole = tf.function(lambda a: model(a, training=False))
    fns.append(lambda: whole(x))
    rows = []
    for i, layer in enumerate(model.layers):
        out_shape = tuple(int(d) for d in acts[layer.name].shape[1:])
        row = {"layer": layer.name, "type": type(layer).__name__, "index": i,
               "inputs": [] if isinstance(layer, keras.layers.InputLayer) else inbound_names(layer),
               "out_shape": list(out_shape), "out_bytes": int(np.prod(out_shape)) * 4,
               "params": int(layer.count_params()), "_fn": None}
        if not isinstance(layer, keras.layers.InputLayer):
            args = [acts[n] for n in row["inputs"]]
            arg = args[0] if len(args) == 1 else args
            fn = tf.function(lambda a, _l=layer: _l(a, training=False))
            row["_fn"] = len(fns)
            fns.append(lambda _f=fn, _a=arg: _f(_a))
        rows.append(row)
    # prefix sub-models (heads) at interior single-tensor cuts: they tell a per-layer
    # dispatch cost from a per-inference fixed one (see reconcile)
    cuts = single_cuts([(r["layer"], r["inputs"]) for r in rows])
    probes = probe_cuts(cuts, names)
    probe_fn: dict[str, int] = {}
    for name in probes:
        head = keras.Model(model.inputs, model.get_layer(name).output)
        hf = tf.function(lambda a, _h=head: _h(a, training=False))
        probe_fn[name] = len(fns)
        fns.append(lambda _f=hf: _f(x))
    times = round_robin(fns, repeats, warmup)
    overhead = statistics.median(times[0])
    model_ms = statistics.median(times[1])
    for row in rows:
        k = row.pop("_fn")
        if k is None:
            row.update(ms=0.0, ms_raw=0.0, ms_min=0.0, ms_all=[0.0])
        else:
            ts = times[k]
            ms = statistics.median(ts)
            row.update(ms=max(ms - overhead, 0.0), ms_raw=ms, ms_min=min(ts), ms_all=ts)
        row["model_ms"] = model_ms
        row["call_overhead_ms"] = overhead
    probe_k = [(names.index(p), statistics.median(times[probe_fn[p]])) for p in probes]
    apply_reconciliation(rows, model_ms, probe_k)
    return rows


def profile_worker(spec: ProfileSpec) -> list[dict[str, Any]]:
    """Worker (:func:`run_in_worker`): :func:`time_model_layers` of ``spec``'s model."""
    model = build_model(spec.model)
    rows = time_model_layers(model, spec.repeats, spec.warmup, spec.batch)
    for r in rows:
        r["model"] = model.name
    return rows


def provenance(side: str, backend: str, threads: int, repeats: int, warmup: int) -> dict[str, Any]:
    """What every profile row carries about how it was taken (side, backend, threads, host, versions)."""
    v = package_versions(("tensorflow", "tf_keras"))
    return {"side": side, "backend": backend, "threads": threads or os.cpu_count(),
            "repeats": repeats, "warmup": warmup, "host": platform.node(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "tensorflow": v.get("tensorflow"), "energy_source": "model"}


def profile_model(model: str, repeats: int = 5, warmup: int = 2, sides: Sequence[str] = SIDES,
                  power: PowerModel = PowerModel(), progress: bool = True) -> pd.DataFrame:
    """Tidy per-layer profile of ``model`` (builder name or .h5) on the TF device and cloud sides.

    Columns: model, side, backend, threads, layer, type, index, inputs, out_shape,
    out_bytes, params, ms (median), ms_all, model_ms, energy_mj (device side only), plus
    provenance (repeats, warmup, host, cpu, tensorflow, energy_source).
    """

    for s in sides:
        if s not in SIDES:
            raise InputError(f"unknown side {s!r}; choose from {', '.join(SIDES)}")
    if model not in MODELS and not Path(model).is_file():
        raise InputError(f"model {model!r} is neither {' nor '.join(MODELS)} nor an existing .h5 file")
    frames = []
    for side in tqdm(list(sides), desc=f"profile {Path(model).stem}", disable=not progress):
        threads = 1 if side == "device" else 0
        spec = ProfileSpec(model=str(model), threads=threads, repeats=repeats, warmup=warmup)
        rows = run_in_worker(profile_worker, spec, threads)
        df = pd.DataFrame(rows)
        for k, v in provenance(side, "tf-cpu", threads, repeats, warmup).items():
            df[k] = v
        df["energy_mj"] = df["ms"].map(power.energy_mj) if side == "device" else 0.0
        df["power_w"] = power.active_w if side == "device" else 0.0
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
