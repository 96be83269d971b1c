"""Exact solvers for the cost model: argmin (chains, one cut), shortest path (chains, any
schedule), s–t minimum cut (DAGs), brute force (the oracle); plus :func:`scale`, :func:`baselines`.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
from networkx.algorithms.flow import boykov_kolmogorov

from hybridlib.partition.base import BRUTE_FORCE_MAX_NODES, OBJECTIVES, SCHEDULES, check_choice, is_finite_number
from hybridlib.partition.cost import Plan, check_load, CostArrays, cost_arrays, make_plan
from hybridlib.partition.graph import Graph, as_graph
from hybridlib.partition.network import Network, get_network
from hybridlib.utils import InputError

log = logging.getLogger(__name__)


def _weights(objective: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(objective, tuple):
        return float(objective[0]), float(objective[1])
    check_choice("objective", objective, OBJECTIVES)
    return (1.0, 0.0) if objective == "latency" else (0.0, 1.0)


def solve_chain_single(g: Graph, c: CostArrays, w: tuple[float, float]) -> np.ndarray:
    """Neurosurgeon: argmin over the cut positions of a chain (O(N) with prefix sums)."""
    order = np.array(g.chain_order())
    a, b = c.unary(*w)
    up, down = c.ship(*w)
    a, b, up, down = a[order], b[order], up[order], down[order]
    pre_dev = np.cumsum(a)  # device cost of nodes 0..j
    suf_cloud = np.concatenate([np.cumsum(b[::-1])[::-1][1:], [0.0]])  # cloud cost of j+1..n-1
    cost = pre_dev + suf_cloud + up + down[-1]
    cost[-1] = pre_dev[-1]  # device-only: no transfer
    j = int(np.argmin(cost))
    cloud = np.zeros(len(g), bool)
    cloud[order[j + 1:]] = True
    return cloud


def solve_chain_any(g: Graph, c: CostArrays, w: tuple[float, float]) -> np.ndarray:
    """CollabDNN: shortest path through the layered graph of (layer, side) states.

    State (i, side) = layer i runs on ``side``; moving from layer i to i+1 on the other
    side costs layer i's transfer in that direction. The sink is (result, device): ending
    in the cloud pays the output's downlink. Dynamic programming over the layers is exactly
    Dijkstra on this acyclic graph, in O(N).
    """
    order = g.chain_order()
    a, b = c.unary(*w)
    up, down = c.ship(*w)
    n = len(order)
    INF = math.inf
    dist = np.full((n, 2), INF)
    back = np.zeros((n, 2), int)
    s = order[0]
    dist[0, 0] = a[s]
    for k in range(1, n):
        v, u = order[k], order[k - 1]
        # to device
        cand_d = (dist[k - 1, 0], dist[k - 1, 1] + down[u])
        back[k, 0] = int(cand_d[1] < cand_d[0])
        dist[k, 0] = min(cand_d) + a[v]
        cand_c = (dist[k - 1, 0] + up[u], dist[k - 1, 1])
        back[k, 1] = int(cand_c[1] < cand_c[0])
        dist[k, 1] = min(cand_c) + b[v]
    end = (dist[n - 1, 0], dist[n - 1, 1] + down[order[-1]])
    side = int(end[1] < end[0])
    cloud = np.zeros(len(g), bool)
    for k in range(n - 1, -1, -1):
        cloud[order[k]] = bool(side)
        side = back[k, side]
    return cloud


def _cut_network(g: Graph, c: CostArrays, w: tuple[float, float], schedule: str
                 ) -> tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """The s–t network whose minimum cut is the optimal placement (device = source side).

    Returns ``(n_vertices, S, T, src, dst, cap)``; vertices ``0..n-1`` are the layers, then
    auxiliary vertices, then S and T; ``cap`` may hold ``inf``. Construction:

    * unary costs: device cost ``a_v`` is paid when v ∈ S (edge v→T), cloud cost ``b_v``
      when v ∈ T (edge S→v); only the difference matters, so one edge per node;
    * S→input is infinite: the input stays on the device;
    * a producer u with one consumer v: u→v costs u's uplink, v→u its downlink (``any``) or
      is infinite (``single``: a cloud node may not feed a device node);
    * a producer with several consumers (the output counts the device-side result as one
      more) ships once per direction: u→up_u (uplink cost) with up_u→v infinite for every
      consumer, and v→down_u infinite with down_u→u (downlink cost). If any consumer is on
      the other side, the auxiliary vertex is forced there and the cost is paid once.
    """
    a, b = c.unary(*w)
    up, down = c.ship(*w)
    n = len(g)
    s_idx, t_idx = g.index(g.input), g.index(g.output)
    b = b.copy()
    consumers = [list(g.succ[u]) for u in range(n)]
    result_sink = not consumers[t_idx]
    if result_sink:
        b[t_idx] += down[t_idx]  # output with no consumers: its result goes down iff it is in the cloud
    multi = [u for u in range(n) if len(consumers[u]) + (u == t_idx and not result_sink) >= 2]
    aux_up = {u: n + 2 * k for k, u in enumerate(multi)}
    aux_dn = {u: n + 2 * k + 1 for k, u in enumerate(multi)}
    S, T = n + 2 * len(multi), n + 2 * len(multi) + 1
    INF = math.inf
    src: list[int] = [S]
    dst: list[int] = [s_idx]
    cap: list[float] = [INF]
    d = a - b
    for v in range(n):
        if d[v] > 0:
            src.append(v), dst.append(T), cap.append(float(d[v]))
        elif d[v] < 0:
            src.append(S), dst.append(v), cap.append(float(-d[v]))
    for u in range(n):
        cons = consumers[u]
        if u not in aux_up:
            if not cons:
                continue
            v = cons[0]
            src += [u, v]
            dst += [v, u]
            cap += [float(up[u]), INF if schedule == "single" else float(down[u])]
            continue
        au, ad = aux_up[u], aux_dn[u]
        src += [u, ad]
        dst += [au, u]
        cap += [float(up[u]), float(down[u])]
        for v in cons:
            src += [au, v]
            dst += [v, ad]
            cap += [INF, INF]
            if schedule == "single":
                src.append(v), dst.append(u), cap.append(INF)
        if u == t_idx and not result_sink:
            src.append(S), dst.append(ad), cap.append(INF)  # the result: a consumer fixed on the device
    return T + 1, S, T, np.array(src, np.int64), np.array(dst, np.int64), np.array(cap, float)


def _mincut_networkx(N: int, S: int, T: int, src: np.ndarray, dst: np.ndarray, cap: np.ndarray,
                     flow_func: Any = None) -> np.ndarray:
    """Source-side mask by networkx (Boykov–Kolmogorov; its preflow_push returned a suboptimal
    cut on float capacities in our brute-force tests)."""

    G = nx.DiGraph()
    G.add_nodes_from(range(N))
    for u, v, k in zip(src.tolist(), dst.tolist(), cap.tolist()):
        if G.has_edge(u, v):
            if "capacity" in G[u][v]:
                if math.isinf(k):
                    del G[u][v]["capacity"]
                else:
                    G[u][v]["capacity"] += k
        elif math.isinf(k):
            G.add_edge(u, v)  # no capacity attribute = infinite
        else:
            G.add_edge(u, v, capacity=k)
    _, (side, _) = nx.minimum_cut(G, S, T, flow_func=flow_func or boykov_kolmogorov)
    mask = np.zeros(N, bool)
    mask[list(side)] = True
    return mask


_I32 = 2**31 - 2


def _mincut_scipy(N: int, S: int, T: int, src: np.ndarray, dst: np.ndarray, cap: np.ndarray,
                  rel_tol: float = 1e-13, max_rounds: int = 12) -> np.ndarray | None:
    """Source-side mask by scipy's C max-flow (Dinic, int32 capacities), made exact by
    iterative refinement with an optimality certificate; ``None`` if not certified.

    Round k floors the (clipped) residual capacities at a scale that fits int32 and pushes
    a maximum integer flow, which is feasible for the real capacities. Let X be the set
    reachable from S in that round's integer residual. For the accumulated flow f,
    ``cap(X) = |f| + r(X)`` where r(X) is X's *real* residual capacity, and ``|f| ≤ OPT ≤
    cap(X)``: once ``r(X) ≤ rel_tol·cap(X)`` X is optimal to that tolerance (the tests ask
    1e-9). Otherwise the remaining flow is at most r(X), so every residual capacity is
    clipped at 2·r(X) (a cut through a clipped edge then costs more than the remaining
    minimum, so min-cut sets are unchanged) and the next round resolves finer.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow

    finite = np.isfinite(cap)
    big = float(cap[finite].sum()) + 1.0  # more than any cut made of finite edges (device-only is one)
    cap = np.where(finite, cap, big)
    # structure with both directions present, duplicates summed
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    C = csr_matrix((np.concatenate([cap, np.zeros_like(cap)]), (rows, cols)), shape=(N, N))
    C.sum_duplicates()
    C.sort_indices()
    resid = C.data.astype(float).copy()  # real residual capacities on C's structure
    indptr, indices = C.indptr, C.indices
    row_of = np.repeat(np.arange(N), np.diff(indptr))
    pushed = 0.0
    clip = math.inf
    for _ in range(max_rounds):
        cl = np.minimum(resid, clip)
        out_s = cl[row_of == S].sum()
        into_t = cl[indices == T].sum()
        denom = max(min(out_s, into_t), float(cl.max(initial=0.0)), 1e-300)
        scale = _I32 / denom
        icap = np.floor(cl * scale).astype(np.int32)
        M = csr_matrix((icap, indices.copy(), indptr.copy()), shape=(N, N))
        res = maximum_flow(M, S, T, method="dinic")
        F = res.flow.tocsr()
        F.sort_indices()
        # align the flow with C's structure (its nonzeros are a subset of C's entries)
        fk = np.asarray(F[row_of, indices]).ravel().astype(float) / scale
        resid = resid - fk  # antisymmetric flow: forward entries lose, reverse entries gain
        pushed += res.flow_value / scale
        ires = icap.astype(np.int64) - np.asarray(F[row_of, indices]).ravel().astype(np.int64)
        Rg = csr_matrix(((ires > 0).astype(np.int8), indices.copy(), indptr.copy()), shape=(N, N))
        Rg.eliminate_zeros()  # csgraph treats stored zeros as edges
        reach = breadth_first_order(Rg, S, directed=True, return_predecessors=False)
        X = np.zeros(N, bool)
        X[reach] = True
        if X[T]:  # cannot happen after a maximum flow; be safe
            return None
        crossing = X[row_of] & ~X[indices]
        rX = float(np.maximum(resid[crossing], 0.0).sum())
        capX = pushed + rX
        if rX <= rel_tol * max(capX, 1e-300):
            return X
        clip = 2.0 * rX
        resid = np.maximum(resid, 0.0)  # float round-off only; real residuals are ≥ 0
    return None


def solve_mincut(g: Graph, c: CostArrays, w: tuple[float, float], schedule: str,
                  backend: str = "auto") -> np.ndarray:
    """Exact s–t min-cut placement for any DAG and both schedules (see :func:`_cut_network`).

    ``backend="auto"`` uses scipy's C max-flow with a certified refinement and falls back to
    networkx when the certificate fails; ``"networkx"`` forces the pure-Python path.
    """
    N, S, T, src, dst, cap = _cut_network(g, c, w, schedule)
    side = None
    if backend in ("auto", "scipy"):
        side = _mincut_scipy(N, S, T, src, dst, cap)
        if side is None:
            log.info("scipy min-cut not certified; falling back to networkx")
    if side is None:
        side = _mincut_networkx(N, S, T, src, dst, cap)
    return ~side[: len(g)]


def brute_force_points(g: Graph, c: CostArrays) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All placements (cloud masks), their latency, energy and single-cut feasibility (vectorised)."""
    n = len(g)
    if n > BRUTE_FORCE_MAX_NODES:
        raise InputError(f"brute force is limited to {BRUTE_FORCE_MAX_NODES} nodes, graph has {n}")
    s = g.index(g.input)
    free = [i for i in range(n) if i != s]
    m = 1 << len(free)
    bits = (np.arange(m)[:, None] >> np.arange(len(free))[None, :]) & 1
    cloud = np.zeros((m, n), bool)
    cloud[:, free] = bits.astype(bool)
    dev = ~cloud
    lat = dev @ c.dev_ms + cloud @ c.cloud_ms
    en = dev @ c.dev_mj + cloud @ c.idle_mj
    up = np.zeros((m, n), bool)
    down = np.zeros((m, n), bool)
    ok = np.ones(m, bool)
    for u in range(n):
        for v in g.succ[u]:
            up[:, u] |= dev[:, u] & cloud[:, v]
            down[:, u] |= cloud[:, u] & dev[:, v]
            ok &= ~(cloud[:, u] & dev[:, v])
    t = g.index(g.output)
    down[:, t] |= cloud[:, t]
    lat = lat + up @ c.up_ms + down @ c.down_ms
    en = en + up @ c.up_mj + down @ c.down_mj
    return cloud, lat, en, ok


def _solve_brute(g: Graph, c: CostArrays, w: tuple[float, float], schedule: str) -> np.ndarray:
    cloud, lat, en, ok = brute_force_points(g, c)
    val = w[0] * lat + w[1] * en
    if schedule == "single":
        val = np.where(ok, val, np.inf)
    return cloud[int(np.argmin(val))]


SOLVERS = ("auto", "argmin", "shortest_path", "mincut", "brute")


def solve(graph: Graph | Mapping[str, Any] | str | Path, network: str | Network | Mapping[str, Any] = "wifi",
          objective: str = "latency", schedule: str = "single", load: float = 1.0,
          solver: str = "auto") -> Plan:
    """The placement minimising ``objective`` under ``schedule`` (exact; see module docstring).

    ``solver="auto"`` picks argmin-over-cuts (chain, single), shortest path (chain, any) or
    min-cut (DAG). ``objective`` may also be a weight pair ``(w_latency, w_energy)``.
    """
    g, net, load = as_graph(graph), get_network(network), check_load(load)
    check_choice("schedule", schedule, SCHEDULES)
    check_choice("solver", solver, SOLVERS)
    w = _weights(objective)
    chain = g.is_chain()
    if solver == "auto":
        solver = ("argmin" if schedule == "single" else "shortest_path") if chain else "mincut"
    if solver in ("argmin", "shortest_path") and not chain:
        raise InputError(f"solver {solver!r} needs a chain graph; {g.name or 'this graph'} is a DAG (use mincut)")
    if solver == "argmin" and schedule != "single":
        raise InputError("solver 'argmin' only solves schedule='single' (use shortest_path for 'any')")
    t0 = time.perf_counter()
    c = cost_arrays(g, net, load)
    if solver == "argmin":
        cloud = solve_chain_single(g, c, w)
    elif solver == "shortest_path":
        cloud = (solve_chain_any(g, c, w) if schedule == "any" else solve_chain_single(g, c, w))
    elif solver == "mincut":
        cloud = solve_mincut(g, c, w, schedule)
    else:
        cloud = _solve_brute(g, c, w, schedule)
    dt = (time.perf_counter() - t0) * 1000.0
    obj_name = objective if isinstance(objective, str) else f"weighted{tuple(objective)}"
    plan = make_plan(g, net, load, cloud, objective=obj_name, schedule=schedule, solver=solver)
    plan.solve_ms = dt
    return plan


def scale(graph: Graph | Mapping[str, Any], device: float = 1.0, cloud: float = 1.0) -> Graph:
    """A copy of ``graph`` whose device side is ``device``× slower (time and compute energy)
    and whose cloud compute is ``cloud``× its time — for what-if studies, e.g. a phone-class
    CPU instead of the machine that was profiled. (Server load is :func:`solve`'s ``load``.)"""
    g = as_graph(graph)
    for what, v in (("device", device), ("cloud", cloud)):
        if not is_finite_number(v) or v <= 0:
            raise InputError(f"{what} scale must be a positive number, got {v!r}")
    nodes = [replace(n, device_ms=n.device_ms * device, device_mj=n.device_mj * device,
                     cloud_ms=n.cloud_ms * cloud, meta=dict(n.meta)) for n in g.nodes]
    return Graph(nodes=nodes, edges=list(g.edges), input=g.input, output=g.output,
                 name=f"{g.name} (device×{device:g}, cloud×{cloud:g})")


def baselines(graph: Graph | Mapping[str, Any], network: str | Network | Mapping[str, Any],
              load: float = 1.0) -> dict[str, Plan]:
    """Device-only and cloud-only (all but the input in the cloud) plans, for speedups."""
    g, net, load = as_graph(graph), get_network(network), check_load(load)
    dev = np.zeros(len(g), bool)
    cl = np.ones(len(g), bool)
    cl[g.index(g.input)] = False
    return {"device-only": make_plan(g, net, load, dev, solver="baseline", schedule="single"),
            "cloud-only": make_plan(g, net, load, cl, solver="baseline", schedule="single")}
