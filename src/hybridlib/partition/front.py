"""Latency/energy Pareto fronts: exact for chains, weighted-sum sweeps of the min cut for DAGs.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from hybridlib.partition.base import BRUTE_FORCE_MAX_NODES, SCHEDULES, check_choice
from hybridlib.partition.cost import Plan, check_load, CostArrays, cost_arrays, evaluate_mask, make_plan
from hybridlib.partition.graph import Graph, as_graph
from hybridlib.partition.network import Network, get_network
from hybridlib.partition.solvers import brute_force_points, solve_chain_any, solve_chain_single, solve_mincut


def _nondominated(points: list[tuple[float, float, Any]]) -> list[tuple[float, float, Any]]:
    """Non-dominated (latency, energy) points, sorted by latency, duplicates removed."""
    pts = sorted(points, key=lambda p: (p[0], p[1]))
    out: list[tuple[float, float, Any]] = []
    best_e = math.inf
    for p in pts:
        if p[1] < best_e - 1e-12 * max(1.0, abs(best_e) if math.isfinite(best_e) else 1.0):
            out.append(p)
            best_e = p[1]
    return out


def _pareto_chain_any(g: Graph, c: CostArrays) -> list[tuple[float, float, np.ndarray]]:
    """Exact bi-objective front on a chain: label-setting DP keeping non-dominated labels."""
    order = g.chain_order()
    s = order[0]
    # labels per side: list of (lat, en, cloud-tuple)
    labels = {0: [(c.dev_ms[s], c.dev_mj[s], (False,))], 1: []}
    for k in range(1, len(order)):
        u, v = order[k - 1], order[k]
        new = {}
        for side in (0, 1):
            cand = []
            for prev in (0, 1):
                for la, en, path in labels[prev]:
                    dl = de = 0.0
                    if prev == 0 and side == 1:
                        dl, de = c.up_ms[u], c.up_mj[u]
                    elif prev == 1 and side == 0:
                        dl, de = c.down_ms[u], c.down_mj[u]
                    if side == 0:
                        dl += c.dev_ms[v]
                        de += c.dev_mj[v]
                    else:
                        dl += c.cloud_ms[v]
                        de += c.idle_mj[v]
                    cand.append((la + dl, en + de, path + (bool(side),)))
            new[side] = _nondominated(cand)
        labels = new
    t = order[-1]
    final = list(labels[0]) + [(la + c.down_ms[t], en + c.down_mj[t], p) for la, en, p in labels[1]]
    out = []
    for la, en, path in _nondominated(final):
        cloud = np.zeros(len(g), bool)
        cloud[order] = path
        out.append((la, en, cloud))
    return out


def pareto(graph: Graph | Mapping[str, Any] | str | Path, network: str | Network | Mapping[str, Any] = "wifi",
           schedule: str = "single", load: float = 1.0, method: str = "auto",
           max_points: int = 64) -> list[Plan]:
    """The latency × device-energy Pareto front, sorted by latency.

    Exact for chains (enumerated cuts for ``single``, label-setting DP for ``any``) and for
    graphs up to :data:`BRUTE_FORCE_MAX_NODES` nodes (enumeration). Larger DAGs get the
    *supported* front (the convex hull's vertices) by dichotomic weighted-sum min-cuts
    (Aneja & Nair) — every returned plan is optimal for some strictly positive weighting,
    hence non-dominated; its ends minimise latency (energy) with the other objective as a
    1e-7-weighted tie-break; unsupported points between hull vertices may be missing
    (finding them is NP-hard in general).
    """
    g, net, load = as_graph(graph), get_network(network), check_load(load)
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("method", method, ("auto", "exact", "weighted"))
    c = cost_arrays(g, net, load)
    pts: list[tuple[float, float, np.ndarray]]
    order = g.chain_order()
    if method != "weighted" and order is not None and schedule == "single":
        pts = []
        for j in range(len(order)):
            cloud = np.zeros(len(g), bool)
            cloud[order[j + 1:]] = True
            la, en, _, _ = evaluate_mask(g, c, cloud)
            pts.append((la, en, cloud))
        pts = _nondominated(pts)
        how = "exact-cuts"
    elif method != "weighted" and order is not None:
        pts = _pareto_chain_any(g, c)
        how = "exact-labels"
    elif method == "exact" or (method == "auto" and len(g) <= min(BRUTE_FORCE_MAX_NODES, 16)):
        cloud, lat, en, ok = brute_force_points(g, c)
        idx = np.flatnonzero(ok) if schedule == "single" else np.arange(len(lat))
        pts = _nondominated([(float(lat[i]), float(en[i]), cloud[i]) for i in idx])
        how = "exact-enumeration"
    else:
        pts = _pareto_weighted(g, c, schedule, max_points)
        how = "supported-weighted-sum"
    plans = []
    for la, en, cloud in pts[:max_points] if how == "supported-weighted-sum" else pts:
        p = make_plan(g, net, load, cloud, objective="pareto", schedule=schedule, solver=how)
        plans.append(p)
    return plans


def _pareto_weighted(g: Graph, c: CostArrays, schedule: str, max_points: int) -> list[tuple[float, float, np.ndarray]]:
    def point(w: tuple[float, float]) -> tuple[float, float, np.ndarray]:
        cloud = solve_mincut(g, c, w, schedule) if not g.is_chain() else (
            solve_chain_single(g, c, w) if schedule == "single" else solve_chain_any(g, c, w))
        la, en, _, _ = evaluate_mask(g, c, cloud)
        return la, en, cloud

    # normalise so that the tiny tie-breaking weight is meaningful on both scales
    sl = max(float(c.dev_ms.sum() + c.cloud_ms.sum() + c.up_ms.sum() + c.down_ms.sum()), 1e-9)
    se = max(float(c.dev_mj.sum() + c.idle_mj.sum() + c.up_mj.sum() + c.down_mj.sum()), 1e-9)
    eps = 1e-7
    lo = point((1.0 / sl, eps / se))  # latency-optimal, energy as tie-break
    hi = point((eps / sl, 1.0 / se))  # energy-optimal
    found = [lo, hi]
    stack = [(lo, hi)]
    while stack and len(found) < max_points:
        p, q = stack.pop()
        # weights normal to the segment p–q
        wl, we = p[1] - q[1], q[0] - p[0]
        if wl <= 0 or we <= 0:
            continue
        r = point((wl, we))
        if wl * r[0] + we * r[1] < wl * p[0] + we * p[1] - 1e-9 * (abs(wl * p[0]) + abs(we * p[1]) + 1e-12):
            found.append(r)
            stack.extend([(p, r), (r, q)])
    return _nondominated(found)
