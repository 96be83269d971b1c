"""Timing primitives of the profiling stack: TF in a process of its own, interleaved rounds,
autoranged loops and the one-op-group timing worker shared by the layer and kernel corpora.

* :func:`run_in_worker` — TF fixes its thread pools when it starts, so each side (device: one
  thread; cloud: all cores) runs in a fresh spawned process (:func:`init_worker`).
* :func:`round_robin` / :func:`round_robin_autorange` — every callable timed once per round,
  round after round, so a burst of foreign load on this shared machine hits many callables'
  *different* rounds (where the median discards it) instead of all repeats of one.
* :func:`time_model_calls` — the worker that times one small Keras model per configuration
  against an identity (the fixed call cost) and a reference kernel (the machine's drift);
  :func:`time_on_sides` runs it on each side and is what both corpora call.
"""
from __future__ import annotations

import gc
import multiprocessing as mp
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import pandas as pd

from hybridlib.utils import InputError

#: where a configuration can be timed natively: one TF thread (a device core) or all cores
NATIVE_SIDES = ("device", "cloud")


def init_worker(threads: int) -> None:
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


def run_in_worker(fn: Callable[..., Any], arg: Any, threads: int) -> Any:
    """Run ``fn(arg)`` in a fresh spawned process whose TF uses ``threads`` (0 = all cores)."""

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                             initializer=init_worker, initargs=(threads,)) as ex:
        return ex.submit(fn, arg).result()


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


def keras_call(m: Any, rng: np.random.Generator) -> tuple[Callable[[], Any], int]:
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
            fns.append(keras_call(build(reference), rng)[0])
        nref = len(fns)
        outs = []
        for cfg in part:
            call, ob = keras_call(build(cfg), rng)
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


def side_threads(side: str) -> int:
    """TF threads of a native side: 1 for ``device`` (a phone's core), 0 (all cores) for ``cloud``."""
    if side not in NATIVE_SIDES:
        raise InputError(f"side must be one of {', '.join(NATIVE_SIDES)}, got {side!r}")
    return 1 if side == "device" else 0


def time_on_sides(build: Callable[[dict[str, Any]], Any], configs: Sequence[dict[str, Any]],
                  sides: Sequence[str] = NATIVE_SIDES, repeats: int = 5, warmup: int = 2,
                  min_sample_ms: float = 3.0, reference: dict[str, Any] | None = None) -> pd.DataFrame:
    """:func:`time_model_calls` of ``build(cfg)`` for every configuration, on each native side
    in its own worker process; one row per configuration × side, with ``side`` and ``row``
    (position in ``configs``). ``build`` must be a module-level function (it is pickled).

    Why one function: the per-layer corpus (:mod:`.predict`) and the fused-kernel corpus
    (:mod:`.kernels`) are the same measurement of different one-op models.
    """
    if not configs:
        raise InputError("no configurations to time")
    frames = []
    for side in sides:
        args = (build, list(configs), repeats, warmup, min_sample_ms) + ((reference,) if reference else ())
        rows = run_in_worker(time_model_calls, args, side_threads(side))
        frames.append(pd.DataFrame(rows).assign(side=side, row=range(len(rows))))
    return pd.concat(frames, ignore_index=True)
