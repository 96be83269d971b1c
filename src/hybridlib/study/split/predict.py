"""The partition engine's prediction for executed splits: per cut, and the cut it chooses.

:mod:`hybridlib.study.split.execute` *executes* a cut (head in a throttled Chromium page, tail on the
server, a shaped link) and records per-stage times; this module says what the partition
engine *predicted* for the same conditions (:mod:`hybridlib.study.split.analysis` compares the
two). It never re-implements the cost model: every predicted number is
:func:`hybridlib.partition.evaluate` of the cut's placement, and the chosen cut is
:func:`hybridlib.partition.solve` with ``schedule="single"`` (Neurosurgeon's one cut) on the graph
profiled on that device class (:mod:`hybridlib.study.split.profiles`).

Vocabulary (the execution half's): a **cut** is a layer name; the device runs every layer
up to and including it and ships its output. The input layer = **cloud-only** (the input
goes up), the output layer = **device-only** (nothing is shipped). A **case** is one
(model, device class, network, load) condition; a **record** is one executed repetition.

Neurosurgeon's stacked-bar pieces (:data:`PIECES`): device compute | upload | cloud compute |
download. Energy is never measured here: the engine's device energy is a *model*
(:class:`hybridlib.profiling.layers.PowerModel` + radio powers in :data:`hybridlib.partition.NETWORKS`)
and every energy column says so (``energy_source = "model"``).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import partition
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

CASE = ("model", "device", "network", "load")
PIECES = ("device_ms", "upload_ms", "cloud_ms", "download_ms")
WIRE_ITEMSIZE = {"float32": 4, "float16": 2, "uint8": 1}


def topo_order(graph: partition.Graph | Mapping[str, Any]) -> list[str]:
    """Node ids in a topological order that keeps the graph's own node order where it can."""
    g = partition.as_graph(graph)
    indeg = {i: 0 for i in g.ids}
    succ: dict[str, list[str]] = {i: [] for i in g.ids}
    for a, b in g.edges:
        indeg[b] += 1
        succ[a].append(b)
    rank = {i: k for k, i in enumerate(g.ids)}
    ready = sorted((i for i, d in indeg.items() if d == 0), key=rank.get)
    out = []
    while ready:
        u = ready.pop(0)
        out.append(u)
        for v in succ[u]:
            indeg[v] -= 1
            if indeg[v] == 0:
                ready.append(v)
        ready.sort(key=rank.get)
    return out


def cut_points(graph: partition.Graph | Mapping[str, Any]) -> list[str]:
    """The single-tensor cuts of ``graph`` in order: input (cloud-only) … output (device-only).

    A cut point is a node after which no earlier node's output is still needed, so exactly
    one tensor crosses (an inception block's branches are not cut points)."""
    g = partition.as_graph(graph)
    order = topo_order(g)
    pos = {n: k for k, n in enumerate(order)}
    last = {pos[a]: pos[a] for a in order}
    for a, b in g.edges:
        last[pos[a]] = max(last[pos[a]], pos[b])
    return [n for k, n in enumerate(order) if all(u >= k or lu <= k for u, lu in last.items())]


def cut_placement(graph: partition.Graph | Mapping[str, Any], cut: str) -> dict[str, str]:
    """Placement of a single cut: ``cut`` and every node before it on the device, the rest in
    the cloud. Raises :class:`InputError` naming ``cut`` if it is not a single-tensor cut."""
    g = partition.as_graph(graph)
    if cut not in g.ids:
        raise InputError(f"cut {cut!r} is not a layer of graph {g.name!r}")
    order = topo_order(g)
    k = order.index(cut)
    place = {n: (partition.DEVICE if i <= k else partition.CLOUD) for i, n in enumerate(order)}
    crossing = {a for a, b in g.edges if place[a] != place[b]}
    if crossing - {cut}:
        raise InputError(f"cut {cut!r} of {g.name!r} is not a single-tensor cut: "
                         f"{', '.join(sorted(crossing - {cut}))} also cross")
    return place


def plan_cut(plan: partition.Plan, graph: partition.Graph | Mapping[str, Any]) -> str:
    """The cut (layer name) a single-cut plan amounts to: the device node whose output goes
    up, the output layer for device-only, the input layer for cloud-only."""
    g = partition.as_graph(graph)
    ups = [t["node"] for t in plan.transfers if t["direction"] == "up"]
    if not ups:
        return g.output
    if len(ups) > 1:
        raise InputError(f"plan ships {len(ups)} tensors up ({', '.join(ups)}): not a single cut")
    return ups[0]


def wire_graph(graph: partition.Graph | Mapping[str, Any], dtype: str = "float32",
               input_dtype: str | None = None) -> partition.Graph:
    """``graph`` with ``wire_bytes`` set to what the ``/split`` wire carries: each shipped
    tensor's element count × the wire dtype's size (the input with ``input_dtype``, default
    ``dtype``). Element counts come from each node's ``meta.out_shape`` (to_graph records it),
    else from ``out_bytes`` read as float32."""
    if dtype not in WIRE_ITEMSIZE or (input_dtype is not None and input_dtype not in WIRE_ITEMSIZE):
        raise InputError(f"wire dtype must be one of {', '.join(WIRE_ITEMSIZE)}, got {dtype!r}/{input_dtype!r}")
    g = partition.as_graph(graph)
    nodes = []
    for n in g.nodes:
        shape = n.meta.get("out_shape")
        elems = float(np.prod(shape)) if shape else n.out_bytes / 4.0
        size = WIRE_ITEMSIZE[(input_dtype or dtype) if n.id == g.input else dtype]
        nodes.append(replace(n, wire_bytes=elems * size, meta=dict(n.meta)))
    return partition.Graph(nodes=nodes, edges=list(g.edges), input=g.input, output=g.output, name=g.name)


def predict_cuts(graph: partition.Graph | Mapping[str, Any], network: str | partition.Network | Mapping[str, Any],
                 load: float = 1.0, cuts: Sequence[str] | None = None) -> pd.DataFrame:
    """The engine's prediction for every cut (default: all single-tensor cuts) of ``graph``.

    One row per cut: ``cut``, ``position`` (0 = input), ``kind``, the four pieces
    (``device_ms``, ``upload_ms``, ``cloud_ms``, ``download_ms``), ``total_ms``, ``up_bytes``,
    ``down_bytes``, modelled ``energy_mj`` and ``chosen`` (True on the cut
    :func:`partition.solve` picks with ``schedule="single"``). All numbers from
    :func:`partition.evaluate` with ``load`` multiplying cloud compute.
    """

    g = partition.as_graph(graph)
    net = partition.get_network(network)
    all_cuts = cut_points(g)
    cuts = list(all_cuts if cuts is None else cuts)
    best = partition.solve(g, net, objective="latency", schedule="single", load=load)
    chosen = plan_cut(best, g)
    order = topo_order(g)
    rows = []
    for c in cuts:
        p = partition.evaluate(g, net, cut_placement(g, c), load=load, schedule="single")
        b = p.breakdown
        rows.append({"cut": c, "position": order.index(c), "kind": _kind(g, c),
                     "device_ms": b["device_ms"], "upload_ms": b["uplink_ms"], "cloud_ms": b["cloud_ms"],
                     "download_ms": b["downlink_ms"], "total_ms": p.latency_ms,
                     "up_bytes": b["bytes_up"], "down_bytes": b["bytes_down"],
                     "energy_mj": p.energy_mj, "energy_source": "model", "chosen": c == chosen})
    df = pd.DataFrame(rows)
    if chosen not in cuts:
        log.info("engine's choice %s is not among the requested cuts", chosen)
    df.attrs["chosen"] = chosen
    df.attrs["chosen_ms"] = best.latency_ms
    return df


def _kind(g: partition.Graph, cut: str) -> str:
    return "cloud-only" if cut == g.input else "device-only" if cut == g.output else "split"


def predict_case(graph: partition.Graph | Mapping[str, Any], *, model: str, device: str, network: str,
                 load: str, load_factor: float = 1.0, cuts: Sequence[str] | None = None) -> pd.DataFrame:
    """:func:`predict_cuts` for one executed case, labelled with the :data:`CASE` columns,
    ``load_factor`` (the *measured* factor of that run) and ``engine_choice``."""
    df = predict_cuts(graph, network, load=load_factor, cuts=cuts)
    return df.assign(model=model, device=device, network=network, load=load, load_factor=load_factor,
                     engine_choice=df.attrs["chosen"])


def server_factor(graph: partition.Graph | Mapping[str, Any], records: pd.DataFrame,
                  load_info: Mapping[str, Any] | None = None) -> tuple[float, str]:
    """Neurosurgeon's server-load factor for the engine, *measured*: the server's whole-model
    time as it serves ÷ the profiled cloud whole-model time (Σ the graph's ``cloud_ms``).

    Why not 1 when idle: the profile times the model as one ``tf.function`` call, while the
    server runs each request's tail as it is implemented (e.g. an eager Keras call) on a
    machine other jobs share — the factor carries both, exactly as Neurosurgeon scales its
    cloud predictions by a measured load. Source, in order: the execution's own probe of the
    loaded server (``load_info["loaded_ms"]``), else the median ``tail_ms`` of the executed
    cloud-only cut (the server's ``server_ms`` for the whole model), else 1 (``assumed``).
    Returns ``(factor, source)``."""
    g = partition.as_graph(graph)
    prof = float(sum(n.cloud_ms for n in g.nodes))
    if prof <= 0:
        return 1.0, "assumed (profile has no cloud time)"
    if load_info and load_info.get("measured") and load_info.get("loaded_ms"):
        return float(load_info["loaded_ms"]) / prof, "probe: /split/<input> server_ms under load ÷ profile"
    cl = records[records["cut"].isin([g.input, "input"])]
    if not cl.empty:
        return float(cl["tail_ms"].median()) / prof, "cloud-only cut's server_ms (median) ÷ profile"
    return 1.0, "assumed (no cloud-only cut executed)"


def select_cuts(graph: partition.Graph | Mapping[str, Any], n: int, must: Iterable[str] = (),
                allowed: Iterable[str] | None = None) -> list[str]:
    """``n`` cuts to execute (0 = all): both end cuts, the ``must`` cuts (the engine's choices),
    then interior cut points spread evenly over the layer order, in graph order.

    A quick run executes a subset; the engine's own choice must be in it, or the hit rate
    would measure the subset rather than the engine."""
    g = partition.as_graph(graph)
    pts = cut_points(g)
    if allowed is not None:
        ok = set(allowed) | {g.input, g.output}
        pts = [c for c in pts if c in ok]
    chosen = [g.input, g.output, *[c for c in must if c in pts]]
    if n <= 0 or n >= len(pts):
        return pts
    inner = [c for c in pts if c not in chosen]
    k = max(0, n - len(set(chosen)))
    if k and inner:
        idx = np.linspace(0, len(inner) - 1, k + 2)[1:-1] if k < len(inner) else np.arange(len(inner))
        chosen += [inner[int(round(i))] for i in idx]
    keep = set(chosen)
    return [c for c in pts if c in keep]


def predict_cases(graphs: Mapping[tuple[str, str], partition.Graph], networks: Iterable[str],
                  loads: Mapping[str, float], cuts: Mapping[str, Sequence[str]] | None = None) -> pd.DataFrame:
    """:func:`predict_cuts` over conditions: ``graphs`` maps (model, device class) → graph
    profiled on that class, ``loads`` maps a load name (``idle``/``loaded``) → the measured
    factor. Tidy: the :data:`CASE` columns + the per-cut prediction columns + ``load_factor``."""

    frames = []
    for (model, device), g in graphs.items():
        for net in networks:
            for load, factor in loads.items():
                frames.append(predict_case(g, model=model, device=device, network=net, load=load,
                                           load_factor=factor, cuts=(cuts or {}).get(model)))
    if not frames:
        raise InputError("predict_cases: no conditions")
    return pd.concat(frames, ignore_index=True)
