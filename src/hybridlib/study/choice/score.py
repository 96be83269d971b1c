"""The engine's picks scored on the measured medians: hits, regret, discriminating cases, 003's headline.

* **hit**: the pick's measured median is within 10% of the measured best executed cut
  (:func:`hybridlib.study.split.analysis.score_choice`); **regret** = pick ÷ best − 1.
* **discriminating case**: the measured best is an interior cut, *or* device-only and
  cloud-only are within 2× of each other (:data:`CLOSE`) — where a wrong pick can cost
  something and a right one is not obvious. Elsewhere one end wins by more than 2×, and
  any engine that sees the ends roughly right scores a hit.
* hit rates with a Wilson interval (:func:`hybridlib.stats.wilson`), overall and on the
  discriminating cases, for each engine.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import stats
from hybridlib.study.choice import networks as nets_mod
from hybridlib.study.choice import seed003
from hybridlib.study.split import analysis

CLOSE = 2.0
#: the per-case speed-ups a headline row averages: the pick over each end cut, and the measured best over cloud-only
SPEEDUPS = {"vs_cloud": "speedup_vs_cloud", "vs_device": "speedup_vs_device", "best_vs_cloud": "best_speedup_vs_cloud"}


def discriminating(comp: pd.DataFrame, close: float = CLOSE) -> pd.Series:
    """True where the measured best is interior, or device-only and cloud-only are within
    ``close``× of each other (both end cuts must have been executed)."""
    dev, cld = comp["measured_device_only_ms"], comp["measured_cloud_only_ms"]
    ratio = np.maximum(dev, cld) / np.minimum(dev, cld)
    return (comp["best_kind"] == "split") | (ratio <= close)


def compare(predicted: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """:func:`hybridlib.study.split.analysis.compare` plus ``discriminating`` and the end-cut ratio."""
    comp = analysis.compare(predicted, records)
    comp["ends_ratio"] = (np.maximum(comp["measured_device_only_ms"], comp["measured_cloud_only_ms"])
                          / np.minimum(comp["measured_device_only_ms"], comp["measured_cloud_only_ms"]))
    comp["discriminating"] = discriminating(comp)
    return comp


def _block(c: pd.DataFrame) -> dict[str, Any]:
    if c.empty:
        return {"n": 0, "hits": 0, "hit_rate": None, "hit_ci": None, "median_regret": None, "worst_regret": None}
    e = stats.share(c["hit"].to_numpy())
    return {"n": len(c), "hits": int(c["hit"].sum()), "hit_rate": e.value, "hit_ci": [e.lo, e.hi],
            "median_regret": float(c["regret"].median()), "worst_regret": float(c["regret"].max())}


def summarize(comp: pd.DataFrame) -> dict[str, Any]:
    """Hit rate (Wilson 95%), median and worst regret — overall and on the discriminating cases —
    and per network."""
    out = {"overall": _block(comp), "discriminating": _block(comp[comp["discriminating"]]),
           "n_discriminating": int(comp["discriminating"].sum()), "n_cases": len(comp),
           "per_network": {m: _block(c) for m, c in comp.groupby("model", sort=False)}}
    return analysis.jsonable(out)


def _stats(v: pd.Series) -> dict[str, float]:
    v = v.dropna()
    if v.empty:
        return {"mean": math.nan, "max": math.nan, "geomean": math.nan}
    return {"mean": float(v.mean()), "max": float(v.max()), "geomean": float(np.exp(np.log(v).mean()))}


def headline(comp: pd.DataFrame) -> list[dict[str, Any]]:
    """003's headline beside ours: per device class, per network and pooled over 003's networks that
    ran, the measured speed-up of the engine's pick over cloud-only (003's basis) and over
    device-only (003 gives none), mean / geometric mean / max over the links that ran. 003's 3.1× /
    40.7× sit in ``seed_mean`` / ``seed_max`` only where :func:`hybridlib.study.choice.seed003.headline_value`
    (the one rule, :func:`hybridlib.study.split.seeds.seed_applies`) allows; else ``differs`` says why."""
    reg = nets_mod.registry()
    rows = []
    for dev, cd in comp.groupby("device", sort=False):
        groups = [([m], c) for m, c in cd.groupby("model", sort=False)]
        ours003 = cd[cd["model"].map(lambda m: reg[m].bench003 is not None)]  # pooled: 003's networks only
        if ours003["model"].nunique() > 1:
            groups.append((list(ours003["model"].unique()), ours003))
        for models, c in groups:
            ours = {"device": dev, "networks": tuple(sorted(set(c["network"]))),
                    "models": tuple(sorted({reg[m].bench003 or reg[m].column for m in models})),
                    "basis": seed003.HEADLINE_BASIS}
            seed_mean, why = seed003.headline_value("mean", ours)
            seed_max, _ = seed003.headline_value("max", ours)
            st = {k: _stats(c[col]) for k, col in SPEEDUPS.items()}
            rows.append({"device": dev, "networks": ", ".join(reg[m].column for m in models),
                         "n_networks": len(models), "links": ", ".join(ours["networks"]),
                         "cases": int(c["speedup_vs_cloud"].notna().sum()),
                         "ours_mean": st["vs_cloud"]["mean"], "ours_geomean": st["vs_cloud"]["geomean"],
                         "ours_max": st["vs_cloud"]["max"],
                         "vs_device_mean": st["vs_device"]["mean"], "vs_device_max": st["vs_device"]["max"],
                         "best_vs_cloud_mean": st["best_vs_cloud"]["mean"],
                         "seed_mean": seed_mean, "seed_max": seed_max, "seed_value": seed_mean,
                         "seed_quote": "003: 3.1× mean, 40.7× max — " + seed003.HEADLINE["mean"]["claim"],
                         "like_for_like": seed_mean is not None, "differs": why})
    return analysis.jsonable(rows)
