"""Predicted vs executed splits: the measured per-cut medians, and the engine's choice scored on them.

:mod:`hybridlib.study.split.execute` records executed repetitions; :mod:`hybridlib.study.split.predict`
says what the partition engine predicted for the same cases. This module compares the two.

The measured side maps ``head_ms`` → device, ``encode_ms + upload_ms`` → upload, ``tail_ms`` →
cloud, ``download_ms + decode_ms`` → download (the engine charges a codec to the transfer,
see :class:`hybridlib.partition.Node`); whatever the page spent outside these stages is
``other_ms`` so the bars add up to the measured total.

Metrics over cases (all on *measured* medians, like for like = same case), one definition in
:func:`score_choice`:

* **hit**: the chosen cut is within 10% (:data:`HIT_MARGIN`) of the measured best cut;
* **regret** = measured(chosen) / measured(best) − 1 (0 = the best was chosen);
* **speed-up** of the chosen cut over device-only and over cloud-only (measured ÷ measured).

The seeds' claims beside ours: :mod:`hybridlib.study.split.seeds`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hybridlib.study.split.predict import CASE, PIECES
from hybridlib.study.split.seeds import like_for_like
from hybridlib.utils import InputError

HIT_MARGIN = 0.10
RECORD_COLUMNS = ("model", "cut", "device", "network", "load", "rep", "head_ms", "encode_ms", "upload_ms",
                  "tail_ms", "download_ms", "decode_ms", "total_ms")


def check_records(records: pd.DataFrame) -> None:
    """Raise :class:`InputError` naming what executed records lack (columns, rows)."""
    missing = [c for c in RECORD_COLUMNS if c not in records]
    if missing:
        raise InputError(f"split records lack column(s) {', '.join(missing)}")
    if records.empty:
        raise InputError("split records are empty")


def measured_cuts(records: pd.DataFrame) -> pd.DataFrame:
    """Per case × cut: median ``total_ms`` over repetitions and the medians of the pieces
    (device = head; upload = encode + upload; cloud = tail; download = download + decode;
    ``other_ms`` = median total − Σ median pieces, ≥ 0), plus ``reps``."""
    check_records(records)
    r = records.copy()
    r["device_ms"] = r["head_ms"]
    r["upload_ms"] = r["encode_ms"] + r["upload_ms"]
    r["cloud_ms"] = r["tail_ms"]
    r["download_ms"] = r["download_ms"] + r["decode_ms"]
    keys = [*CASE, "cut"]
    agg = {p: (p, "median") for p in PIECES}
    agg.update(total_ms=("total_ms", "median"), reps=("total_ms", "size"))
    for extra in ("up_bytes", "down_bytes"):
        if extra in r:
            agg[extra] = (extra, "median")
    m = r.groupby(keys, sort=False).agg(**agg).reset_index()
    m["other_ms"] = (m["total_ms"] - m[list(PIECES)].sum(axis=1)).clip(lower=0.0)
    return m

@dataclass(frozen=True)
class Score:
    """A chosen cut scored against the measured best of its case (NaN chosen_ms: not executed)."""

    best: str
    best_ms: float
    chosen_ms: float
    regret: float
    hit: bool


def score_choice(totals: Mapping[str, float], chosen: str | None, margin: float = HIT_MARGIN) -> Score:
    """Score ``chosen`` on one case's measured median totals (cut → ms): the best is the fastest
    executed cut, ``regret`` = chosen / best − 1, ``hit`` when chosen ≤ (1 + ``margin``) × best.
    A chosen cut that was not executed scores NaN and no hit — never a guess."""
    if not totals:
        raise InputError("score_choice: no executed cuts")
    best = min(totals, key=totals.get)
    mb = float(totals[best])
    mc = float(totals[chosen]) if chosen in totals else math.nan
    return Score(best=best, best_ms=mb, chosen_ms=mc, regret=mc / mb - 1.0,
                 hit=bool(mc <= (1.0 + margin) * mb))


def executed_regret(measured: pd.DataFrame, chosen: Mapping[tuple[str, str, str, str], str],
                    margin: float = HIT_MARGIN) -> pd.DataFrame:
    """How the cut ``chosen[case]`` (e.g. solved on *predicted* kernel costs) fared when executed:
    per case (:data:`CASE` order), its measured median total against the measured best cut's
    (:func:`score_choice`). ``measured`` is :func:`measured_cuts`' table; a chosen cut that was
    not executed gives ``executed`` False and NaN times (never a guess)."""

    cols = [*CASE, "chosen", "executed", "best", "measured_chosen_ms", "measured_best_ms", "regret", "hit"]
    rows = []
    for case, cut in chosen.items():
        if len(case) != len(CASE):
            raise InputError(f"case {case!r}: expected ({', '.join(CASE)})")
        sub = measured[np.logical_and.reduce([measured[k] == v for k, v in zip(CASE, case)])]
        if sub.empty:
            raise InputError(f"case {case!r} was not executed")
        sc = score_choice(dict(zip(sub["cut"], sub["total_ms"])), cut, margin)
        rows.append({**dict(zip(CASE, case)), "chosen": cut, "executed": bool((sub["cut"] == cut).any()),
                     "best": sc.best, "measured_chosen_ms": sc.chosen_ms, "measured_best_ms": sc.best_ms,
                     "regret": sc.regret, "hit": sc.hit})
    return pd.DataFrame(rows, columns=cols)


def compare(predicted: pd.DataFrame, records: pd.DataFrame, margin: float = HIT_MARGIN) -> pd.DataFrame:
    """One row per executed case: the engine's chosen cut against the measured best.

    ``predicted`` is :func:`hybridlib.study.split.predict.predict_cases`' table, ``records`` the executed rows. Columns:
    the case, ``chosen`` (engine) and ``chosen_kind``, ``chosen_executed`` (False when the
    chosen cut was not among the executed cuts — then ``chosen`` falls back to the engine's
    best *among the executed* cuts, and the row says so), ``best`` (measured) and
    ``best_kind``, ``measured_chosen_ms``, ``measured_best_ms``, ``predicted_chosen_ms``,
    ``hit``, ``regret``, ``speedup_vs_device``/``speedup_vs_cloud`` (chosen, measured; NaN
    when that end cut was not executed), the same for the measured best, and
    ``pred_error`` = predicted/measured − 1 of the chosen cut.
    """

    meas = measured_cuts(records)
    rows = []
    for key, m in meas.groupby(list(CASE), sort=False):
        case = dict(zip(CASE, key))
        p = predicted
        for k, v in case.items():
            p = p[p[k] == v]
        if p.empty:
            raise InputError(f"no prediction for executed case {case}")
        engine = str(p["engine_choice"].iloc[0])
        mt = dict(zip(m["cut"], m["total_ms"]))
        pt = dict(zip(p["cut"], p["total_ms"]))
        executed = engine in mt
        chosen = engine if executed else min((c for c in mt if c in pt), key=pt.get, default=None)
        if chosen is None:
            raise InputError(f"case {case}: none of the executed cuts has a prediction")
        sc = score_choice(mt, chosen, margin)
        best = sc.best
        kinds = dict(zip(p["cut"], p["kind"]))
        dev = next((c for c, k in kinds.items() if k == "device-only"), None)
        cld = next((c for c, k in kinds.items() if k == "cloud-only"), None)
        mc, mb = sc.chosen_ms, sc.best_ms
        row = {**case, "chosen": chosen, "chosen_kind": kinds.get(chosen, "?"), "chosen_executed": executed,
               "engine_choice": engine, "best": best, "best_kind": kinds.get(best, "?"),
               "cuts_executed": len(mt), "measured_chosen_ms": mc, "measured_best_ms": mb,
               "predicted_chosen_ms": pt[chosen], "predicted_best_ms": pt.get(best, math.nan),
               "hit": sc.hit, "regret": sc.regret,
               "pred_error": pt[chosen] / mc - 1.0,
               "measured_device_only_ms": mt.get(dev, math.nan), "measured_cloud_only_ms": mt.get(cld, math.nan)}
        for who, t in (("", mc), ("best_", mb)):
            row[f"{who}speedup_vs_device"] = mt[dev] / t if dev in mt else math.nan
            row[f"{who}speedup_vs_cloud"] = mt[cld] / t if cld in mt else math.nan
        # 001's baseline is the better of mobile-only and cloud-only: both must be executed
        single = [mt[c] for c in (dev, cld) if c in mt]
        row["reduction_vs_best_single_pct"] = (1.0 - mc / min(single)) * 100.0 if len(single) == 2 else math.nan
        rows.append(row)
    return pd.DataFrame(rows)


def _num(v: Any) -> float | None:
    v = float(v)
    return None if math.isnan(v) else v


def summarize(comp: pd.DataFrame, wire: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Headline numbers over :func:`compare`'s cases (JSON-ready; NaN → None).

    Hit rate, median and worst regret (and which case), measured speed-ups of the chosen
    cut (mean/max over device-only and cloud-only), the cases whose chosen cut is an
    intermediate one, and the seeds' claims beside ours where the conditions match
    (:func:`like_for_like`; ``wire``: the executed ``dtype``/``codec``, for what still differs)."""
    if comp.empty:
        raise InputError("summarize: no cases")
    worst = comp.loc[comp["regret"].idxmax()]
    out: dict[str, Any] = {
        "cases": int(len(comp)), "hit_margin": HIT_MARGIN,
        "hit_rate": float(comp["hit"].mean()), "hits": int(comp["hit"].sum()),
        "median_regret": float(comp["regret"].median()), "worst_regret": float(worst["regret"]),
        "worst_case": {k: worst[k] for k in (*CASE, "chosen", "best")},
        "chosen_not_executed": int((~comp["chosen_executed"]).sum()),
        "median_abs_pred_error": float(comp["pred_error"].abs().median()),
        "speedup_vs_cloud": {"mean": _num(comp["speedup_vs_cloud"].mean()),
                             "max": _num(comp["speedup_vs_cloud"].max())},
        "speedup_vs_device": {"mean": _num(comp["speedup_vs_device"].mean()),
                              "max": _num(comp["speedup_vs_device"].max())},
        "intermediate_chosen": [{k: r[k] for k in (*CASE, "chosen")} for _, r in
                                comp[comp["chosen_kind"] == "split"].iterrows()],
        "intermediate_best": [{k: r[k] for k in (*CASE, "best")} for _, r in
                              comp[comp["best_kind"] == "split"].iterrows()],
        "like_for_like": like_for_like(comp, wire),
    }
    return jsonable(out)


def jsonable(v: Any) -> Any:
    """``v`` with numpy scalars made Python ones and NaN made None (for results JSON)."""
    if isinstance(v, dict):
        return {str(k): jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [jsonable(x) for x in v]
    if isinstance(v, (np.bool_, bool)):
        return bool(v)
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) else float(v)
    return v


def piece_errors(predicted: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """Per model × device × network: median over executed cuts of predicted − measured, for
    each piece and the total (ms) — which stage the engine gets wrong, and by how much.
    ``other_ms`` is measured time outside the four stages (the engine predicts none of it)."""
    meas = measured_cuts(records)
    keys = [*CASE, "cut"]
    j = meas.merge(predicted[[*keys, *PIECES, "total_ms"]], on=keys, suffixes=("_meas", "_pred"))
    out = j[list(CASE)].copy()
    for p in (*PIECES, "total_ms"):
        out[p.replace("_ms", "_gap_ms")] = j[f"{p}_pred"] - j[f"{p}_meas"]
    out["other_gap_ms"] = -j["other_ms"]
    out["total_rel_error"] = j["total_ms_pred"] / j["total_ms_meas"] - 1.0
    return out.groupby(list(CASE), sort=False).median().reset_index()


def disagreements(predicted: pd.DataFrame, records: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Where prediction and measurement part most: per case × cut, predicted vs measured
    of each piece, sorted by |total error|. The piece with the largest absolute gap is
    named in ``worst_piece`` (the *why*)."""
    meas = measured_cuts(records)
    keys = [*CASE, "cut"]
    j = meas.merge(predicted[[*keys, *PIECES, "total_ms"]], on=keys, suffixes=("_meas", "_pred"))
    for p in (*PIECES, "total_ms"):
        j[f"{p}_gap"] = j[f"{p}_pred"] - j[f"{p}_meas"]
    j["other_ms_gap"] = -j["other_ms"]
    gaps = [f"{p}_gap" for p in (*PIECES, "other_ms")]
    j["worst_piece"] = j[gaps].abs().idxmax(axis=1).str.replace("_gap", "", regex=False)
    j["total_error"] = j["total_ms_pred"] / j["total_ms_meas"] - 1.0
    return j.reindex(j["total_error"].abs().sort_values(ascending=False).index).head(top).reset_index(drop=True)
