"""Fused kernels timed the way TF.js executes them: wasm in a throttled headless Chromium.

The browser half of the kernel corpus (:mod:`hybridlib.profiling.kernels` times the
same configurations in native TF). The device the executed splits run on is a Chromium page
running TF.js on ``wasm`` slowed by DevTools CPU throttling (:mod:`.devices`: ``phone`` =
4×), so a predictor of *that* device's cost must learn from kernels timed there, as that
runtime computes them.

**What TF.js executes for one kernel** (checked 2026-12-07 on real exports of
:func:`kernels.kernel_model` with non-zero weights, tensorflowjs 4.22, tfjs 4.22 sources):

* the project ships **layers** models (``export.export_tfjs``; every page loads them with
  ``tf.loadLayersModel``). tfjs-layers runs each Keras layer as its own op(s): Conv2D →
  ``tf.fused.conv2d`` with bias and, if the layer's activation is relu/linear, that
  activation fused; BatchNormalization → ``tf.batchNorm`` (wasm ``FusedBatchNorm``), a
  separate ReLU layer → ``tf.relu``; Dense(relu) → ``tf.fused.matMul`` with bias+relu,
  Dense(softmax) → ``matMul`` (no bias) + ``biasAdd`` + ``softmax``. So ``conv-bn-relu`` is
  *three* passes over memory here, not one: the layers runtime does not fuse BN.
* a **graph** model (``tensorflowjs_converter --output_format=tfjs_graph_model``) is what
  Grappler leaves: conv-bn-relu / conv-relu / conv → one ``_FusedConv2D`` [BiasAdd(, Relu)]
  with BN folded into filter and bias; fc-relu → ``_FusedMatMul`` [BiasAdd, Relu]; fc →
  ``_FusedMatMul`` [BiasAdd] + ``Softmax``; a standalone bn(-relu) → ``Mul`` + ``Add``
  (+ ``Relu``); add-relu → ``AddV2`` + ``Relu``; pools, ``Mean``, ``ConcatV2`` as such.
  (With all-zero biases Grappler drops the BiasAdd and conv-relu stays Conv2D + Relu — an
  artefact of untrained weights, not of the runtime.)

``runtime="layers"`` (default: what the project's pages run) builds each kernel in the page
from its configuration with ``tf.layers`` objects applied to concrete tensors — the calls
tfjs-layers' executor makes for a loaded model; ``runtime="graph"`` builds it from the ops a
graph model would run (BN folded in the page, as the converter does). Neither converts
anything: converting hundreds of one-layer Keras models costs seconds each.

**Timing**: TF.js and the backend load once per page; then, chunk by chunk, the kernels are
built and warmed *unthrottled* (:data:`PREP_JS`: the first call sets up XNNPACK operators
and buffers), the page's CPU is throttled (``Emulation.setCPUThrottlingRate``, first through
:func:`devices.set_cpu_throttle`) for :data:`TIME_JS` only, and released for disposal.
``performance.now()`` is coarsened to 0.1 ms in a non-isolated page, so each sample times
``inner`` back-to-back calls, ``inner`` chosen per kernel (autorange, re-grown if a sample
comes out under ``target_ms / 2``) so a sample lasts ≥ ``target_ms``. Chromium's Linux
throttler (``ThreadCPUThrottler``) signals the renderer thread every ~0.2 ms and busy-waits
``(rate − 1)`` × the run time since the last signal (capped at 1 ms) in the handler, so a
sample of a few ms spans several duty cycles and its mean is the throttled cost; a single
sub-ms call would be bimodal. Kernels of one chunk are timed in interleaved rounds (drift
and foreign load hit all alike); a kernel whose sample outlasts ``max_kernel_ms / repeats``
gets fewer samples (at least 3: AlexNet-sized kernels at 4× take 0.1–0.6 s a call). ``ms`` is
the median and ``ms_min`` the fastest sample; the fixed per-call cost (``tf.tidy`` around one
identity op, ``clone``, timed the same way) gives ``ms_net``. wasm ops run synchronously, so
no read-back is needed (a model does not read back its intermediate tensors either). Every
call runs in ``tf.tidy``; each chunk's kernels are disposed after timing and the tensors
left behind are counted (``leaked_tensors``, 0 = memory flat).

**Which statistic** (measured 2026-12-07, 2 shared cores at load 4–7): under throttling on
a loaded machine ``ms_min`` is *not* the kernel's own cost as it is for native TF. The
throttler's signalling thread is itself starved at times, and a sample taken while it waits
runs unthrottled: fastest samples came out 1×–10× below the median (median spread 2×), some
at the unthrottled speed. Prefer ``ms`` (median) as the browser side's target.
"""
from __future__ import annotations

import logging
import math
import numbers
import os
import platform
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib import browser
from hybridlib.profiling.kernel_space import CONFIG_FIELDS, KERNEL_TYPES
from hybridlib.profiling.scripts import page_script
from hybridlib.profiling.devices import set_cpu_throttle
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

RUNTIMES = ("layers", "graph")
#: the column to learn for ``side="browser"``: on a loaded machine the fastest throttled sample
#: can escape the throttle (module docstring), so the median, not ``ms_min`` as for native TF
BROWSER_TARGET = "ms"
#: backends whose ops run synchronously on the page's thread (webgl would need a read-back)
BACKENDS = ("wasm", "cpu")
#: a chunk of kernels built at once: at most this many, and at most this many float32
#: elements of weights + inputs + outputs (AlexNet's fc6 alone holds 37.7 M)
CHUNK_KERNELS = 48
CHUNK_ELEMENTS = 60_000_000

#: ``window.hlk``: builds one kernel from its configuration (and optional Keras weights) in
#: either runtime; ``build`` returns ``{run, out, dispose}``. Installed once per page.
KERNEL_JS = page_script("kernel_lib.js")

#: runs ``[cfgs, weights, inputs, runtime]`` → outputs ``[{shape, b64}]`` (correctness checks)
OUTPUT_JS = page_script("kernel_outputs.js")

#: builds one chunk ``[cfgs, runtime, warmup]`` and runs the warmup calls, *unthrottled* (the
#: first call sets up XNNPACK operators and buffers; a throttled warmup of AlexNet-sized
#: kernels would cost seconds and measure nothing); keeps it as ``window.__hlkChunk``.
#: ``per`` (ms per call, fastest warmup call) seeds the throttled autorange.
PREP_JS = page_script("kernel_prep.js")

#: times the prepared chunk ``[repeats, targetMs, maxKernelMs, rate]`` → ``{times, inner}``;
#: kernel 0 of ``times`` is the identity (the fixed per-call cost)
TIME_JS = page_script("kernel_time.js")

#: disposes the prepared chunk → tensors it left behind (0 = memory flat)
DONE_JS = page_script("kernel_done.js")

#: the page's backend, TF.js version and wasm features (provenance of every row)
ENV_JS = page_script("kernel_env.js")


def _out_hw(h: int, k: int, s: int, padding: str) -> int:
    return math.ceil(h / s) if padding == "same" else (h - k) // s + 1


def clean_config(cfg: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """``cfg`` reduced to :data:`CONFIG_FIELDS` with defaults, types and shapes checked.

    Raises InputError naming ``where`` and the field, so a bad row of a corpus is found
    before a browser starts (a bad shape inside the page would fail the whole chunk).
    """
    t = cfg.get("kernel_type")
    if t not in KERNEL_TYPES:
        raise InputError(f"{where}: unknown kernel type {t!r}; known: {', '.join(KERNEL_TYPES)}")
    out: dict[str, Any] = {"kernel_type": str(t), "kernel": 1, "stride": 1, "padding": "same",
                           "n_inputs": 2 if t.startswith("add") else 1}
    for f in ("h", "w", "c_in", "c_out"):
        if f not in cfg:
            raise InputError(f"{where}: {t} needs field {f!r}")
    for f in CONFIG_FIELDS[1:]:
        if f in cfg and cfg[f] is not None and not (isinstance(cfg[f], float) and math.isnan(cfg[f])):
            out[f] = cfg[f]
    try:
        for f in ("h", "w", "c_in", "c_out", "kernel", "stride", "n_inputs"):
            out[f] = int(out[f])
    except (TypeError, ValueError) as e:
        raise InputError(f"{where}: {t}: non-integer size field ({e})") from None
    out["padding"] = str(out["padding"])
    if out["padding"] not in ("same", "valid"):
        raise InputError(f"{where}: padding must be 'same' or 'valid', got {out['padding']!r}")
    if min(out[f] for f in ("h", "w", "c_in", "c_out", "kernel", "stride", "n_inputs")) < 1:
        raise InputError(f"{where}: {t}: sizes must be ≥ 1, got {out}")
    if t in ("maxpool", "avgpool") or t.startswith("conv"):
        if min(_out_hw(out["h"], out["kernel"], out["stride"], out["padding"]),
               _out_hw(out["w"], out["kernel"], out["stride"], out["padding"])) < 1:
            raise InputError(f"{where}: {t}: kernel {out['kernel']} stride {out['stride']} "
                             f"leaves no output on a {out['h']}×{out['w']} map ({out['padding']})")
    if t == "concat" and out["n_inputs"] > out["c_in"]:
        raise InputError(f"{where}: concat of {out['n_inputs']} inputs needs c_in ≥ n_inputs")
    return out


def kernel_elements(cfg: dict[str, Any]) -> int:
    """float32 elements a built kernel holds: weights + inputs + output (for chunking)."""
    t, h, w, ci, co, k = (cfg[f] for f in ("kernel_type", "h", "w", "c_in", "c_out", "kernel"))
    if t.startswith("fc"):
        return ci * co + ci + 2 * co
    weights = k * k * ci * co + 6 * co if t.startswith("conv") else 4 * ci
    return weights + 2 * h * w * max(ci, co) * (2 if t.startswith("add") else 1)


def chunk_indices(cfgs: Sequence[dict[str, Any]], max_kernels: int = CHUNK_KERNELS,
            max_elements: int = CHUNK_ELEMENTS) -> list[list[int]]:
    """Row indices in consecutive chunks bounded by count and by memory."""
    out: list[list[int]] = []
    cur: list[int] = []
    size = 0
    for i, c in enumerate(cfgs):
        e = kernel_elements(c)
        if cur and (len(cur) >= max_kernels or size + e > max_elements):
            out.append(cur)
            cur, size = [], 0
        cur.append(i)
        size += e
    if cur:
        out.append(cur)
    return out


def _check_common(backend: str, runtime: str) -> None:
    if backend not in BACKENDS:
        raise InputError(f"backend must be one of {', '.join(BACKENDS)} (synchronous ops), got {backend!r}")
    if runtime not in RUNTIMES:
        raise InputError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")


def open_page(page: Any) -> dict[str, Any]:
    """Install ``window.hlk`` (:data:`KERNEL_JS`) in ``page``; returns the page's TF.js environment."""
    page.evaluate(KERNEL_JS)
    return dict(page.evaluate(ENV_JS))


def profile_kernels_tfjs(configs: Sequence[dict[str, Any]], repeats: int = 7, warmup: int = 2,
                         cpu_throttle: float = 4.0, backend: str = "wasm", runtime: str = "layers",
                         target_ms: float = 3.0, max_kernel_ms: float = 300.0,
                         reference: dict[str, Any] | None = None) -> pd.DataFrame:
    """Time every kernel configuration in TF.js (``backend``) in headless Chromium at ``cpu_throttle``×.

    Same columns as :func:`kernels.profile_kernels` — the configuration, ``ms`` (median of
    ``repeats`` samples, ms per call), ``ms_min`` (fastest sample), ``ms_net`` (``ms_min``
    minus the identity's per-call cost, ≥ 0), ``call_overhead_ms``, ``side`` = ``browser``,
    ``row`` (position in ``configs``) — plus ``inner`` (calls per sample) and provenance:
    ``backend`` (``tfjs-wasm``), ``runtime`` (``layers``/``graph``, see the module
    docstring), ``cpu_throttle`` (the rate applied), ``chromium``, ``tfjs``, ``wasm_simd``,
    ``wasm_threads``, ``repeats``, ``warmup``, ``target_ms``, ``host``, ``leaked_tensors``.

    One browser session serves the whole list, in chunks of at most :data:`CHUNK_KERNELS`
    kernels / :data:`CHUNK_ELEMENTS` float32 elements; each chunk's kernels are timed in
    interleaved rounds. ``target_ms`` is the least duration of one sample (autorange: the
    page's clock ticks in 0.1 ms, the throttler's duty cycle is sub-ms); ``max_kernel_ms``
    bounds the sampled time per kernel (a kernel gets ``repeats`` samples unless that would
    exceed it, and never fewer than 3), which keeps AlexNet-sized kernels from dominating the
    run. On a loaded machine prefer ``ms`` to ``ms_min`` (module docstring). ``ms_all`` holds
    every sample. ``cpu_throttle=1`` times the unthrottled page (the desktop device class).

    ``reference`` (a kernel configuration, e.g. ``timing.REFERENCE_KERNEL``): built and timed
    first in *every* chunk, in the same interleaved rounds, as the native corpus' drift
    reference is. Adds ``ref_ms`` (the chunk's median reference sample) and ``ms_ref_adj``:
    the median over rounds of the kernel's sample / the reference's sample *of the same round*,
    times the run's median reference sample. Why: the throttled page's speed drifts with the
    machine's load and the throttler's starvation; a ratio taken within one round cancels what
    hits both, and the run-wide scale keeps ms. Whether that lowers the cross-session floor is
    measured, not assumed (``benchmarks/bench_predict.py --cross-session``).
    """
    if not configs:
        raise InputError("no kernel configurations to profile")
    if repeats < 1:
        raise InputError(f"repeats must be ≥ 1, got {repeats}")
    if warmup < 0:
        raise InputError(f"warmup must be ≥ 0, got {warmup}")
    if not (isinstance(cpu_throttle, numbers.Real) and not isinstance(cpu_throttle, bool)
            and np.isfinite(cpu_throttle) and cpu_throttle >= 1):
        raise InputError(f"cpu_throttle must be a number ≥ 1 (1 = no throttling), got {cpu_throttle!r}")
    if not (np.isfinite(target_ms) and 0.5 <= target_ms <= 1000):
        raise InputError(f"target_ms must be in [0.5, 1000], got {target_ms!r}")
    if not (np.isfinite(max_kernel_ms) and max_kernel_ms > 0):
        raise InputError(f"max_kernel_ms must be a number > 0, got {max_kernel_ms!r}")
    _check_common(backend, runtime)
    cfgs = [clean_config(dict(c), f"configs[{i}]") for i, c in enumerate(configs)]
    ref = [clean_config(dict(reference), "reference")] if reference is not None else []
    chunks = chunk_indices(cfgs, max_kernels=CHUNK_KERNELS - len(ref))

    def job() -> tuple[list[dict[str, Any]], dict[str, Any], float, float]:
        t0 = time.perf_counter()
        rows: list[dict[str, Any]] = []
        with browser.tfjs_session(backend=backend, timeout_s=600) as (page, _url):
            env = open_page(page)
            # the first throttle goes through set_cpu_throttle (validation, logging); each chunk
            # is then built and warmed unthrottled and timed throttled on the same CDP session
            rate = set_cpu_throttle(page, float(cpu_throttle))
            cdp = page._hl_cdp  # noqa: SLF001 - kept alive by set_cpu_throttle
            for n, idx in enumerate(chunks):
                cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1.0})
                try:
                    prep = page.evaluate(PREP_JS, [ref + [cfgs[i] for i in idx], runtime, warmup])
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": rate})
                    res = page.evaluate(TIME_JS, [repeats, target_ms, max_kernel_ms, rate])
                finally:
                    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1.0})
                    leak = int(page.evaluate(DONE_JS))
                if leak:
                    log.warning("kernel chunk %d left %d tensors behind", n, leak)
                times, inner = res["times"], res["inner"]
                overhead = float(min(times[0]))
                nref = 1 + len(ref)  # the identity, then the reference if any
                for j, i in enumerate(idx):
                    ts = times[j + nref]
                    row = {**cfgs[i], "ms": float(np.median(ts)), "ms_min": float(min(ts)), "ms_all": ts,
                           "ms_net": max(float(min(ts)) - overhead, 0.0), "call_overhead_ms": overhead,
                           "inner": int(inner[j + nref]), "row": i, "leaked_tensors": leak}
                    if ref:
                        rs = times[1]
                        row["ref_ms"] = float(np.median(rs))
                        row["ref_all"] = list(rs)
                        # the same round's reference: round r of both, over the rounds both were
                        # sampled in (either may get fewer than ``repeats``: the per-kernel time cap)
                        k = min(len(ts), len(rs))
                        row["_ratio"] = float(np.median(np.asarray(ts[:k]) / np.maximum(rs[:k], 1e-9)))
                    rows.append(row)
                log.info("tfjs kernels: chunk %d/%d (%d kernels): build+warmup %.1f s, autorange %.1f s, "
                         "rounds %.1f s", n + 1, len(chunks), len(idx), prep["prep_ms"] / 1e3,
                         res["calib_ms"] / 1e3, res["rounds_ms"] / 1e3)
        return rows, env, rate, time.perf_counter() - t0

    rows, env, rate, secs = browser.run_sync(job)
    log.info("profiled %d kernels in TF.js (%s, %s runtime, %g× throttle) in %.1f s",
             len(rows), env.get("backend"), runtime, rate, secs)
    df = pd.DataFrame(rows).sort_values("row", kind="stable").reset_index(drop=True)
    if ref:
        # the scale: the run's median reference sample (its fastest may have escaped the throttle)
        scale = float(np.median(np.concatenate([np.asarray(r, float) for r in df["ref_all"]])))
        df["ms_ref_adj"] = df.pop("_ratio") * scale
        df = df.drop(columns=["ref_all"])
    df["side"] = "browser"
    prov = {"backend": f"tfjs-{env.get('backend')}", "runtime": runtime, "cpu_throttle": rate,
            "chromium": browser.chromium_version(), "tfjs": env.get("tfjs"),
            "wasm_simd": env.get("wasm_simd"), "wasm_threads": env.get("wasm_threads"),
            "repeats": repeats, "warmup": warmup, "target_ms": float(target_ms),
            "max_kernel_ms": float(max_kernel_ms),
            "host": platform.node(), "cpu_count": os.cpu_count(), "seconds": secs}
    for k, v in prov.items():
        df[k] = v
    return df


def kernel_outputs_tfjs(configs: Sequence[dict[str, Any]], weights: Sequence[Sequence[np.ndarray]],
                        inputs: Sequence[Sequence[np.ndarray]], runtime: str = "layers",
                        backend: str = "wasm") -> list[np.ndarray]:
    """Each kernel's output in the page, built from ``configs`` with the given Keras
    ``weights`` (``kernel_model(cfg).get_weights()`` order; BN folded in the page for
    ``runtime="graph"``) on the given ``inputs`` (one array per kernel input, batch 1).

    Why: the timed kernels are built in the page from their configuration alone, so this is
    the check that what is timed computes what the Keras kernel computes.
    """
    _check_common(backend, runtime)
    if not configs:
        raise InputError("no kernel configurations given")
    if not (len(configs) == len(weights) == len(inputs)):
        raise InputError(f"configs, weights and inputs differ in length "
                         f"({len(configs)}, {len(weights)}, {len(inputs)})")
    cfgs = [clean_config(dict(c), f"configs[{i}]") for i, c in enumerate(configs)]
    enc = lambda a: {"shape": list(np.shape(a)), "b64": browser.f32_to_b64(a)}  # noqa: E731
    ws = [[enc(w) for w in ww] for ww in weights]
    xs = [[enc(x) for x in xx] for xx in inputs]

    def job() -> list[dict[str, Any]]:
        with browser.tfjs_session(backend=backend, timeout_s=300) as (page, _url):
            open_page(page)
            return list(page.evaluate(OUTPUT_JS, [cfgs, ws, xs, runtime]))

    res = browser.run_sync(job)
    return [browser.f32_from_b64(r["b64"]).reshape(r["shape"]) for r in res]
