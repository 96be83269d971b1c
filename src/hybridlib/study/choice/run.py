"""Notebook 11's steps: plan (profiles, probe calibration, picks, cuts), execute, score, record.

Each step returns a dataclass the notebook shows and the next step reads.

* :func:`plan` — the cases of the preset's :class:`~hybridlib.study.choice.sizes.ChoiceSize`,
  the engine's graphs, the offload-overhead profile (:mod:`hybridlib.study.choice.overhead`),
  the unscored probe and its calibration, both engines' picks, the cuts;
* :func:`execute` — the scored run (:func:`hybridlib.study.choice.execute.run_cases`);
* :func:`score` — both engines against the measured best, 003's layout, the headline;
* :func:`result_record` — ``results/choice.json``.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hybridlib import models
from hybridlib.export import split_assets
from hybridlib.study.choice import cuts as cuts_mod
from hybridlib.study.choice import engine, seed003, table
from hybridlib.study.choice import execute as choice_execute
from hybridlib.study.choice import networks as nets_mod
from hybridlib.study.choice import overhead as overhead_mod
from hybridlib.study.choice import score as score_mod
from hybridlib.study.choice.sizes import ChoiceSize
from hybridlib.study.split import analysis, predict
from hybridlib.study.split import execute as split_execute


@dataclass
class Plan:
    """What runs: cases, the engine's graphs, the calibration (from the probe only), picks, cuts."""

    size: ChoiceSize
    cases: list[engine.CaseKey]
    graphs: dict[tuple[str, str], Any]
    points: dict[str, list[str]]
    calibration: engine.Calibration
    picks: pd.DataFrame
    cutsets: dict[str, cuts_mod.CutSet]
    seconds: dict[str, float] = field(default_factory=dict)
    overhead: overhead_mod.Overhead = field(default_factory=overhead_mod.Overhead)

    @property
    def cuts(self) -> dict[str, list[str]]:
        return {m: list(c.cuts) for m, c in self.cutsets.items()}


def cases_of(size: ChoiceSize) -> list[engine.CaseKey]:
    """(model, device, link, load) for every network of ``size`` that this checkout can run."""
    reg = nets_mod.registry()
    return [(m, d, n, load) for m in size.networks if m in reg for d, n, load in size.cells_for(m)]


def cut_points(ctx: Any, model: str, graph: Any) -> list[str]:
    """The graph's single-tensor cuts that the executor can run (chain cut points + both ends)."""
    km = split_assets.load_h5(split_assets.model_h5(model, ctx))
    pts = predict.cut_points(graph)
    ok = set(models.chain_cut_points(km)) | {pts[0], pts[-1]}
    return [c for c in pts if c in ok]


def plan(ctx: Any, size: ChoiceSize, probe: Callable[..., pd.DataFrame] = engine.probe_server,
         overhead: Callable[..., overhead_mod.Overhead] = overhead_mod.measure) -> Plan:
    """Profile (layers, then the offload overhead per network × device class), probe (unscored,
    held-out input), calibrate, pick, and choose the cuts to run."""
    secs: dict[str, float] = {"profiles": 0.0, "probe": 0.0}
    cases = cases_of(size)
    graphs, points, rows = {}, {}, []
    for m in dict.fromkeys(c[0] for c in cases):  # one network at a time: its .h5 stays loaded (load_h5)
        t = time.perf_counter()
        mine = [c for c in cases if c[0] == m]
        graphs.update(engine.profile_graphs(ctx, dict.fromkeys((m, d) for _m, d, _n, _l in mine), size.profile_repeats))
        points[m] = cut_points(ctx, m, graphs[(m, mine[0][1])])
        t2 = time.perf_counter()
        rows += [probe(ctx, m, load, size.probe_reps, load_users=size.load_users)
                 for load in dict.fromkeys(c[3] for c in mine)]
        secs["profiles"] += t2 - t
        secs["probe"] += time.perf_counter() - t2
    t = time.perf_counter()
    pairs = {m: list(dict.fromkeys(d for mm, d, _n, _l in cases if mm == m)) for m in points}
    ov = overhead(ctx, pairs, size.overhead_reps, seed=engine.PROBE_SEED)
    secs["overhead"] = time.perf_counter() - t
    return decide(size, cases, graphs, points, pd.concat(rows, ignore_index=True), secs, overhead=ov)


def decide(size: ChoiceSize, cases: list[engine.CaseKey], graphs: dict[tuple[str, str], Any],
           points: dict[str, list[str]], probe_rows: pd.DataFrame, seconds: dict[str, float] | None = None,
           overhead: overhead_mod.Overhead | None = None) -> Plan:
    """The pure half of :func:`plan`: calibrate on the probe rows, pick (the offload overhead
    priced), choose the cuts."""
    ov = overhead or overhead_mod.Overhead()
    cal = engine.calibrate(probe_rows, graphs)
    picks = engine.picks(graphs, cases, cal.factors, overhead=ov)
    cutsets = {}
    for m, pts in points.items():
        cap = size.cap_for(m)
        chosen = picks.loc[picks["model"] == m, "latency_pick"]
        cutsets[m] = cuts_mod.choose(m, pts, dict.fromkeys(chosen), max_cuts=cap or size.max_cuts,
                                     n=cap or size.sample_cuts, seed=size.seed)
    return Plan(size, cases, graphs, points, cal, picks, cutsets, dict(seconds or {}), ov)


def execute(ctx: Any, p: Plan, run_grid: Callable[..., pd.DataFrame] = split_execute.execute_grid
            ) -> choice_execute.Executed:
    """The scored run of ``p``'s cuts (input seed 0; the probe used another input and session)."""
    return choice_execute.run_cases(ctx, p.cases, p.cuts, repeats=p.size.repeats, warmup=p.size.warmup,
                                    readback=p.size.readback, load_users=p.size.load_users,
                                    factors=p.calibration.factors, run_grid=run_grid)


@dataclass
class Scores:
    """Both engines scored on the measured medians, in 003's layout."""

    measured: pd.DataFrame
    predicted: dict[str, pd.DataFrame]
    cases: dict[str, pd.DataFrame]
    summary: dict[str, dict[str, Any]]
    headline: list[dict[str, Any]]
    disjoint: dict[str, Any]


def _annotate(comp: pd.DataFrame, p: Plan, eng: str) -> pd.DataFrame:
    reg = nets_mod.registry()
    pk = p.picks[p.picks["engine"] == eng].set_index(["model", "device", "network", "load"])
    key = list(zip(comp["model"], comp["device"], comp["network"], comp["load"]))
    link003 = {v: k for k, v in seed003.LINK.items()}
    out = comp.assign(
        column=[reg[m].column for m in comp["model"]], engine=eng,
        energy_pick=[pk.loc[k, "energy_pick"] for k in key], energy_source=engine.ENERGY_LABEL,
        factor=[pk.loc[k, "factor"] for k in key],
        cuts_label=[p.cutsets[m].label for m in comp["model"]],
        chosen_pos=[cuts_mod.position(p.points[m], c) for m, c in zip(comp["model"], comp["chosen"])],
        best_pos=[cuts_mod.position(p.points[m], c) for m, c in zip(comp["model"], comp["best"])],
        energy_pos=[cuts_mod.position(p.points[k[0]], pk.loc[k, "energy_pick"]) for k in key])
    seed = [seed003.cell("latency", "CPU", link003[n], reg[m].bench003) if reg[m].bench003 and d == "phone" else None
            for m, d, n in zip(out["model"], out["device"], out["network"])]  # 003's CPU row ↔ our phone class
    out["seed_cut_003"] = seed
    out["seed_kind_003"] = [seed003.kind(reg[m].bench003, s) if s else None for m, s in zip(out["model"], seed)]
    return out


def score(p: Plan, ex: choice_execute.Executed) -> Scores:
    """Score both engines; the calibration (and overhead-profile) rows and the scored rows are checked disjoint first."""
    disjoint = engine.check_disjoint(p.calibration, ex.records, p.overhead.rows)
    measured = analysis.measured_cuts(ex.records)
    preds, cases, summ = {}, {}, {}
    for eng in engine.ENGINES:
        preds[eng] = engine.predictions(p.graphs, p.cases, p.cuts, eng, p.calibration.factors, p.overhead)
        cases[eng] = _annotate(score_mod.compare(preds[eng], ex.records), p, eng)
        summ[eng] = score_mod.summarize(cases[eng])
    return Scores(measured, preds, cases, summ, score_mod.headline(cases["uncalibrated"]), disjoint)


def overhead_ablation(p: Plan, ex: choice_execute.Executed) -> dict[str, Any]:
    """The uncalibrated engine with the offload overhead left unpriced (the engine before the overhead was profiled),
    scored on the same records — why the overhead is priced, side by side from one run. Scorable
    only where its picks were executed (always, for networks whose every cut runs)."""
    blind = decide(p.size, p.cases, p.graphs, p.points, p.calibration.rows).picks
    blind, ours = (x[x["engine"] == "uncalibrated"]["latency_pick"].to_numpy() for x in (blind, p.picks))
    models_ = [m for m, *_ in p.cases]
    missing = sorted({(m, c) for m, c in zip(models_, blind) if c not in p.cuts[m]})
    out = {"engine": "uncalibrated, offload overhead unpriced", "picks_changed": int((blind != ours).sum()),
           "not_executed": missing, "scored": not missing}
    if missing:
        return out
    comp = score_mod.compare(engine.predictions(p.graphs, p.cases, p.cuts, "uncalibrated", p.calibration.factors),
                             ex.records)
    return out | score_mod.summarize(comp)


def tables(sc: Scores, engine_name: str = "uncalibrated") -> dict[str, pd.DataFrame]:
    """003's layout: the latency pick, the modelled energy pick, the measured best, 003's cut
    where it may sit beside ours, and the combined ``pick | best`` table."""
    c = sc.cases[engine_name]
    return {"latency_pick": table.layout(c, "chosen"), "energy_pick_modelled": table.layout(c, "energy_pick"),
            "measured_best": table.layout(c, "best"), "seed_003": table.seed_cells(c),
            "side_by_side": table.side_by_side(c)}


def _table_json(t: pd.DataFrame) -> list[dict[str, Any]]:
    return t.reset_index().to_dict("records")


def result_record(p: Plan, ex: choice_execute.Executed, sc: Scores) -> dict[str, Any]:
    """``results/choice.json``: both engines' scores (uncalibrated = headline), the tables,
    003's quoted tables, the cuts, the calibration and its disjointness, runs and seconds."""
    tb = tables(sc)
    cols = ["model", "column", "device", "network", "load", "chosen", "best", "hit", "regret", "discriminating",
            "ends_ratio", "measured_chosen_ms", "measured_best_ms", "predicted_chosen_ms",
            "measured_device_only_ms", "measured_cloud_only_ms", "speedup_vs_cloud", "speedup_vs_device",
            "best_speedup_vs_cloud", "energy_pick",
            "seed_cut_003", "cuts_label", "factor"]
    return analysis.jsonable({
        "size": p.size.name, "notes": list(p.size.notes),
        "networks": list(dict.fromkeys(m for m, *_ in p.cases)),
        "cells": sorted({(d, n, load) for _m, d, n, load in p.cases}),
        "n_cases": len(p.cases), "hit_margin": analysis.HIT_MARGIN, "discriminating_rule":
            f"measured best is an interior cut, or device-only and cloud-only within {score_mod.CLOSE:g}× of each other",
        "headline_engine": "uncalibrated", "engines": sc.summary,
        "n_discriminating": sc.summary["uncalibrated"]["n_discriminating"],
        "headline_003": sc.headline,
        "tables": {k: _table_json(v) for k, v in tb.items()},
        "seed_003_quoted": {"source": seed003.SOURCE, "latency": seed003.rows("latency"),
                            "energy": seed003.rows("energy")},
        "cuts": {m: {"cuts": list(c.cuts), "points": len(c.points), "label": c.label, "random": list(c.random)}
                 for m, c in p.cutsets.items()},
        "calibration": {"factors": {f"{m}|{load}": f for (m, load), f in p.calibration.factors.items()},
                        "probe_seed": engine.PROBE_SEED, **sc.disjoint},
        "energy_source": engine.ENERGY_LABEL,
        "overhead_ablation": overhead_ablation(p, ex),
        "offload_overhead": {"source": "profiled before the scored run: cloud-only round trips on the held-out "
                                       "input over unshaped loopback, total − server_ms; per-byte slopes of "
                                       "/probe/upload and /probe/download",
                             "fixed_ms": dict(p.overhead.fixed_ms),
                             "per_network_median_ms": p.overhead.table().to_dict("records"),
                             "upload_ms_per_kb": {d: 1000.0 * v for d, v in p.overhead.per_byte_ms.items()},
                             "download_ms_per_kb": {d: 1000.0 * v for d, v in p.overhead.per_byte_down_ms.items()},
                             "answer_bytes": dict(p.overhead.answer_bytes),
                             "offload_ms": {f"{m}|{d}": p.overhead.offload_ms(d, m)
                                            for m, d in {(m, d) for m, d, _n, _l in p.cases}},
                             "rows": len(p.overhead.rows)},
        "cases": {eng: c[cols].to_dict("records") for eng, c in sc.cases.items()},
        "runs": ex.runs, "records": len(ex.records), "repeats": p.size.repeats, "warmup": p.size.warmup,
        "seconds": {**p.seconds, "execute": ex.total_s, **ex.seconds},
    })
