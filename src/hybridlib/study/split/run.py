"""Notebook 09's study, step by step: profile each case, choose the cuts, execute them, score the engine.

Each step returns a result object the notebook displays and the next step reads; the
notebook keeps the narrative, parameters and figures. A *case* is one (model, device class,
network, load) condition from the preset's ``split_cases`` (``(model, n_cuts, networks,
devices, loads)`` tuples, :class:`hybridlib.config.Preset`).

* :func:`profile_cases` — the engine's graph per (model, device class) and the
  reconciliation table (isolated layer sums vs reconciled vs whole-model time);
* :func:`predicted_cost_choices` — the cut solved on *predicted* kernel costs (04's predictor)
  for the phone, where the kernel corpus has a browser side;
* :func:`choose_cuts` — which cuts run: both end cuts, every engine choice, evenly spread others;
* :func:`execute_cases` — one server + page per model and load, and the engine's prediction for
  each executed case, calibrated by the measured server factor and uncalibrated;
* :func:`score` — the engine's choice against the measured best, per case and overall;
* :func:`result_record` — ``results/09_split.json``.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hybridlib import models, partition
from hybridlib.export import split_assets
from hybridlib.profiling import decision, kernels, reconcile, tables
from hybridlib.study.split import analysis, execute, predict, profiles

#: a preset's split case: (model, cuts to run (0 = all), networks, device classes, loads)
Case = tuple[str, int, Sequence[str], Sequence[str], Sequence[str]]

#: what the uncalibrated summary keeps of :func:`hybridlib.study.split.analysis.summarize`
UNCALIBRATED_KEYS = ("hit_rate", "hits", "median_regret", "worst_regret", "worst_case", "intermediate_chosen",
                     "speedup_vs_cloud", "speedup_vs_device")


@dataclass
class Profiles:
    """The engine's graphs per (model, device class) and how their profiles add up."""

    graphs: dict[tuple[str, str], partition.Graph]
    reconciliation: pd.DataFrame
    seconds: dict[str, float] = field(default_factory=dict)  # per model: ``profiles_<model>``
    total_s: float = 0.0


def profile_cases(ctx: Any, cases: Sequence[Case], dtype: str = "float32") -> Profiles:
    """Profile every (model, device class) of ``cases`` (cached files; see
    :mod:`hybridlib.study.split.profiles`) and tabulate each side's reconciliation."""
    t0 = time.perf_counter()
    graphs, recon, secs = {}, [], {}
    for m, _n, _nets, devs, _loads in cases:
        t_m = time.perf_counter()
        for d in devs:
            graphs[(m, d)] = profiles.device_graph(ctx, m, d, dtype=dtype)
            js = profiles.ensure_device_profile(ctx, m, d)
            recon.append(reconcile.reconciliation_table(js).assign(device_class=d))
        cl = tables.ensure_profile(ctx, m, progress=False)
        recon.append(reconcile.reconciliation_table(cl[cl["side"] == "cloud"]).assign(device_class="cloud"))
        secs[f"profiles_{m}"] = time.perf_counter() - t_m
    return Profiles(graphs, pd.concat(recon, ignore_index=True), secs, time.perf_counter() - t0)


def predicted_cost_choices(ctx: Any, cases: Sequence[Case],
                           graphs: Mapping[tuple[str, str], partition.Graph]) -> dict[tuple[str, str, str, str], str]:
    """Per phone case ``(model, "phone", network, load)``: the cut solved on the kernel predictor's
    costs (browser side for the device, 04's corpus); empty when the corpus has no browser side."""
    kcorpus = kernels.ensure_kernel_corpus(ctx)
    phone = {m: graphs[(m, "phone")] for m, _n, _nets, devs, _loads in cases if "phone" in devs}
    pred_graphs = (decision.predicted_graphs(kcorpus, phone, device_side="browser")
                   if "browser" in set(kcorpus.side) else {})
    return {(m, "phone", net, load): predict.predict_cuts(pred_graphs[m], net).attrs["chosen"]
            for m, _n, nets, _devs, loads in cases if m in pred_graphs for net in nets for load in loads}


def choose_cuts(ctx: Any, cases: Sequence[Case], graphs: Mapping[tuple[str, str], partition.Graph],
                must_run: Mapping[tuple[str, str, str, str], str] | None = None) -> dict[str, list[str]]:
    """Per model, the cuts to execute: :func:`hybridlib.study.split.predict.select_cuts` over the
    model's chain cut points, keeping the engine's choice for every (device, network) at an idle
    server and every cut of ``must_run`` (e.g. :func:`predicted_cost_choices`) for that model."""
    cuts = {}
    for m, n, nets, devs, _loads in cases:
        km = split_assets.load_h5(split_assets.model_h5(m, ctx))  # loaded once for profile, cuts, heads and tails
        allowed = models.chain_cut_points(km)
        must = [predict.predict_cuts(graphs[(m, d)], net).attrs["chosen"] for d in devs for net in nets]
        must += [c for (mm, *_), c in (must_run or {}).items() if mm == m]
        cuts[m] = predict.select_cuts(graphs[(m, devs[0])], n, must=must, allowed=allowed)
    return cuts


@dataclass
class Executed:
    """Every executed record, the engine's predictions for the same cases, and each run's provenance."""

    records: pd.DataFrame
    predicted: pd.DataFrame      # cloud compute scaled by the measured server factor
    predicted_raw: pd.DataFrame  # uncalibrated: the run's load factor (1 when idle)
    runs: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)  # per model: ``execute_<model>``
    total_s: float = 0.0


def run_record(df: pd.DataFrame, grid_attrs: Mapping[str, Any], *, model: str, device: str, network: str,
               load: str, factor: float, source: str) -> dict[str, Any]:
    """Provenance of one executed case: load and server factors, CPU-rate and link read-backs, shaper, backend."""
    link = (grid_attrs.get("link") or {}).get(network) or {}
    return {"model": model, "device": device, "network": network, "load": load,
            "load_factor": float(df["load_factor"].iloc[0]) if "load_factor" in df else 1.0,
            "server_factor": factor, "server_factor_source": source,
            "measured_cpu_rate": ((grid_attrs.get("device") or {}).get(device) or {}).get("measured_rate"),
            "link": {k: link.get(k) for k in ("up_mbps", "down_mbps", "rtt_ms")},
            "shaper": str(df["shaper"].iloc[0]), "backend": str(df["backend"].iloc[0])}


def execute_cases(ctx: Any, cases: Sequence[Case], cuts: Mapping[str, Sequence[str]],
                  graphs: Mapping[tuple[str, str], partition.Graph], *, dtype: str = "float32", codec: str = "none",
                  repeats: int | None = None, warmup: int | None = None,
                  run_grid: Callable[..., pd.DataFrame] = execute.execute_grid) -> Executed:
    """Execute ``cuts`` for every case — one server, browser and page per model and load
    (``run_grid``: :func:`hybridlib.study.split.execute.execute_grid`) — and predict each executed
    case with the measured server factor and uncalibrated. ``repeats``/``warmup`` default to the
    preset's ``split_repeats``/``split_warmup``."""
    repeats = ctx.preset.split_repeats if repeats is None else repeats
    warmup = ctx.preset.split_warmup if warmup is None else warmup
    t0 = time.perf_counter()
    frames, preds, preds_raw, runs, secs = [], [], [], [], {}
    for m, _n, nets, devs, loads in cases:
        t_m = time.perf_counter()
        for load in loads:
            grid = run_grid(m, list(cuts[m]), devices=devs, networks=nets, load=load, repeats=repeats,
                            warmup=warmup, dtype=dtype, codec=codec, ctx=ctx)
            frames.append(grid)
            for d in devs:
                for net in nets:
                    df = grid[(grid["device"] == d) & (grid["network"] == net)]
                    factor, source = predict.server_factor(graphs[(m, d)], df, grid.attrs.get("load"))
                    run = run_record(df, grid.attrs, model=m, device=d, network=net, load=load, factor=factor,
                                     source=source)
                    case = {"model": m, "device": d, "network": net, "load": load}
                    preds.append(predict.predict_case(graphs[(m, d)], **case, load_factor=factor))
                    preds_raw.append(predict.predict_case(graphs[(m, d)], **case, load_factor=run["load_factor"]))
                    runs.append(run)
        secs[f"execute_{m}"] = time.perf_counter() - t_m
    return Executed(pd.concat(frames, ignore_index=True), pd.concat(preds, ignore_index=True),
                    pd.concat(preds_raw, ignore_index=True), runs, secs, time.perf_counter() - t0)


@dataclass
class Scores:
    """The engine's choices scored on the executed medians (see :mod:`hybridlib.study.split.analysis`)."""

    measured: pd.DataFrame        # per case × cut medians
    cases: pd.DataFrame           # per case: chosen vs measured best (calibrated engine)
    summary: dict[str, Any]       # headline numbers, seeds beside ours
    uncalibrated: dict[str, Any]  # the same for the uncalibrated engine
    predicted_plans: pd.DataFrame  # the plans made on predicted kernel costs, executed
    piece_errors: pd.DataFrame
    disagreements: pd.DataFrame


def score(ex: Executed, predicted_choices: Mapping[tuple[str, str, str, str], str], *, dtype: str = "float32",
          codec: str = "none", top: int = 8) -> Scores:
    """Score :func:`execute_cases`' run: hit, regret and speed-ups per case, calibrated and not,
    the predicted-cost plans' regret, the per-piece errors and the ``top`` worst (case, cut) pairs."""
    wire = {"dtype": dtype, "codec": codec}
    measured = analysis.measured_cuts(ex.records)
    comp = analysis.compare(ex.predicted, ex.records)
    return Scores(measured=measured, cases=comp, summary=analysis.summarize(comp, wire=wire),
                  uncalibrated=analysis.summarize(analysis.compare(ex.predicted_raw, ex.records), wire=wire),
                  predicted_plans=analysis.executed_regret(measured, predicted_choices),
                  piece_errors=analysis.piece_errors(ex.predicted, ex.records),
                  disagreements=analysis.disagreements(ex.predicted, ex.records, top=top))


def result_record(prof: Profiles, cuts: Mapping[str, Sequence[str]], ex: Executed, sc: Scores, *,
                  dtype: str, codec: str, repeats: int, warmup: int) -> dict[str, Any]:
    """``results/09_split.json``: the summary, the uncalibrated engine, the wire, the cuts and runs,
    the profiles' reconciliation, the errors and the predicted-cost plans (JSON-ready)."""
    pe = sc.predicted_plans
    return analysis.jsonable({
        **sc.summary,
        "uncalibrated": {k: sc.uncalibrated[k] for k in UNCALIBRATED_KEYS},
        "wire_dtype": dtype, "wire_codec": codec,
        "cuts": dict(cuts),
        "runs": ex.runs,
        "records": int(len(ex.records)),
        "repeats": repeats, "warmup": warmup,
        "profiles": prof.reconciliation.drop(columns=[c for c in ("cpu_throttle",) if c in prof.reconciliation])
        .to_dict("records"),
        "piece_errors": sc.piece_errors.to_dict("records"),
        "disagreements": sc.disagreements[["model", "device", "network", "load", "cut", "total_ms_pred",
                                           "total_ms_meas", "total_error", "worst_piece"]].to_dict("records"),
        "energy_source": "model",
        "predicted_cost_plans": {"method": "additive+rf", "train": "families", "device_side": "browser",
                                 "cases": pe.to_dict("records"),
                                 "worst_regret": float(pe["regret"].max()) if len(pe) else None,
                                 "hits": int(pe["hit"].sum()), "n": int(len(pe))},
        "seconds": {"profiles": prof.total_s, "execute": ex.total_s, **prof.seconds, **ex.seconds},
    })
