"""Profiles that add up: the gap between isolated layer times and the whole-model time, attributed.

Isolated layers do *not* sum to the whole model: a model run pays costs no isolated layer
shows (the emotion CNN's Σ ``ms`` was 16% of its whole-model time on the device side). So the
whole model and two *prefix* sub-models (heads ending at single-tensor cuts,
:func:`single_cuts` / :func:`probe_cuts`) are timed in the same interleaved rounds as the
layers, and :func:`reconcile` splits the residual, by measurement, into a **per-layer
dispatch** cost (``dispatch_ms``, added to every compute layer: ``layer_ms = ms +
dispatch_ms``) and a **per-inference fixed** cost (``fixed_ms``); Σ ``layer_ms`` + ``fixed_ms``
== ``model_ms`` exactly. :func:`side_costs` reads those costs back from a profile table and
:func:`reconciliation_table` shows, per model and side, how the sums compare.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from hybridlib.utils import InputError


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


def probe_cuts(cuts: Sequence[str], names: Sequence[str], n: int = 2) -> list[str]:
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


def apply_reconciliation(rows: list[dict[str, Any]], model_ms: float,
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
    layers + fixed, the whole-model time, and the split of the residual."""

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
