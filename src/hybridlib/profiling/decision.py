"""Decision cost of predicted latencies: how much worse is a plan made on predictions?

Neurosurgeon decides from *predicted* per-layer costs so that a new network needs no
profiling; prediction error only matters where it changes the plan. So: solve the partition
on predicted costs, execute that plan on the *measured* costs, and compare with the plan
solved on measured costs — the **regret** ``measured latency of the predicted plan /
measured best − 1`` (0 when the predictions lead to an optimal plan, however wrong they are).

Predicted graphs (:func:`predicted_graph`) keep the measured graph's structure and tensor
sizes and put each fused kernel's predicted time on the kernel's last layer (the runtime
cannot cut inside a fused kernel, and that layer's output is the kernel's); identity layers
and the other layers of a kernel cost 0. Isolated kernels do not add up to a model run
(the emotion CNN's 33 kernels timed alone sum to ~3× its whole-model time), because
each isolated call pays a floor — call, argument conversion, variable reads — that a model
pays once. :func:`call_floor_ms` estimates that floor from the corpus alone (the median time
of its 5% least-work kernels); it is taken off each prediction and the fixed ``tf.function``
call cost (an identity, timed with the corpus) is charged once per side used, as the
measured profile's per-inference fixed cost is. No network is profiled for any of this.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib.partition.cost import evaluate
from hybridlib.partition.graph import Graph, as_graph
from hybridlib.partition.network import NETWORKS
from hybridlib.partition.solvers import scale, solve
from hybridlib.profiling import kpredict
from hybridlib.profiling.kpredict import TARGET
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

#: (device slowdown, server load) per scenario, as in :data:`hybridlib.study.offload.scenarios.SCENARIOS`
SCENARIOS: dict[str, tuple[float, float]] = {"measured": (1.0, 1.0), "fast server": (1.0, 0.1),
                                             "low-end phone (×10) + fast server": (10.0, 0.1)}


def predicted_graph(graph: Graph | Mapping[str, Any], kernel_ms: pd.DataFrame, name: str | None = None,
                    fixed_ms: Mapping[str, float] | None = None) -> Graph:
    """``graph`` with compute costs replaced by per-kernel predictions.

    ``kernel_ms``: one row per kernel with ``last_layer`` and ``device_ms``/``cloud_ms``
    (predicted). Device energy keeps each node's measured power (mJ/ms; 2 W where the node
    had no time). Every kernel's last layer must be a node of ``graph``. ``fixed_ms``
    (per side) is a per-inference cost put, as :func:`hybridlib.profiling.graphs.to_graph` does, on the first
    compute node (device: paid iff the device runs anything) and on the output node
    (cloud: paid iff the cloud runs anything).
    """
    g = as_graph(graph)
    for c in ("last_layer", "device_ms", "cloud_ms"):
        if c not in kernel_ms:
            raise InputError(f"kernel_ms has no column {c!r}")
    ids = set(g.ids)
    missing = sorted(set(kernel_ms["last_layer"]) - ids)
    if missing:
        raise InputError(f"kernels end at layers not in graph {g.name!r}: {', '.join(missing[:5])}")
    by_last = kernel_ms.set_index("last_layer")
    first = next((n.id for n in g.nodes if n.id != g.input), g.input)
    nodes = []
    for n in g.nodes:
        power = n.device_mj / n.device_ms if n.device_ms > 0 else 2.0
        dms = float(by_last.loc[n.id, "device_ms"]) if n.id in by_last.index else 0.0
        cms = float(by_last.loc[n.id, "cloud_ms"]) if n.id in by_last.index else 0.0
        if fixed_ms and n.id == first:
            dms += float(fixed_ms.get("device", 0.0))
        if fixed_ms and n.id == g.output:
            cms += float(fixed_ms.get("cloud", 0.0))
        nodes.append(replace(n, device_ms=dms, cloud_ms=cms, device_mj=dms * power, meta=dict(n.meta)))
    return Graph(nodes=nodes, edges=list(g.edges), input=g.input, output=g.output,
                 name=name or f"{g.name} (predicted)")


def regret_table(measured: Graph | Mapping[str, Any], predicted: Graph | Mapping[str, Any],
                 networks: Sequence[str] = tuple(NETWORKS), scenarios: Mapping[str, tuple[float, float]] = SCENARIOS,
                 objective: str = "latency", schedule: str = "single") -> pd.DataFrame:
    """Regret of plans solved on ``predicted`` costs, executed on ``measured`` costs, per
    scenario × network preset: ``best_ms`` (measured optimum), ``plan_ms`` (measured cost of
    the predicted plan), ``regret`` = plan_ms / best_ms − 1, and whether the plans agree."""

    gm, gp = as_graph(measured), as_graph(predicted)
    if set(gm.ids) != set(gp.ids):
        raise InputError("measured and predicted graphs must have the same nodes")
    rows = []
    for sc, (dev, load) in scenarios.items():
        m, p = scale(gm, device=dev), scale(gp, device=dev)
        for net in networks:
            best = solve(m, net, objective, schedule, load)
            plan = solve(p, net, objective, schedule, load)
            got = evaluate(m, net, plan.placement, load=load, schedule=schedule)
            key = "latency_ms" if objective == "latency" else "energy_mj"
            b, v = getattr(best, key), getattr(got, key)
            rows.append({"scenario": sc, "network": net, "objective": objective, "best": b, "plan": v,
                         "regret": v / b - 1 if b > 0 else 0.0, "same_plan": plan.placement == best.placement,
                         "best_cloud_layers": len(best.cloud_nodes), "plan_cloud_layers": len(plan.cloud_nodes)})
    return pd.DataFrame(rows)


def call_floor_ms(corpus: pd.DataFrame, target: str = TARGET, quantile: float = 0.05) -> dict[str, float]:
    """Per side, the time of a kernel call that does almost no work: the median ``target``
    of the corpus' kernels in the lowest ``quantile`` of FLOPs (random kernels only)."""

    fam = corpus[corpus["source"].isin(kpredict.FAMILY_SOURCES)] if "source" in corpus else corpus
    if fam.empty:
        raise InputError("no random kernels in the corpus to estimate the call floor from")
    flops = kpredict.derived(fam)["flops"].to_numpy()
    small = fam[flops <= np.quantile(flops, quantile)]
    return {str(k): float(v) for k, v in small.groupby("side")[target].median().items()}


def kernel_costs(preds: pd.DataFrame, overhead_ms: Mapping[str, float], device_side: str = "device",
                 cloud_side: str = "cloud") -> pd.DataFrame:
    """Per-kernel predicted ``device_ms``/``cloud_ms`` (one row per kernel) from rows of
    :func:`kpredict.network_predictions` for one network, training set and method: the
    plan's device is corpus side ``device_side`` (``device`` = TF 1 thread, ``browser`` =
    TF.js in throttled Chromium), its cloud ``cloud_side``. Each side's per-call floor
    ``overhead_ms[side]`` (:func:`call_floor_ms`) is taken off (never below 0)."""
    t = preds.pivot_table(index="last_layer", columns="side", values="pred", aggfunc="first")
    for role, side in (("device", device_side), ("cloud", cloud_side)):
        if side not in t:
            raise InputError(f"no {side!r} predictions (sides predicted: {sorted(map(str, t.columns))})")
        t[f"{role}_ms"] = np.maximum(t[side] - float(overhead_ms.get(side, 0.0)), 0.0)
    return t[["device_ms", "cloud_ms"]].reset_index()


def _predicted(corpus: pd.DataFrame, graphs: Mapping[str, Graph], methods: Sequence[str], target: str,
               device_side: str, cloud_side: str) -> Iterator[tuple[str, str, str, Graph, Graph]]:
    """``(model, method, train, measured graph, predicted graph)`` for every graph whose
    network has kernel predictions: the one path from corpus to predicted graph."""

    have = set(corpus["side"]) if "side" in corpus else set()
    if not {device_side, cloud_side} <= have:
        raise InputError(f"kernel corpus has sides {sorted(have)}; decision_cost needs {device_side!r} and "
                         f"{cloud_side!r}")
    corpus = corpus[corpus["side"].isin([device_side, cloud_side])]
    preds = kpredict.network_predictions(corpus, methods, target)
    floor = call_floor_ms(corpus, target)
    over = corpus.groupby("side")["call_overhead_ms"].median().to_dict() if "call_overhead_ms" in corpus else {}
    fixed = {"device": over.get(device_side, 0.0), "cloud": over.get(cloud_side, 0.0)}
    for model, g in graphs.items():
        p_model = preds[preds.network == model]
        if p_model.empty:
            log.info("no kernel predictions for %s; skipped", model)
            continue
        for (method, train), p in p_model.groupby(["method", "train"]):
            yield model, str(method), str(train), g, predicted_graph(
                g, kernel_costs(p, floor, device_side, cloud_side), fixed_ms=fixed)


def predicted_graphs(corpus: pd.DataFrame, graphs: Mapping[str, Graph], method: str = "additive+rf",
                     train: str = "families", target: str = TARGET, device_side: str = "device",
                     cloud_side: str = "cloud") -> dict[str, Graph]:
    """Per network, ``graphs[network]`` with its compute costs *predicted* by ``method``
    trained on ``train`` (never on the network's own kernels): what an engine that profiles
    nothing would solve. 09 executes the cut these graphs choose next to the measured best."""
    return {model: pg for model, m, t, _g, pg in _predicted(corpus, graphs, (method,), target, device_side, cloud_side)
            if t == train}


def decision_cost(corpus: pd.DataFrame, graphs: Mapping[str, Graph], methods: Sequence[str] = ("rf", "linear"),
                  trains: Sequence[str] = ("families", "other-family"), target: str = TARGET,
                  networks: Sequence[str] = tuple(NETWORKS),
                  scenarios: Mapping[str, tuple[float, float]] = SCENARIOS, device_side: str = "device",
                  cloud_side: str = "cloud") -> pd.DataFrame:
    """Regret per model × method × training set × scenario × network of plans solved on
    kernel predictions for a network whose kernels were not in training.

    ``graphs``: measured partition graphs keyed by network name (``emotion_cnn``,
    ``alexnet``; others are skipped) whose device is the corpus side ``device_side``
    (``device``: TF 1 thread; ``browser``: TF.js, e.g. ``graphs.to_graph(...,
    device="tfjs-wasm")``); ``corpus``: the kernel corpus
    (:func:`kernels.ensure_kernel_corpus`), whose network rows are the *test* kernels only.
    Only the two sides used are fitted. Rows carry ``device_side``.
    """

    out = [regret_table(g, pg, networks, scenarios).assign(model=model, method=method, train=train,
                                                           device_side=device_side)
           for model, method, train, g, pg in _predicted(corpus, graphs, methods, target, device_side, cloud_side)
           if train in trains]
    if not out:
        raise InputError(f"none of the graphs {list(graphs)} has kernel predictions")
    return pd.concat(out, ignore_index=True)
