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
from hybridlib.study.split.seeds import seed_applies

CLOSE = 2.0
#: 003's headline: mean end-to-end latency speed-up over cloud-only, its 8 benchmarks, Wi-Fi/LTE/3G
SEED_HEADLINE = {"seed": "003", "value": 3.1, "unit": "×", "device": "phone", "networks": ("3g", "lte", "wifi"),
                 "models": seed003.BENCHMARKS, "over_models": True, "basis": "measured ÷ measured",
                 "claim": "mean latency speed-up over cloud-only, 8 DNNs (003: up to 40.7×)"}


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


def headline(comp: pd.DataFrame) -> list[dict[str, Any]]:
    """003's 3.1× beside ours, per network and pooled over 003's networks that ran — the seed value is
    placed only where :func:`hybridlib.study.split.seeds.seed_applies` allows (same device
    class, links, network set, basis); otherwise the row says what differs."""
    reg = nets_mod.registry()
    sel = comp[(comp["device"] == SEED_HEADLINE["device"]) & comp["network"].isin(SEED_HEADLINE["networks"])]
    rows = []
    groups = [([m], c) for m, c in sel.groupby("model", sort=False)]
    ours003 = sel[sel["model"].map(lambda m: reg[m].bench003 is not None)]  # pooled: 003's networks only
    if ours003["model"].nunique() > 1:
        groups.append((list(ours003["model"].unique()), ours003))
    for models, c in groups:
        benches = sorted({reg[m].bench003 or reg[m].column for m in models})
        ours = {"device": SEED_HEADLINE["device"], "networks": tuple(sorted(set(c["network"]))),
                "models": tuple(benches), "basis": "measured ÷ measured"}
        ok, why = seed_applies(SEED_HEADLINE, ours)
        v = c["speedup_vs_cloud"].dropna()
        rows.append({"networks": ", ".join(reg[m].column for m in models), "n_networks": len(models),
                     "cases": len(v), "ours_mean": float(v.mean()) if len(v) else math.nan,
                     "ours_max": float(v.max()) if len(v) else math.nan,
                     "seed_value": SEED_HEADLINE["value"] if ok else None,
                     "seed_quote": f"003: {SEED_HEADLINE['value']}{SEED_HEADLINE['unit']} {SEED_HEADLINE['claim']}",
                     "like_for_like": ok, "differs": why})
    return analysis.jsonable(rows)
