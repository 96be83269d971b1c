"""Early exit **decomposed**, every number with its 95% interval: what share exits, how right the
exited and the shipped answers are, what the converter sends per shipped input and per input,
and the accuracy change against the full model on the same faces.

Why: a headline "×N less than the crop" multiplies two things — the share that exits (sends
nothing) and the converter's size for the rest — and an accuracy budget of one point is only
checked when the test set can resolve one point. Reporting the parts and their intervals lets a
reader see which part carries the saving and whether the budget holds beyond noise.

Definitions (per operating point, over ``n`` inputs):

* ``exit_share`` — inputs answered at the edge (right or wrong), Wilson interval;
* ``correct_at_edge`` — inputs answered at the edge **and** right, over all inputs (seed 004's
  "correctly classified at the edge"), Wilson;
* ``exited_acc`` / ``shipped_acc`` — accuracy of the branch on the exited inputs and of the
  converter path (after the wire round trip) on the shipped ones, Wilson;
* ``acc_difference`` — early-exit system minus the full model, **paired** bootstrap over the same
  inputs (:func:`hybridlib.stats.paired_difference`), with the smallest difference this set
  resolves (:func:`hybridlib.stats.paired_resolvable_difference`);
* ``bytes_per_shipped`` / ``bytes_per_input`` — the converter's bytes (body + header values) over
  the shipped inputs / over all inputs (exited = 0), bootstrap means;
* ``ratios[alt]`` — an alternative's bytes (the crop raw / PNG / JPEG, per face) over the
  converter's, ``per_input`` (what the uplink carries) and ``per_shipped`` (the converter alone),
  bootstrap ratio of means; None when nothing is shipped.

:func:`goal` scores the issue's goal (≥ 40× vs the raw crop per input at ≤ 1 point loss):
``met`` on the point values, ``met_with_interval`` when both intervals clear their bounds.
Pure numpy (and a pandas table); tested in ``tests/unit/test_early_exit_decompose.py``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import stats
from hybridlib.utils import InputError

#: the issue's goal: this many times fewer bytes than the raw crop per input …
GOAL_RATIO = 40.0
#: … at no more than this accuracy loss against the full model (on test)
GOAL_BUDGET = 0.01


def _est(e: stats.Estimate | None) -> dict[str, Any] | None:
    """An estimate as JSON (an unbounded bound becomes None)."""
    if e is None:
        return None
    d = e.to_dict()
    for k in ("value", "lo", "hi"):
        if not math.isfinite(float(d[k])):
            d[k] = None
    return d


def decompose(exited: Any, ok_exit: Any, ok_ship: Any, ok_ref: Any, ship_bytes: Any,
              alternatives: Mapping[str, Any], n_boot: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The decomposition (module doc) from per-input arrays of one operating point.

    ``exited``: the input exits at the edge; ``ok_exit``: the branch's answer is right;
    ``ok_ship``: the converter path's answer (after the wire) is right; ``ok_ref``: the full
    model's answer is right; ``ship_bytes``: what the input costs if shipped; ``alternatives``:
    name → bytes per input (a number, or one per input, e.g. each face's PNG size)."""
    ex = np.asarray(exited).ravel()
    n = ex.size
    arrs = [np.asarray(a).ravel() for a in (ok_exit, ok_ship, ok_ref, ship_bytes)]
    if n == 0 or any(a.shape != (n,) for a in arrs):
        raise InputError(f"exited, ok_exit, ok_ship, ok_ref and ship_bytes must be 1-D of one length ≥ 1, got "
                         f"{[np.shape(a) for a in (exited, ok_exit, ok_ship, ok_ref, ship_bytes)]}")
    ex = ex.astype(bool)
    oe, osh, ore = (a.astype(bool) for a in arrs[:3])
    b = arrs[3].astype(float)
    if not np.isfinite(b).all() or (b < 0).any():
        raise InputError("ship_bytes must be finite and ≥ 0")
    sent = np.where(ex, 0.0, b)
    ok = np.where(ex, oe, osh)
    sh = ~ex
    diff = stats.paired_difference(ok, ore, n_boot=n_boot, seed=seed)
    discordant = float((ok != ore).mean())
    out: dict[str, Any] = {
        "n": int(n), "n_exited": int(ex.sum()), "n_shipped": int(sh.sum()),
        "exit_share": _est(stats.share(ex)),
        "correct_at_edge": _est(stats.wilson(int((ex & oe).sum()), n)),
        "exited_acc": _est(stats.share(oe[ex])) if ex.any() else None,
        "shipped_acc": _est(stats.share(osh[sh])) if sh.any() else None,
        "overall_acc": _est(stats.share(ok)),
        "reference_acc": _est(stats.share(ore)),
        "acc_difference": _est(diff),
        "discordant_share": discordant,
        "resolvable_difference": (stats.paired_resolvable_difference(discordant, int(n)) if discordant > 0 else None),
        "bytes_per_shipped": _est(stats.bootstrap(b[sh], n_boot=n_boot, seed=seed)) if sh.any() else None,
        "bytes_per_input": _est(stats.bootstrap(sent, n_boot=n_boot, seed=seed)),
        "ratios": {},
    }
    for name, alt in alternatives.items():
        a = np.broadcast_to(np.asarray(alt, dtype=float), (n,))
        out["ratios"][name] = {
            "alt_bytes": float(a.mean()),
            "per_input": _est(stats.bootstrap_ratio(a, sent, n_boot=n_boot, seed=seed)),
            "per_shipped": _est(stats.bootstrap_ratio(a[sh], b[sh], n_boot=n_boot, seed=seed)) if sh.any() else None}
    return out


def goal(dec: Mapping[str, Any], alternative: str = "crop raw", ratio: float = GOAL_RATIO,
         budget: float = GOAL_BUDGET) -> dict[str, Any]:
    """The goal on a :func:`decompose` record: ≥ ``ratio``× fewer bytes than ``alternative`` per
    input at an accuracy change ≥ ``-budget``. ``met``: the point values; ``met_with_interval``:
    the ratio's lower bound ≥ ``ratio`` and the difference's lower bound ≥ ``-budget``;
    ``budget_decided``: the difference's interval lies wholly on one side of ``-budget`` (the
    budget is then checked on this set even when its smallest resolvable difference — the size of
    a *change from zero* it detects with 80% power — is larger than the budget).
    A ratio that is unbounded (nothing shipped) meets the bytes part."""
    r = (dec.get("ratios") or {}).get(alternative)
    if r is None:
        raise InputError(f"no ratio against {alternative!r} in the decomposition ({', '.join(dec.get('ratios', {}))})")
    d = dec["acc_difference"]
    pi = r["per_input"]  # None: nothing shipped (unbounded ratio)
    r_val = math.inf if pi is None or pi["value"] is None else float(pi["value"])
    r_lo = math.inf if pi is None else (math.inf if pi["lo"] is None else float(pi["lo"]))
    res = dec.get("resolvable_difference")
    return {"alternative": alternative, "ratio_goal": ratio, "budget": budget,
            "ratio_per_input": None if math.isinf(r_val) else r_val,
            "ratio_per_input_lo": None if math.isinf(r_lo) else r_lo,
            "ratio_per_shipped": None if r["per_shipped"] is None else r["per_shipped"]["value"],
            "acc_difference": d["value"], "acc_difference_lo": d["lo"], "acc_difference_hi": d["hi"],
            "met": bool(r_val >= ratio and d["value"] >= -budget - 1e-12),
            "met_with_interval": bool(r_lo >= ratio and d["lo"] >= -budget - 1e-12),
            "resolvable_difference": res,
            "budget_decided": bool(d["lo"] >= -budget - 1e-12 or d["hi"] < -budget)}


def _fmt(e: Mapping[str, Any] | None, kind: str) -> str:
    """``value [lo, hi]`` of a JSON estimate: shares in %, accuracy changes in points, bytes, ratios ×."""
    if e is None:
        return "— (none)"
    f = {"pct": lambda v: f"{100 * v:.1f}%", "pts": lambda v: f"{100 * v:+.1f}", "B": lambda v: f"{v:.1f} B",
         "x": lambda v: f"×{v:.1f}"}[kind]
    g = lambda v: "∞" if v is None else f(v)
    return f"{g(e['value'])} [{g(e['lo'])}, {g(e['hi'])}]"


def table(decs: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
    """One column per decomposition (e.g. ``{"test (718)": …, "in the page": …}``), one row per
    quantity, each ``value [95% interval]`` — the notebook's and the report's table."""
    rows: list[tuple[str, str, Any]] = [
        ("inputs", "n", None), ("exit share", "exit_share", "pct"),
        ("correct at the edge (004's measure)", "correct_at_edge", "pct"),
        ("accuracy of exited inputs", "exited_acc", "pct"), ("accuracy of shipped inputs", "shipped_acc", "pct"),
        ("overall accuracy", "overall_acc", "pct"), ("full model's accuracy (same faces)", "reference_acc", "pct"),
        ("accuracy change vs full model (points, paired)", "acc_difference", "pts"),
        ("bytes per shipped input", "bytes_per_shipped", "B"), ("bytes per input (exited = 0)", "bytes_per_input", "B")]
    out: dict[str, dict[str, str]] = {}
    for col, d in decs.items():
        c: dict[str, str] = {}
        for label, key, kind in rows:
            c[label] = str(d[key]) if kind is None else _fmt(d.get(key), kind)
        res = d.get("resolvable_difference")
        c["smallest resolvable change (points, 80% power)"] = "—" if res is None else f"{100 * res:.1f}"
        for alt, r in (d.get("ratios") or {}).items():
            c[f"× fewer than {alt} per input"] = _fmt(r["per_input"], "x") if r["per_input"] else "∞ (none shipped)"
            c[f"× fewer than {alt} per shipped input"] = _fmt(r["per_shipped"], "x")
        out[col] = c
    return pd.DataFrame(out)
