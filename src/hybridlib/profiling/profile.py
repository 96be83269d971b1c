"""Per-layer latency, output size and device energy of a Keras model, on both sides.

Neurosurgeon profiles each layer once on the device and in the cloud, then decides on the
cached costs (DESIGN §11: never re-run the model for every candidate cut). Here:

* **device (TF)** = TensorFlow restricted to one thread (``intra_op = inter_op = 1``), a
  stand-in for a phone's CPU core; **cloud** = TensorFlow with all cores of this machine.
  Thread counts are fixed when TF initialises, so each side runs in its own spawned process.
* **device (TF.js)** = the exported layers model in headless Chromium on the ``wasm`` backend
  (:func:`profile_tfjs`), layer by layer; the backend is recorded with every row.
* Each layer is timed alone on the activations it sees in the real model (one forward pass
  records them), wrapped in a ``tf.function`` so Python overhead is small: ``warmup``
  untimed calls, then the **median** of ``repeats``.
* the fixed cost of a ``tf.function`` call (timed on an identity) is subtracted from each
  layer (``ms``; the raw median is ``ms_raw``), else 50 tiny layers add up to a phantom
  whole-model time several times the real one.
* **profiles that add up** (:func:`reconcile`): isolated layers do *not* sum to the whole
  model (issue 12: the emotion CNN's Σ ``ms`` was 16% of its whole-model time on the device
  side), because a model run pays costs no isolated layer shows. So the whole model and two
  *prefix* sub-models (heads ending at single-tensor cuts) are timed in the same interleaved
  rounds, and the residual is split, by measurement, into a **per-layer dispatch** cost
  (``dispatch_ms``, added to every compute layer: ``layer_ms = ms + dispatch_ms``) and a
  **per-inference fixed** cost (``fixed_ms``); Σ ``layer_ms`` + ``fixed_ms`` == ``model_ms``
  exactly. :func:`to_graph` puts the fixed cost on the first compute layer (device side) and
  the output layer (cloud side), where a single-cut plan pays it exactly once per side used.
* ``out_bytes`` = float32 size of the layer's output (batch 1).
* **energy**: there is no power meter here. Device energy is a *model*:
  ``device_mj = device_ms × active_w`` with ``active_w`` = 2.0 W by default, the order of a
  mobile SoC's CPU cluster under load (Neurosurgeon measured its Tegra K1 board with a
  Watts Up? meter; ARM Cortex-A15 clusters draw ~1–2.5 W). Radio energy is in the network
  model of :mod:`hybridlib.partition`. Every table says ``energy_source = "model"``.

Results are tidy tables (one row per model × side × layer) that carry their provenance
(backend, threads, repeats, host, versions) and become partition graphs with
:func:`to_graph`.
"""
from __future__ import annotations

import gc
import logging
import multiprocessing as mp
import os
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hybridlib import browser, export, models
from hybridlib import browser as br
from hybridlib.models import artifacts as train
from hybridlib.models.artifacts import load_model
from hybridlib.partition.graph import Graph
from hybridlib.profiling.devices import DeviceClass, apply_device
from hybridlib.utils import InputError, atomic_path, package_versions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import tf_keras

    from hybridlib.partition.graph import Graph

log = logging.getLogger(__name__)

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


# ------------------------------------------------------------------------------ workers


def _init_worker(threads: int) -> None:
    """Runs first in a spawned worker: fix TF's thread pools before TF is imported."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if threads > 0:
        for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
            os.environ[k] = str(threads)
    import tensorflow as tf

    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _build(model: str) -> tf_keras.Model:
    if model == "emotion_cnn":
        return models.emotion_cnn()
    if model == "alexnet":
        return models.alexnet()
    p = Path(model)
    if p.suffix == ".h5":
        return load_model(p)
    raise InputError(f"unknown model {model!r}: give emotion_cnn, alexnet or a .h5 path")


def _inbound(layer: Any) -> list[str]:
    node = layer._inbound_nodes[0]
    il = node.inbound_layers
    return [l.name for l in (il if isinstance(il, (list, tuple)) else [il])]


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(ts), ts


def round_robin(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int) -> list[list[float]]:
    """Time each of ``fns`` ``repeats`` times, interleaved: round r times every fn once.

    On a shared machine a burst of foreign load lasts tens of ms; timing one layer's repeats
    back to back lets one burst corrupt all of them (and its median), while interleaving
    spreads the burst over many layers' *different* rounds, where the median discards it.
    """
    for f in fns:
        for _ in range(warmup):
            f()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            times[i].append((time.perf_counter() - t0) * 1000.0)
    return times


def round_robin_autorange(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int,
                          min_sample_ms: float = 3.0, max_loops: int = 1000
                          ) -> tuple[list[list[float]], list[list[float]], list[int]]:
    """Per-call wall and CPU times of each of ``fns``, timeit-autorange style and interleaved.

    A sub-millisecond call timed once is mostly timer and scheduler noise (a 0.05 ms kernel
    is near the ``tf.function`` call floor; one preemption is worth 20 of it). So each
    sample is a *loop* of ``k`` calls, ``k`` chosen per fn from its fastest of three
    probe calls so that a sample lasts ≥ ``min_sample_ms`` (at most ``max_loops``), and the
    sample's time / ``k`` is one per-call time. Samples are taken as in :func:`round_robin`
    (round r times every fn once) so slow drift of the machine hits all fns alike, with the
    garbage collector off (as ``timeit`` does). Each sample reads two clocks: wall
    (``perf_counter``) and this process' CPU time (``process_time``, all its threads): a
    single-threaded caller's CPU time does not count the time it was preempted by other
    jobs, which on a loaded machine is most of the wall-clock noise. Returns (``repeats``
    wall per-call ms per fn, the same in CPU ms, the loop count ``k`` per fn).
    """

    if repeats < 1:
        raise InputError(f"repeats must be ≥ 1, got {repeats}")
    if min_sample_ms < 0 or max_loops < 1:
        raise InputError(f"min_sample_ms must be ≥ 0 and max_loops ≥ 1, got {min_sample_ms}, {max_loops}")
    loops: list[int] = []
    for f in fns:
        for _ in range(warmup):
            f()
        one = float("inf")
        for _ in range(3):
            t0 = time.perf_counter()
            f()
            one = min(one, (time.perf_counter() - t0) * 1000.0)
        loops.append(int(max(1, min(max_loops, np.ceil(min_sample_ms / max(one, 1e-4))))))
    wall: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    was = gc.isenabled()
    gc.disable()
    try:
        for _ in range(repeats):
            for i, f in enumerate(fns):
                k = loops[i]
                c0, t0 = time.process_time(), time.perf_counter()
                for _ in range(k):
                    f()
                t1, c1 = time.perf_counter(), time.process_time()
                wall[i].append((t1 - t0) * 1000.0 / k)
                cpu[i].append((c1 - c0) * 1000.0 / k)
    finally:
        if was:
            gc.enable()
    return wall, cpu, loops


#: the compute reference timed in every chunk of :func:`time_model_calls`: a ~10 MFLOP
#: convolution (≈ 1 ms on one core), built by the caller's ``build`` from this configuration
REFERENCE_KERNEL = {"kernel_type": "conv-relu", "h": 24, "w": 24, "c_in": 32, "c_out": 32, "kernel": 3,
                    "stride": 1, "padding": "same", "n_inputs": 1}


def _keras_call(m: Any, rng: np.random.Generator) -> tuple[Callable[[], Any], int]:
    """A no-argument call of Keras model ``m`` as a ``tf.function`` on random batch-1 inputs,
    and the float32 size of its output."""
    import tensorflow as tf

    xs = [tf.constant(rng.random((1, *[int(d) for d in i.shape[1:]]), dtype=np.float32)) for i in m.inputs]
    f = tf.function(lambda a, _m=m: _m(a, training=False))
    arg = xs if len(xs) > 1 else xs[0]
    return (lambda: f(arg)), int(np.prod([int(d) for d in m.outputs[0].shape[1:]])) * 4


def time_model_calls(args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Worker (run it with :func:`run_in_worker`): the one-op-group Keras model
    ``build(cfg)`` of every configuration, called as a ``tf.function`` (so Grappler fuses
    it as in a whole model) on random batch-1 inputs, timed by :func:`round_robin_autorange`
    in chunks of 8 together with two references: an identity ``tf.function`` (the fixed
    call cost) and, if ``reference`` is given, ``build(reference)`` (a compute kernel).

    Why: on a shared machine a single-threaded caller is preempted by other jobs (wall time
    counts that, CPU time does not) *and* runs slower while co-runners contend for caches,
    memory bandwidth and the host's cores — a drift of up to 2× over seconds that even CPU
    time and the fastest sample of a chunk cannot escape. The compute reference is timed in
    the same rounds as its chunk's kernels, so dividing by its time (``drift``) removes it.

    ``args`` = (``build``, configs, repeats, warmup, min_sample_ms[, reference]); ``build``
    must be a module-level function (it is pickled into the worker). Rows: the configuration
    plus ``ms`` (median per-call wall time), ``ms_min`` (fastest: other jobs only ever add
    time), ``ms_net`` (``ms_min`` − the identity's fastest, ≥ 0), ``call_overhead_ms``,
    ``cpu_ms_min``/``cpu_ms`` (the same in process CPU time), ``ref_ms``/``ref_cpu_ms`` (the
    compute reference's fastest in this chunk, NaN without one), ``drift`` (this chunk's
    reference time, in the side's clock, / the run's median; 1 = a typical chunk), ``chunk``, ``loops``
    (calls per sample), ``out_bytes`` (float32 output size) and **``ms_adj``**, the
    predictors' target: the median over rounds of the kernel's time / the reference's time
    *in the same round* (milliseconds apart, so the machine's speed cancels), times the
    reference's time on the free machine (the 10th percentile of its per-chunk fastest
    times). The clock is CPU time with one TF thread (a device: its latency with the
    machine to itself; the two clocks agree on a quiet machine) and wall time with several
    (the cloud: CPU time sums threads). Shared by the per-layer corpus (:mod:`predict`) and
    the fused-kernel corpus (:mod:`kernels`).
    """
    import tensorflow as tf
    import tf_keras as keras

    build, cfgs, repeats, warmup, min_sample_ms = args[:5]
    reference = args[5] if len(args) > 5 else None
    tf.get_logger().setLevel("ERROR")  # one tf.function per config is the point: no retracing warnings
    rows: list[dict[str, Any]] = []
    rng = np.random.default_rng(0)
    x0 = tf.constant(rng.random((1, 8), dtype=np.float32))
    ident = tf.function(lambda a: tf.identity(a))
    single = tf.config.threading.get_intra_op_parallelism_threads() == 1
    chunk = 8
    for start in range(0, len(cfgs), chunk):
        part = cfgs[start:start + chunk]
        fns: list[Callable[[], Any]] = [lambda: ident(x0)]
        if reference is not None:
            fns.append(_keras_call(build(reference), rng)[0])
        nref = len(fns)
        outs = []
        for cfg in part:
            call, ob = _keras_call(build(cfg), rng)
            fns.append(call)
            outs.append(ob)
        times, cpu, loops = round_robin_autorange(fns, repeats, warmup, min_sample_ms)
        overhead = float(min(times[0]))
        ref = float(min(times[1])) if reference is not None else float("nan")
        for cfg, ts, cs, k, ob in zip(part, times[nref:], cpu[nref:], loops[nref:], outs):
            rows.append({**cfg, "ms": float(np.median(ts)), "ms_min": float(min(ts)),
                         "ms_net": max(float(min(ts)) - overhead, 0.0), "call_overhead_ms": overhead,
                         "cpu_ms_min": float(min(cs)), "cpu_ms": float(np.median(cs)),
                         "cpu_overhead_ms": float(min(cpu[0])), "ref_ms": ref,
                         "ref_cpu_ms": float(min(cpu[1])) if reference is not None else float("nan"),
                         # per round, this kernel's CPU time over the reference's, timed
                         # milliseconds apart: the machine's speed cancels
                         "_ratio": float(np.median(np.asarray(cs) / np.maximum(cpu[1], 1e-9)))
                         if reference is not None else float("nan"),
                         "_ratio_wall": float(np.median(np.asarray(ts) / np.maximum(times[1], 1e-9)))
                         if reference is not None else float("nan"),
                         "chunk": start // chunk, "loops": k, "out_bytes": ob})
        keras.backend.clear_session()
    # the scale: the reference at the machine's speed when it is (nearly) free — the 10th
    # percentile of the chunks' fastest reference times, which moved ±3% between runs where
    # the median moved ±15%
    clock = "ref_cpu_ms" if single else "ref_ms"
    refs = np.array([r[clock] if reference is not None else r["cpu_overhead_ms"] for r in rows])
    typical = float(np.median(refs)) if len(refs) else 1.0
    scale = float(np.quantile(refs, 0.1)) if len(refs) else 1.0
    for r, v in zip(rows, refs):
        ratio, ratio_wall = r.pop("_ratio"), r.pop("_ratio_wall")
        r["drift"] = float(v / typical) if typical > 0 else 1.0
        if reference is None:
            r["ms_adj"] = r["cpu_ms_min"] if single else r["ms_min"]
        else:
            r["ms_adj"] = (ratio if single else ratio_wall) * scale
    return rows


@dataclass(frozen=True)
class Reconciliation:
    """How one side's per-layer profile adds up to its whole-model time.

    Reconciled cost of compute layer i: ``scale * ms_i + dispatch_ms``; plus ``fixed_ms``
    once per inference. By construction Σ reconciled + ``fixed_ms`` == ``model_ms``.
    """

    model_ms: float
    layers_ms: float  # Σ isolated (call-overhead-subtracted) layer medians
    n_layers: int  # compute layers (the input layer excluded)
    fixed_ms: float
    dispatch_ms: float
    scale: float
    probes: tuple[tuple[int, float], ...] = ()

    @property
    def residual_ms(self) -> float:
        return self.model_ms - self.layers_ms

    def layer_ms(self, ms: float) -> float:
        return self.scale * ms + self.dispatch_ms

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "residual_ms": self.residual_ms}


def reconcile(layer_ms: Sequence[float], model_ms: float,
              probes: Sequence[tuple[int, float]] = ()) -> Reconciliation:
    """Attribute the gap between Σ isolated layer times and the whole-model time.

    ``layer_ms``: isolated medians of the compute layers in topological order; ``model_ms``:
    the whole model's median; ``probes``: ``(k, T_k)`` = measured median of the *prefix*
    sub-model made of the first ``k`` compute layers (a head at a single-tensor cut).

    Why this split and not a plain proportional rescale: a head sub-model on the device and
    a tail sub-model in the cloud are each one model call, so a cost that a call pays once
    (function entry, input/output handling) must be charged once per side used, while a
    cost that every op pays inside a graph (executor dispatch, kernel launch, allocation)
    grows with the layers a side runs. Which of the two the residual is, is measured: with
    ``R = model_ms − Σ ms`` and per-layer dispatch ``d``, the prefix model is predicted as
    ``T_k ≈ (R − n·d) + Σ_{i<k} ms_i + k·d``; ``d`` is the least-squares fit over the
    probes, clamped to ``[0, R/n]`` (both parts are costs), and ``fixed = R − n·d`` keeps
    the identity with the whole model exact. Without probes ``d = 0`` (all fixed). If the
    layers *over*-count (``R < 0``: e.g. TF.js reads every isolated layer back, the whole
    model once), the excess is per-layer measurement cost and every layer is scaled by
    ``model_ms / Σ ms`` instead (``fixed = d = 0``).
    """
    ms = [max(float(v), 0.0) for v in layer_ms]
    n = len(ms)
    if n == 0:
        raise InputError("reconcile: no compute layers")
    if not (np.isfinite(model_ms) and model_ms >= 0):
        raise InputError(f"reconcile: model_ms must be a finite number ≥ 0, got {model_ms!r}")
    total = float(sum(ms))
    resid = float(model_ms) - total
    pr = tuple((int(k), float(t)) for k, t in probes)
    for k, _t in pr:
        if not 0 < k <= n:
            raise InputError(f"reconcile: probe prefix length {k} outside 1..{n}")
    if resid < 0:
        return Reconciliation(float(model_ms), total, n, 0.0, 0.0,
                              float(model_ms) / total if total > 0 else 1.0, pr)
    d = 0.0
    if pr:
        prefix = np.cumsum([0.0, *ms])
        num = den = 0.0
        for k, t in pr:
            a = t - resid - prefix[k]
            num += a * (n - k)
            den += (n - k) ** 2
        if den > 0:
            d = min(max(-num / den, 0.0), resid / n)
    return Reconciliation(float(model_ms), total, n, resid - n * d, d, 1.0, pr)


def single_cuts(layers: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Layers (``(name, inbound names)`` in topological order) after which one tensor alone
    carries everything later layers need: the cut points of a single-cut split (the input
    and the output included). An inception block's branches are not cut points."""
    pos = {name: i for i, (name, _) in enumerate(layers)}
    last_use: dict[int, int] = {}
    for j, (_name, inb) in enumerate(layers):
        for src in inb:
            i = pos[src]
            last_use[i] = max(last_use.get(i, i), j)
    out = []
    for i, (name, _) in enumerate(layers):
        # no tensor produced before i is still needed after i
        if all(u >= i or lu <= i for u, lu in last_use.items()):
            out.append(name)
    return out


def _probe_cuts(cuts: Sequence[str], names: Sequence[str], n: int = 2) -> list[str]:
    """Up to ``n`` interior cut points spread over the layer count (for :func:`reconcile`)."""
    inner = [c for c in cuts if 0 < names.index(c) < len(names) - 1]
    if not inner:
        return []
    picks = []
    for q in range(1, n + 1):
        target = q * (len(names) - 1) / (n + 1)
        best = min(inner, key=lambda c: abs(names.index(c) - target))
        if best not in picks:
            picks.append(best)
    return picks


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
               "inputs": [] if isinstance(layer, keras.layers.InputLayer) else _inbound(layer),
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
    probes = _probe_cuts(cuts, names)
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
    _apply_reconciliation(rows, model_ms, probe_k)
    return rows


def _apply_reconciliation(rows: list[dict[str, Any]], model_ms: float,
                          probes: Sequence[tuple[int, float]]) -> Reconciliation:
    """Add ``layer_ms``/``fixed_ms``/``dispatch_ms``/``cost_scale`` to one side's rows.

    ``probes`` are ``(position of the cut layer, ms)``; the input layer is position 0, so the
    position is also the number of compute layers in the prefix."""
    compute = [r for r in rows if r["index"] > 0]
    rec = reconcile([r["ms"] for r in compute], model_ms, probes)
    for r in rows:
        r["layer_ms"] = rec.layer_ms(r["ms"]) if r["index"] > 0 else 0.0
        r["fixed_ms"] = rec.fixed_ms
        r["dispatch_ms"] = rec.dispatch_ms
        r["cost_scale"] = rec.scale
        r["probes"] = " ".join(f"{k}:{t:.4f}" for k, t in rec.probes)
    return rec


def _profile_worker(spec: ProfileSpec) -> list[dict[str, Any]]:
    model = _build(spec.model)
    rows = time_model_layers(model, spec.repeats, spec.warmup, spec.batch)
    for r in rows:
        r["model"] = model.name
    return rows


def run_in_worker(fn: Callable[..., Any], arg: Any, threads: int) -> Any:
    """Run ``fn(arg)`` in a fresh spawned process whose TF uses ``threads`` (0 = all cores)."""

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads,)) as ex:
        return ex.submit(fn, arg).result()


def _provenance(side: str, backend: str, threads: int, repeats: int, warmup: int) -> dict[str, Any]:
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
        rows = run_in_worker(_profile_worker, spec, threads)
        df = pd.DataFrame(rows)
        for k, v in _provenance(side, "tf-cpu", threads, repeats, warmup).items():
            df[k] = v
        df["energy_mj"] = df["ms"].map(power.energy_mj) if side == "device" else 0.0
        df["power_w"] = power.active_w if side == "device" else 0.0
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------ TF.js

#: one fetch with retries, as TF.js's ``fetchFunc`` (LoadOptions): Chromium aborts in-flight
#: fetches with ``net::ERR_NETWORK_CHANGED`` (a TypeError "Failed to fetch") whenever a network
#: interface appears or goes — here other jobs' network namespaces / veth pairs for tc
#: shaping, several a minute while tests run. AlexNet's 15 shards (62 MB) take long enough
#: that restarting the whole model load (the old retry) kept losing a shard to the next
#: change; retrying the failed request alone, with backoff, loads it. Retries are counted in
#: ``window.__hlFetchRetries`` (recorded in the profile's ``fetch_retries``).
#:
#: The body is read inside the retry (a cut-off body is retried too) and *before* the
#: promise resolves. Why (found 2026-11-29): TF.js awaits every shard's response headers
#: (``Promise.all``) before reading any body, and Chromium opens at most 6 HTTP/1.1
#: connections per host; with more than 6 shards too large for the socket buffers, the 6
#: unread bodies hold every connection and shard 7's headers never come — AlexNet's load hung
#: forever with the renderer idle. Reading each body as it arrives frees its connection.
RETRY_FETCH_JS = r"""
async (url, init) => {
  for (let attempt = 0; ; attempt++) {
    try {
      const r = await fetch(url, init);
      if (r.ok || r.status < 500 || attempt >= 8) {
        const body = await r.arrayBuffer();  // read now: frees the connection, and a body cut
        return new Response(body, {status: r.status, statusText: r.statusText, headers: r.headers});
      }
    } catch (e) { if (attempt >= 8) throw e; }
    window.__hlFetchRetries = (window.__hlFetchRetries || 0) + 1;
    await new Promise(res => setTimeout(res, Math.min(4000, 250 * 2 ** attempt)));
  }
}
"""

#: loads the model before any CPU throttling; every request retried (:data:`RETRY_FETCH_JS`),
#: and the whole load retried a few times on top; returns the number of retried requests
LOAD_JS = r"""
async (name) => {
  const retryFetch = """ + RETRY_FETCH_JS.strip() + r""";
  for (let attempt = 0; ; attempt++) {
    try {
      window.__hlProfModel = await tf.loadLayersModel(`/model/${name}/model.json`, {fetchFunc: retryFetch});
      return window.__hlFetchRetries || 0;
    } catch (e) { if (attempt >= 3) throw e; await new Promise(r => setTimeout(r, 3000)); }
  }
}
"""

PROFILE_JS = r"""
async ([name, repeats, warmup, probeNames]) => {
  const model = window.__hlProfModel || await tf.loadLayersModel(`/model/${name}/model.json`);
  const layers = model.layers;
  const probe = tf.model({inputs: model.inputs, outputs: layers.map(l => l.output)});
  const shape = model.inputs[0].shape.map(d => d === null ? 1 : d);
  const x = tf.randomUniform(shape);
  const acts = probe.predict(x);
  const byName = {};
  layers.forEach((l, i) => { byName[l.name] = acts[i]; });
  const rows = [];
  for (const l of layers) {
    const inb = l.inboundNodes.length ? l.inboundNodes[0].inboundLayers.map(p => p.name) : [];
    if (l.getClassName() === 'InputLayer' || inb.length === 0) {
      rows.push({layer: l.name, ms: 0, ms_all: [0]}); continue;
    }
    const arg = inb.length === 1 ? byName[inb[0]] : inb.map(n => byName[n]);
    const once = () => { const y = l.apply(arg, {training: false}); y.dataSync(); y.dispose(); };
    // performance.now() is coarsened to 0.1 ms in a non-isolated page: time `inner` calls
    // per sample for layers faster than ~2 ms so the median is not quantised to 0 or 0.1
    const f0 = performance.now(); once(); const first = performance.now() - f0;
    const inner = Math.max(1, Math.min(20, Math.ceil(2 / Math.max(first, 0.05))));
    for (let i = 0; i < warmup; i++) once();
    const ts = [];
    for (let i = 0; i < repeats; i++) {
      const s = performance.now(); for (let j = 0; j < inner; j++) once();
      ts.push((performance.now() - s) / inner);
    }
    const sorted = ts.slice().sort((a, b) => a - b);
    const m = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    rows.push({layer: l.name, ms: m, ms_all: ts});
  }
  // the whole model and the prefix (head) sub-models, interleaved round by round
  const runners = [model, ...(probeNames || []).map(
    n => tf.model({inputs: model.inputs, outputs: model.getLayer(n).output}))];
  const tt = runners.map(() => []);
  for (let i = 0; i < warmup + repeats; i++) {
    runners.forEach((m, j) => {
      const s = performance.now(); const y = m.predict(x); y.dataSync(); y.dispose();
      if (i >= warmup) tt[j].push(performance.now() - s);
    });
  }
  const med = a => { const b = a.slice().sort((p, q) => p - q); const h = b.length >> 1;
    return b.length % 2 ? b[h] : (b[h - 1] + b[h]) / 2; };
  acts.forEach(a => a.dispose()); x.dispose();
  return {backend: tf.getBackend(), rows, model_ms: med(tt[0]),
          probe_ms: tt.slice(1).map(med)};
}
"""


def set_cpu_throttle(page: Any, rate: float) -> float:
    """Slow ``page``'s CPU ``rate``× with DevTools' ``Emulation.setCPUThrottlingRate``
    (Lighthouse's mobile preset is 4×); returns the rate applied. Uses
    :func:`hybridlib.profiling.devices.apply_device` semantics where that module exists, else its own
    CDP session (kept on the page so it is not garbage-collected)."""
    if not (np.isfinite(rate) and rate >= 1):
        raise InputError(f"cpu_throttle must be a number ≥ 1 (1 = no throttling), got {rate!r}")
    cdp = page.context.new_cdp_session(page)
    apply_device(cdp, DeviceClass(f"{rate:g}x", float(rate), "profiling throttle"))
    page._hl_cdp = cdp  # noqa: SLF001 - keep the session alive as long as the page
    return float(rate)


def profile_tfjs(model: str | tf_keras.Model, repeats: int = 5, warmup: int = 2, backend: str = "wasm",
                 power: PowerModel = PowerModel(), workdir: str | Path | None = None,
                 cpu_throttle: float = 1.0, quantize: str = "none",
                 tfjs_dir: str | Path | None = None) -> pd.DataFrame:
    """Per-layer latency of ``model`` in TF.js inside headless Chromium (device side).

    Exports the model as an fp32 TF.js layers model (:mod:`hybridlib.export`), loads it in
    the harness page and times ``layer.apply`` + ``dataSync`` per layer (median of
    ``repeats`` after ``warmup``), then the whole model and two prefix sub-models in
    interleaved rounds, and reconciles the two (:func:`reconcile`). ``cpu_throttle`` > 1
    slows the page with DevTools CPU throttling *before* anything is timed, so the profile
    is that of the device class the split is executed on (``desktop`` = 1, ``phone`` = 4).
    The backend and the rate actually used are recorded in every row. ``quantize="uint8"``
    stores the weights as uint8 (TF.js de-quantises them at load, so the compute is fp32
    either way): AlexNet's 250 MB of fp32 weights are a quarter of that to load.
    ``tfjs_dir``: an existing TF.js export of ``model`` (a Keras model object) to load instead
    of exporting again — the split study's device-only head (``quantize`` then only labels
    the rows): exporting AlexNet costs seconds and its 62 MB twice on disk.
    """

    import tf_keras as keras


    keras_model = _build(model) if isinstance(model, str) else model
    names = [l.name for l in keras_model.layers]
    inbound = [(l.name, [] if isinstance(l, keras.layers.InputLayer) else _inbound(l))
               for l in keras_model.layers]
    probes = _probe_cuts(single_cuts(inbound), names)
    with tempfile.TemporaryDirectory(prefix="hl-prof-", dir=workdir) as td:
        out = Path(td) / "m"
        if tfjs_dir is not None:
            out = Path(tfjs_dir)
            if not (out / "model.json").is_file():
                raise InputError(f"tfjs_dir {out} holds no model.json")
        else:
            export.export_tfjs(keras_model, out, quantize)
        with browser.tfjs_session({"m": out}, backend=backend, timeout_s=600) as (page, _url):
            retries = int(page.evaluate(LOAD_JS, "m") or 0)
            if retries:
                log.info("model load: %d request(s) retried (net::ERR_NETWORK_CHANGED?)", retries)
            rate = set_cpu_throttle(page, cpu_throttle) if cpu_throttle != 1 else 1.0
            res = page.evaluate(PROFILE_JS, ["m", repeats, warmup, probes])
    df = pd.DataFrame(res["rows"])
    df["model"] = keras_model.name
    df["model_ms"] = res["model_ms"]
    df["index"] = df["layer"].map({n: i for i, n in enumerate(names)})
    rows = df.to_dict("records")
    _apply_reconciliation(rows, float(res["model_ms"]),
                          [(names.index(p), float(t)) for p, t in zip(probes, res["probe_ms"])])
    df = pd.DataFrame(rows)
    prov = _provenance("device", f"tfjs-{res['backend']}", 1, repeats, warmup)
    prov["chromium"] = browser.chromium_version()
    prov["cpu_throttle"] = rate
    prov["weights"] = quantize
    prov["fetch_retries"] = retries
    for k, v in prov.items():
        df[k] = v
    df["energy_mj"] = df["ms"].map(power.energy_mj)
    df["power_w"] = power.active_w
    return df


def _tfjs_worker(args: tuple[Any, ...]) -> pd.DataFrame:
    """``(model, repeats, warmup[, cpu_throttle[, quantize]])`` → :func:`profile_tfjs`."""
    model, repeats, warmup, *rest = args
    return profile_tfjs(model, repeats=repeats, warmup=warmup, cpu_throttle=rest[0] if rest else 1.0,
                        quantize=rest[1] if len(rest) > 1 else "none")


# ------------------------------------------------------------------------------ graphs


def side_costs(rows: pd.DataFrame, reconciled: bool = True) -> tuple[dict[str, float], float]:
    """Per-layer ms and the per-inference fixed ms of one side's profile rows.

    ``reconciled``: the :func:`reconcile` costs (``layer_ms``/``fixed_ms``; tables written
    before those columns existed are reconciled here from ``model_ms`` without probes, i.e.
    the whole residual is fixed); else the isolated ``ms`` and no fixed cost (the old view).
    """
    ms = {str(k): float(v) for k, v in zip(rows["layer"], rows["ms"])}
    if not reconciled:
        return ms, 0.0
    if "layer_ms" in rows and rows["layer_ms"].notna().all():
        return ({str(k): float(v) for k, v in zip(rows["layer"], rows["layer_ms"])},
                float(rows["fixed_ms"].iloc[0]))
    order = rows.sort_values("index")
    compute = order[order["index"] > 0]
    rec = reconcile(compute["ms"].tolist(), float(rows["model_ms"].iloc[0]))
    out = {str(k): (rec.layer_ms(float(v)) if i > 0 else 0.0)
           for k, v, i in zip(order["layer"], order["ms"], order["index"])}
    return out, rec.fixed_ms


def reconciliation_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model × side × backend (× cpu_throttle): Σ isolated layers, Σ reconciled
    layers + fixed, the whole-model time, and the split of the residual (issue 12's check)."""

    keys = [k for k in ("model", "side", "backend", "cpu_throttle") if k in table]
    out = []
    t = table.copy()
    if "cpu_throttle" in t:
        t["cpu_throttle"] = t["cpu_throttle"].fillna(1.0)
    for key, g in t.groupby(keys, dropna=False):
        costs, fixed = side_costs(g)
        out.append({**dict(zip(keys, key if isinstance(key, tuple) else (key,))),
                    "layers": int((g["index"] > 0).sum()), "sum_isolated_ms": float(g["ms"].sum()),
                    "sum_layers_ms": float(sum(costs.values())), "fixed_ms": fixed,
                    "dispatch_ms": float(g["dispatch_ms"].iloc[0]) if "dispatch_ms" in g else 0.0,
                    "model_ms": float(g["model_ms"].iloc[0]),
                    "reconciled_ms": float(sum(costs.values())) + fixed})
    df = pd.DataFrame(out)
    df["isolated_share"] = df["sum_isolated_ms"] / df["model_ms"]
    return df


def to_graph(table: pd.DataFrame, model: str | None = None, device: str = "tf-cpu",
             name: str | None = None, input_itemsize: int = 4, cpu_throttle: float | None = None,
             reconciled: bool = True) -> Graph:
    """A §5 partition graph from a tidy profile: layers → nodes, inbound links → edges.

    ``device`` picks the device-side backend rows (``tf-cpu`` or ``tfjs-wasm``) and
    ``cpu_throttle`` the device class they were taken on (TF.js rows; required when the table
    holds several); the cloud side is always TF with all cores. Every layer stays a node
    (identities such as Dropout too: they never change the optimum and keep layer names
    intact). ``input_itemsize`` sets how the input travels: 4 = float32 as the model sees it
    (the §5 example), 1 = the camera's uint8 pixels (scaling to [0, 1] is outside the model,
    see :func:`hybridlib.models.preprocess`).

    ``reconciled`` (default): node costs are the reconciled per-layer costs and each side's
    per-inference fixed cost (:func:`reconcile`) is added to the *first compute layer*'s
    ``device_ms`` (a head pays it iff the device runs any layer) and to the *output layer*'s
    ``cloud_ms`` (a tail pays it iff the cloud runs any layer). Both are exact for
    ``schedule="single"`` plans of graphs whose every layer descends from the first compute
    layer (the study's models); a multi-switch plan would pay the fixed cost once per cloud
    segment and is under-charged. The node's ``meta`` records what was added.
    """
    if input_itemsize not in (1, 2, 4):
        raise InputError(f"input_itemsize must be 1, 2 or 4 bytes, got {input_itemsize!r}")

    t = table if model is None else table[table["model"] == model]
    if t.empty:
        raise InputError(f"no profile rows for model {model!r}")
    dev = t[(t["side"] == "device") & (t["backend"] == device)]
    if "cpu_throttle" in dev:
        rates = dev["cpu_throttle"].fillna(1.0)
        if cpu_throttle is not None:
            dev = dev[rates == float(cpu_throttle)]
        elif rates.nunique() > 1:
            raise InputError(f"profile holds {device} rows at several cpu_throttle rates "
                             f"({sorted(rates.unique())}): pass cpu_throttle")
    elif cpu_throttle not in (None, 1, 1.0):
        dev = dev.iloc[0:0]
    cl = t[t["side"] == "cloud"]
    if dev.empty or cl.empty:
        what = "device (" + device + (f" at cpu_throttle {cpu_throttle:g}" if cpu_throttle else "") + ")"
        raise InputError(f"profile lacks {what if dev.empty else 'cloud'} rows "
                         f"for model {model or t['model'].iloc[0]!r}")
    dev_ms, dev_fixed = side_costs(dev, reconciled)
    cl_ms, cl_fixed = side_costs(cl, reconciled)
    dev = dev.set_index("layer")
    meta_src = cl.sort_values("index").set_index("layer")
    order = list(meta_src.index)
    first_compute, last = order[1] if len(order) > 1 else order[0], order[-1]
    nodes, edges = [], []
    for layer, r in meta_src.iterrows():
        d = dev.loc[layer]
        power = float(d["power_w"]) if "power_w" in dev and np.isfinite(d["power_w"]) else \
            (float(d["energy_mj"]) / float(d["ms"]) if float(d["ms"]) > 0 else PowerModel().active_w)
        dms, cms, meta = dev_ms[layer], cl_ms[layer], {"type": r["type"], "out_shape": list(r["out_shape"])}
        if layer == first_compute and dev_fixed:
            dms += dev_fixed
            meta["fixed_device_ms"] = dev_fixed
        if layer == last and cl_fixed:
            cms += cl_fixed
            meta["fixed_cloud_ms"] = cl_fixed
        nodes.append({"id": layer, "device_ms": dms, "cloud_ms": cms,
                      "out_bytes": float(r["out_bytes"]), "device_mj": dms * power, "meta": meta})
        for src in r["inputs"]:
            edges.append([src, layer])
    nodes[0]["out_bytes"] = nodes[0]["out_bytes"] / 4 * input_itemsize
    consumers = {e[0] for e in edges}
    outs = [n["id"] for n in nodes if n["id"] not in consumers]
    return Graph.from_dict({"nodes": nodes, "edges": edges, "input": order[0], "output": outs[-1],
                            "name": name or str(meta_src["model"].iloc[0])})


def keras_graph(model: tf_keras.Model, device_ms: Mapping[str, float] | None = None,
                cloud_ms: Mapping[str, float] | None = None, power: PowerModel = PowerModel()) -> Graph:
    """A §5 graph straight from a Keras model with given (e.g. predicted) per-layer costs."""
    import tf_keras as keras


    nodes, edges = [], []
    for l in model.layers:
        shape = l.output_shape[0] if isinstance(l.output_shape, list) else l.output_shape
        dms = float((device_ms or {}).get(l.name, 0.0))
        nodes.append({"id": l.name, "device_ms": dms, "cloud_ms": float((cloud_ms or {}).get(l.name, 0.0)),
                      "out_bytes": float(np.prod([d or 1 for d in shape[1:]]) * 4),
                      "device_mj": power.energy_mj(dms), "meta": {"type": type(l).__name__}})
        if not isinstance(l, keras.layers.InputLayer):
            edges += [[src, l.name] for src in _inbound(l)]
    return Graph.from_dict({"nodes": nodes, "edges": edges, "input": model.layers[0].name,
                            "output": model.layers[-1].name, "name": model.name})


def save_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as parquet (lists kept) atomically; csv next to it for humans."""

    path = Path(path)
    with atomic_path(path.with_suffix(".parquet")) as tmp:
        df.to_parquet(tmp, index=False)
    flat = df.copy()
    for c in flat.columns:
        if flat[c].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            flat[c] = flat[c].map(lambda v: " ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
    with atomic_path(path.with_suffix(".csv")) as tmp:
        flat.to_csv(tmp, index=False)
    return path.with_suffix(".parquet")


def load_table(path: str | Path) -> pd.DataFrame:
    p = Path(path).with_suffix(".parquet")
    if not p.is_file():
        raise InputError(f"profile table {p} does not exist (run `hybridlib profile`)")
    df = pd.read_parquet(p)
    for c in ("inputs", "out_shape", "ms_all"):
        if c in df:
            df[c] = df[c].map(lambda v: list(v) if v is not None else [])
    return df


def spec_dict(spec: ProfileSpec) -> dict[str, Any]:
    return asdict(spec)


# ------------------------------------------------------------------------------ study helpers


def model_source(ctx: Any, model: str) -> str:
    """What to profile for ``model``: the trained emotion CNN if 01_train left a valid one,
    else a freshly initialised one (latency does not depend on the weights' values)."""
    if model != "emotion_cnn":
        return model
    try:
        path = train.default_model_path(ctx)
        if train.is_valid(path, ctx.data_label):
            return str(path)
    except Exception as e:  # noqa: BLE001 - fall back to the builder, say why
        log.info("trained emotion CNN unavailable (%s); profiling fresh weights", e)
    return "emotion_cnn"


def ensure_profile(ctx: Any, model: str, browser: bool = False, refresh: bool = False,
                   progress: bool = True) -> pd.DataFrame:
    """The cached tidy profile of ``model`` for ``ctx``'s preset (``artifacts_dir``), made if missing.

    TF device and cloud rows always; TF.js (Chromium, wasm) device rows too when ``browser``
    is true and Chromium + the npm assets are there (otherwise logged and skipped).
    """

    path = Path(ctx.artifacts_dir) / f"profile_{model}.parquet"
    df = None
    if path.is_file() and not refresh:
        df = load_table(path)
        if not browser or df["backend"].str.startswith("tfjs").any():
            return df
    reps = ctx.preset.profile_repeats
    if df is None:
        df = profile_model(model_source(ctx, model), repeats=reps, warmup=2, progress=progress)
        df["model"] = model
    if browser:
        try:
            if br.have_chromium() and not br.missing_vendor_files():
                # own process: Playwright's sync API refuses to run inside a notebook's event loop
                js = run_in_worker(_tfjs_worker, (model_source(ctx, model), reps, 2), 0)
                js["model"] = model
                meta = df[df["side"] == "cloud"].set_index("layer")
                for c in ("type", "index", "inputs", "out_shape", "out_bytes", "params"):
                    js[c] = js["layer"].map(meta[c])
                js["side"] = "device"
                df = pd.concat([df, js], ignore_index=True)
            else:
                warnings.warn("TF.js profiling skipped: Chromium or npm assets missing", stacklevel=2)
        except Exception as e:  # noqa: BLE001 - the TF sides stand on their own; say so loudly
            warnings.warn(f"TF.js profiling failed ({type(e).__name__}: {e}); TF sides only", stacklevel=2)
    save_table(df, path)
    return df


def plot_layers(df: pd.DataFrame, model: str, title: str = "") -> Any:
    """Neurosurgeon's per-layer figure: latency per layer on each side (bars) and output size."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    t = df[df["model"] == model].copy()
    t["where"] = t["side"] + " (" + t["backend"] + ")"
    order = t[t["side"] == "cloud"].sort_values("index")["layer"].tolist()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, 0.22 * len(order) + 3), 7), sharex=True)
    sns.barplot(data=t, x="layer", y="ms", hue="where", order=order, ax=a1)
    a1.set_ylabel("latency per layer (ms, median)")
    a1.set_xlabel("")
    a1.set_title(title or f"{model}: per-layer latency and output size")
    sizes = t[t["side"] == "cloud"].set_index("layer").loc[order, "out_bytes"] / 1024
    a2.bar(range(len(order)), sizes.to_numpy(), color="0.5")
    a2.set_ylabel("output size (KiB, float32)")
    a2.set_xticks(range(len(order)))
    a2.set_xticklabels(order, rotation=90, fontsize=7)
    fig.tight_layout()
    return fig
