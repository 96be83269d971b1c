"""Edgent's exit × cut choice with the converter, under a named device **cost model**, and its
executed sample: predicted vs measured, deadline met or missed.

Why two cost models: the first one 06 used predicted the device side as native TF's CPU time
× the device class's throttle rate; the page runs TF.js on wasm, which on this model is several
times slower than native TF, so every device-heavy plan was predicted too fast and missed its
deadline when executed. The second takes the device side from the **throttled TF.js (wasm)
profile of the same device class** (:func:`hybridlib.study.split.profiles.ensure_device_profile`:
DevTools CPU throttling applied before timing, per layer, reconciled with the whole model), which
is what the executed page runs. Both share the cloud side (native TF, all cores), the §5
transfer formula and the converter's measured bytes.

Pure functions, tested in ``tests/unit/test_edgent.py``: :func:`options`, :func:`plan_rows`,
:func:`measured_ms`, :func:`executed`, :func:`deadlines_around`.
"""
from __future__ import annotations

import math
import statistics
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridlib.serving.tails import TailRunner
from hybridlib.study.early_exit import converter
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

CONVERTER = "exit1 + converter"
EXIT_ONLY = "exit1 only (device)"


def options(seg_ms: Sequence[float], trunk: Sequence[Mapping[str, Any]], edge_ms: float, network: Any, *,
            ref_acc: float, op: Mapping[str, Any], branch_acc: float, crop_bytes: float, crop_cloud_ms: float,
            tail_cloud_ms: float, cut_bytes: Mapping[str, float],
            tail_ms: Mapping[str, float] | None = None, converter_cut: str | None = None) -> list[dict[str, Any]]:
    """Edgent's options for one device class and network.

    ``trunk``: the final-exit model's segments (``id``, ``cloud_ms``; input first, output last);
    ``seg_ms``: each segment's device ms under the cost model; ``edge_ms``: trunk to the exit +
    branch + encoder on the device; ``op``: the converter's operating point (``exit_fraction``,
    ``bytes_shipped``, ``overall_acc``, ``channels``). Options: device-only, cloud-only (the PNG
    crop up), each interior single cut (``cut_bytes`` up; **Neurosurgeon**, ``kind="single-cut"``),
    early exit + converter and the branch alone (``kind="exit"``). Each has ``worst_ms`` (a
    non-exited input), ``expected_ms`` and ``accuracy``.

    ``tail_ms`` (optional): the cloud side per cut as the server runs it (:func:`served_tail_ms`;
    keys = trunk ids, the input = cloud-only, and ``converter_cut``); replaces the profile's
    summed ``cloud_ms``, ``crop_cloud_ms`` and ``tail_cloud_ms``; interior cuts it has no entry
    for are not offered.
    """
    if len(seg_ms) != len(trunk) or len(trunk) < 2:
        raise InputError(f"seg_ms ({len(seg_ms)}) must give one device cost per trunk segment ({len(trunk)} ≥ 2)")
    if any(not (math.isfinite(float(v)) and v >= 0) for v in seg_ms):
        raise InputError("seg_ms must be finite and ≥ 0")
    opts: list[dict[str, Any]] = []
    cum = 0.0
    for i, (c, ms) in enumerate(zip(trunk, seg_ms)):
        cum += float(ms)
        if i == len(trunk) - 1:
            o = {"name": "device-only", "worst_ms": cum, "expected_ms": cum}
        elif i == 0:
            cl = float(tail_ms[c["id"]]) if tail_ms else crop_cloud_ms
            o = {"name": "cloud-only (PNG)", **converter.expected_latency_ms(0.0, 0.0, crop_bytes, cl, network)}
        elif tail_ms is not None and c["id"] not in tail_ms:
            continue  # the server's tail was not timed at this cut: not an option under this model
        else:
            rest = float(tail_ms[c["id"]]) if tail_ms else sum(float(t["cloud_ms"]) for t in trunk[i + 1:])
            o = {"name": f"cut @{c['id']}", **converter.expected_latency_ms(cum, 0.0, float(cut_bytes[c["id"]]), rest, network)}
        opts.append({**o, "accuracy": float(ref_acc), "kind": "single-cut"})
    ef = float(op["exit_fraction"])
    if tail_ms and converter_cut is None:
        raise InputError("tail_ms needs converter_cut (the converter's /split cut)")
    tail = float(tail_ms[converter_cut]) if tail_ms else tail_cloud_ms
    ee = converter.expected_latency_ms(edge_ms, ef, float(op["bytes_shipped"]) if ef < 1 else 0.0, tail, network)
    opts.append({"name": f"{CONVERTER} C={int(op['channels'])}", **ee, "accuracy": float(op["overall_acc"]), "kind": "exit"})
    opts.append({"name": EXIT_ONLY, "worst_ms": edge_ms, "expected_ms": edge_ms, "accuracy": float(branch_acc),
                 "kind": "exit"})
    return opts


def deadlines_around(option_sets: Sequence[Sequence[Mapping[str, Any]]], n: int = 6, margin: float = 1.1,
                     key: str = "worst_ms") -> list[float]:
    """Deadlines placed **around the options' own costs**, so Edgent's plans differ between them.

    For each option set (one device × network), the latency–accuracy frontier (the options no
    faster option beats on accuracy) marks where Edgent's choice changes; a deadline ``margin``×
    above a frontier option's latency admits it and nothing slower. Returns one deadline below
    the fastest option of all (infeasible everywhere: the plan says why) and up to ``n − 1``
    frontier deadlines spread over their range, each rounded to 2 significant digits (still
    inside the margin). Why: fixed deadlines of 50–500 ms against ~50 ms plans were all met and
    chose the same plans, so they tested nothing."""
    if not (isinstance(n, int) and n >= 2) or not (1.0 < margin < 1.5):
        raise InputError(f"need n ≥ 2 and 1 < margin < 1.5, got n={n!r}, margin={margin!r}")
    pts: set[float] = set()
    fastest = math.inf
    for opts in option_sets:
        if not opts:
            continue
        best = -math.inf
        for o in sorted(opts, key=lambda o: (float(o[key]), -float(o["accuracy"]))):
            if float(o["accuracy"]) > best + 1e-12:
                pts.add(float(f"{float(o[key]) * margin:.2g}"))
                best = float(o["accuracy"])
        fastest = min(fastest, min(float(o[key]) for o in opts))
    if not pts or not (math.isfinite(fastest) and fastest > 0):
        raise InputError("no options with a positive latency to place deadlines around")
    front = sorted(pts)
    if len(front) > n - 1:
        front = [front[i] for i in sorted({int(round(k)) for k in np.linspace(0, len(front) - 1, n - 1)})]
    return [float(f"{fastest / margin:.2g}"), *front]


def served_tail_ms(model_path: Any, cuts: Sequence[str], repeats: int = 7, seed: int = 0) -> dict[str, float]:
    """Median ms of the server's own tail call (:class:`hybridlib.serving.tails.TailRunner`, what
    ``POST /split/<cut>`` times as ``server_ms``) per cut of the ``.h5`` at ``model_path``, on a
    seeded batch-1 input, after one untimed call. ``input`` (or the input layer's name) = the
    whole model (cloud-only). Why: the per-layer profile times compiled layers; the server calls
    the Keras tail eagerly, which on this small CNN costs several times more per request."""



    if repeats < 1:
        raise InputError(f"repeats must be ≥ 1, got {repeats!r}")
    tr = TailRunner(Path(model_path))
    names = [l.name for l in tr.model().layers]
    rng = np.random.default_rng(seed)
    out: dict[str, float] = {}
    for c in cuts:
        layer = names[0] if c == "input" else c
        sp = tr.split(layer)
        x = rng.random((1, *sp.shapes[0]), dtype=np.float32)
        tr.run(layer, x)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            tr.run(layer, x)
            ts.append((time.perf_counter() - t0) * 1000)
        out[c] = float(statistics.median(ts))
    return out


def plan_rows(opts: Sequence[Mapping[str, Any]], deadlines: Sequence[float], **labels: Any) -> list[dict[str, Any]]:
    """Edgent (all options) and Neurosurgeon (single cuts only) per deadline, as table rows."""
    rows = []
    for d in deadlines:
        ed = converter.edgent_plan(opts, d)
        ns = converter.edgent_plan([o for o in opts if o["kind"] == "single-cut"], d)
        rows.append({**labels, "deadline_ms": d,
                     "edgent": ed.get("name") if ed["feasible"] else "infeasible",
                     "edgent_acc": ed.get("accuracy"), "edgent_worst_ms": ed.get("worst_ms"),
                     "edgent_expected_ms": ed.get("expected_ms"),
                     "neurosurgeon": ns.get("name") if ns["feasible"] else "infeasible",
                     "neurosurgeon_acc": ns.get("accuracy"), "neurosurgeon_ms": ns.get("worst_ms"),
                     "reason": ed.get("reason") or ns.get("reason")})
    return rows


def measured_ms(name: str | None, network: str, chain: Mapping[tuple[str, str], float],
                exit_run: Mapping[str, Mapping[str, float]], out_layer: str) -> float | None:
    """The measured worst-case ms of an option named ``name`` on ``network``.

    ``chain``: (cut, network) → median total of the chain model executed at that cut
    (device-only = ``out_layer``, cloud-only = ``input``, ``cut @L`` = L); ``exit_run``:
    network → ``{"ship_total_ms", "edge_ms"}`` from the early-exit page (shipped inputs' median
    total; the edge model's median time = the branch-alone answer). None when not executed.
    """
    if not name or name == "infeasible":
        return None
    if name.startswith(CONVERTER):
        v = exit_run.get(network, {}).get("ship_total_ms")
    elif name == EXIT_ONLY:
        v = exit_run.get(network, {}).get("edge_ms")
    else:
        cut = out_layer if name == "device-only" else "input" if name.startswith("cloud-only") else \
            name[len("cut @"):] if name.startswith("cut @") else None
        v = chain.get((cut, network)) if cut else None
    return None if v is None or not math.isfinite(float(v)) else float(v)


def cut_of(name: str | None, out_layer: str) -> str | None:
    """The chain-model cut that executes a single-cut option (None for exit options and infeasible)."""
    if not name or name == "infeasible" or name.startswith(CONVERTER) or name == EXIT_ONLY:
        return None
    if name == "device-only":
        return out_layer
    if name.startswith("cloud-only"):
        return "input"
    return name[len("cut @"):] if name.startswith("cut @") else None


def executed(sample: pd.DataFrame, chain: Mapping[tuple[str, str], float],
             exit_run: Mapping[str, Mapping[str, float]], out_layer: str) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Attach ``measured_ms``, ``met`` and ``pred_over_meas`` to each sampled plan (rows with
    ``cost_model``, ``network``, ``deadline_ms``, ``edgent``, ``edgent_worst_ms``) and summarise
    per cost model: hit rate over the executed plans, median predicted/measured, plans, infeasible."""

    for col in ("cost_model", "network", "deadline_ms", "edgent", "edgent_worst_ms"):
        if col not in sample.columns:
            raise InputError(f"sample has no {col!r} column")
    s = sample.copy()
    s["measured_ms"] = [measured_ms(n, net, chain, exit_run, out_layer) for n, net in zip(s.edgent, s.network)]
    ok = s.measured_ms.notna()
    s["met"] = [bool(m <= d) if k else None for m, d, k in zip(s.measured_ms, s.deadline_ms, ok)]
    s["pred_over_meas"] = [float(p) / float(m) if k and m > 0 else None
                           for p, m, k in zip(s.edgent_worst_ms, s.measured_ms, ok)]
    summary: dict[str, Any] = {}
    for cm, g in s.groupby("cost_model", sort=False):
        run = g[g.measured_ms.notna()]
        summary[str(cm)] = {
            "plans": int(len(g)), "executed": int(len(run)), "infeasible": int((g.edgent == "infeasible").sum()),
            "hit_rate": float(np.mean([bool(v) for v in run.met])) if len(run) else None,
            "pred_over_meas_median": float(np.median(run.pred_over_meas.astype(float))) if len(run) else None}
    return s, summary
