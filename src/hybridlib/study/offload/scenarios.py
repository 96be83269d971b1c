"""When does offloading pay? The partition study of notebook 05 (and the scenario 06 plans in).

Everything here is arithmetic over :mod:`hybridlib.partition` — scenarios (how much slower the
device, how busy the server), the network × objective choice table, the device-slowdown
sensitivity, the multi-switch gain, Pareto fronts, the server-load sweep and the compression
probe — so the notebook keeps narrative and calls and a unit test can check each table against
:func:`hybridlib.partition.solve` directly. The scenarios are what-ifs over measured profiles,
not measurements of a phone. Its figures: :mod:`hybridlib.study.offload.figures`.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib import partition
from hybridlib.models.networks import preprocess
from hybridlib.partition import Graph, Plan
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

#: assumed slowdown of a low-end phone core vs the profiled one (a what-if, not measured): the
#: low-end device class (×10) of the executed studies, not the mid-range "phone" (×4)
PHONE = 10.0
#: scenario → (device slowdown, server load); load < 1 = a server faster than this machine
SCENARIOS: dict[str, tuple[float, float]] = {
    "measured": (1.0, 1.0),
    "fast server": (1.0, 0.1),
    "low-end phone (×10) + fast server": (PHONE, 0.1),
}
#: the scenario the figures, 05's Pareto fronts and 06's planner use
MAIN_SCENARIO = "low-end phone (×10) + fast server"


def scenario(name: str) -> tuple[float, float]:
    """(device slowdown, server load) of a named scenario; :class:`InputError` names the choices."""
    if name not in SCENARIOS:
        raise InputError(f"scenario {name!r}: choose one of {', '.join(SCENARIOS)}")
    return SCENARIOS[name]


def scenario_graph(graph: Graph, name: str) -> tuple[Graph, float]:
    """The graph with the scenario's device slowdown applied, and the scenario's server load."""
    dev, load = scenario(name)
    return partition.scale(graph, device=dev), load


def uplink_cut(plan: Plan) -> str:
    """The layers whose outputs go up, comma-separated (empty = device-only, ``input`` = cloud-only)."""
    return ",".join(t["node"] for t in plan.transfers if t["direction"] == "up")


def _saving_pct(mj: float, ref_mj: float) -> float:
    return 100 * (1 - mj / ref_mj) if ref_mj else 0.0


def choice_table(graphs: Mapping[str, Graph], scenarios: Iterable[str] = tuple(SCENARIOS),
                 networks: Iterable[str] = tuple(partition.NETWORKS)) -> pd.DataFrame:
    """One row per model × scenario × network × objective × schedule: the solver's plan, its
    cut, and speedups / energy savings against device-only and cloud-only (Neurosurgeon's
    benchmark tables). ``choice`` is the cut for a split plan, else the plan's kind."""
    rows = []
    for m, g0 in graphs.items():
        for scen in scenarios:
            g, load = scenario_graph(g0, scen)
            for net in networks:
                base = partition.baselines(g, net, load=load)
                dev, cl = base["device-only"], base["cloud-only"]
                for obj in partition.OBJECTIVES:
                    for sched in partition.SCHEDULES:
                        p = partition.solve(g, net, obj, sched, load=load)
                        rows.append({
                            "model": m, "scenario": scen, "load": load, "network": net, "objective": obj,
                            "schedule": sched, "solver": p.solver, "kind": p.kind, "cut": uplink_cut(p),
                            "cloud_layers": len(p.cloud_nodes), "latency_ms": p.latency_ms,
                            "energy_mj": p.energy_mj,
                            "device_only_ms": dev.latency_ms, "cloud_only_ms": cl.latency_ms,
                            "device_only_mj": dev.energy_mj, "cloud_only_mj": cl.energy_mj,
                            "speedup_vs_cloud": cl.latency_ms / p.latency_ms,
                            "speedup_vs_device": dev.latency_ms / p.latency_ms,
                            "energy_saving_vs_cloud_pct": _saving_pct(p.energy_mj, cl.energy_mj),
                            "energy_saving_vs_device_pct": _saving_pct(p.energy_mj, dev.energy_mj),
                            "solve_ms": p.solve_ms,
                        })
    df = pd.DataFrame(rows)
    df["choice"] = np.where(df.kind == "split", df.cut, df.kind)
    return df


def sensitivity_table(graphs: Mapping[str, Graph], slowdowns: Sequence[float] = (1, 3, 10, 30),
                      load: float = 0.1) -> pd.DataFrame:
    """How slow must the device be before offloading pays? Latency, single cut, per network."""
    rows = []
    for m, g0 in graphs.items():
        for k in slowdowns:
            g = partition.scale(g0, device=k)
            for net in partition.NETWORKS:
                p = partition.solve(g, net, "latency", "single", load=load)
                rows.append({"model": m, "device_slowdown": k, "network": net,
                             "choice": p.kind if p.kind != "split" else uplink_cut(p)})
    return pd.DataFrame(rows)


def multi_switch_gain(choices: pd.DataFrame) -> pd.DataFrame:
    """Per model × scenario × network × objective: % latency / energy that ``any`` (multi-switch)
    saves over ``single`` (never negative: ``any`` includes every single-cut plan)."""
    ms = choices.pivot_table(index=["model", "scenario", "network", "objective"], columns="schedule",
                             values=["latency_ms", "energy_mj"], aggfunc="first")
    return pd.DataFrame({
        "latency_gain_pct": 100 * (1 - ms[("latency_ms", "any")] / ms[("latency_ms", "single")]),
        "energy_gain_pct": 100 * (1 - ms[("energy_mj", "any")] / ms[("energy_mj", "single")]),
    }).reset_index()


def pareto_table(graphs: Mapping[str, Graph], scenario_name: str = MAIN_SCENARIO) -> pd.DataFrame:
    """The latency × device-energy fronts of every model, network and schedule in one scenario."""
    rows = []
    for m, g0 in graphs.items():
        g, load = scenario_graph(g0, scenario_name)
        for net in partition.NETWORKS:
            for sched in partition.SCHEDULES:
                for p in partition.pareto(g, net, schedule=sched, load=load):
                    rows.append({"model": m, "network": net, "schedule": sched, "latency_ms": p.latency_ms,
                                 "energy_mj": p.energy_mj, "kind": p.kind, "method": p.solver})
    return pd.DataFrame(rows)


def load_sweep(graphs: Mapping[str, Graph], loads: Sequence[float], device: float = PHONE,
               network: str = "wifi") -> pd.DataFrame:
    """Latency of the best single cut, device-only and cloud-only as the server gets busier."""
    rows = []
    for m, g0 in graphs.items():
        g = partition.scale(g0, device=device)
        for load in loads:
            base = partition.baselines(g, network, load=load)
            p = partition.solve(g, network, "latency", "single", load=load)
            rows += [{"model": m, "load": float(load), "plan": "best", "latency_ms": p.latency_ms,
                      "cloud_layers": len(p.cloud_nodes)},
                     {"model": m, "load": float(load), "plan": "device-only",
                      "latency_ms": base["device-only"].latency_ms},
                     {"model": m, "load": float(load), "plan": "cloud-only",
                      "latency_ms": base["cloud-only"].latency_ms}]
    return pd.DataFrame(rows)


def layer_activations(model: tf_keras.Model, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every layer's output for uint8 faces, scaled by :func:`hybridlib.models.preprocess`
    (the same rule as training and serving)."""
    import tf_keras as keras

    probe = keras.Model(model.inputs, [layer.output for layer in model.layers])
    outs = probe(preprocess(images), training=False)
    return {layer.name: np.asarray(o) for layer, o in zip(model.layers, outs)}


def compression_table(acts: Mapping[str, np.ndarray], codecs: Sequence[str] = ("zlib", "zstd", "lz4"),
                      dtypes: Sequence[str] = ("float32", "float16"), repeats: int = 3,
                      ) -> tuple[pd.DataFrame, dict[str, partition.CodecMeasure]]:
    """Measured ratio and time per layer × codec × dtype (round trip checked by
    :func:`~hybridlib.partition.measure_codec`), and the zstd/float32 measures to fold into a graph."""
    rows, measures = [], {}
    for name, a in acts.items():
        for codec in codecs:
            for dtype in dtypes:
                cm = partition.measure_codec(np.asarray(a), codec, dtype, repeats=repeats)
                rows.append({"layer": name, **cm.to_dict()})
                if codec == "zstd" and dtype == "float32":
                    measures[name] = cm
    return pd.DataFrame(rows), measures


def compression_plans(graphs: Mapping[str, Graph], device: float = PHONE, load: float = 0.1) -> pd.DataFrame:
    """Best multi-switch plan per network for each labelled graph (e.g. raw vs compressed)."""
    rows = []
    for net in partition.NETWORKS:
        for label, g in graphs.items():
            p = partition.solve(partition.scale(g, device=device), net, "latency", "any", load=load)
            rows.append({"network": net, "tensors": label, "latency_ms": p.latency_ms, "kind": p.kind,
                         "bytes_up": p.breakdown["bytes_up"]})
    return pd.DataFrame(rows)


def result_record(choices: pd.DataFrame, sens: pd.DataFrame, ms_gain: pd.DataFrame, fronts: pd.DataFrame,
                  sweep: pd.DataFrame, codecs: pd.DataFrame, comp: pd.DataFrame) -> dict[str, Any]:
    """05's ``results/partition.json`` (tests read it)."""
    keep = ("model", "scenario", "load", "network", "objective", "schedule", "kind", "cut", "latency_ms",
            "energy_mj", "speedup_vs_cloud", "speedup_vs_device", "energy_saving_vs_cloud_pct",
            "energy_saving_vs_device_pct", "solver")
    return {
        "scenarios": {k: {"device_slowdown": v[0], "load": v[1]} for k, v in SCENARIOS.items()},
        "sensitivity": sens.to_dict("records"),
        "choices": [{k: r[k] for k in keep} for r in choices.to_dict("records")],
        "multi_switch_gain": ms_gain.to_dict("records"),
        "pareto_points": {f"{m}/{n}/{s}": int(len(d))
                          for (m, n, s), d in fronts.groupby(["model", "network", "schedule"])},
        "load_sweep": sweep.to_dict("records"),
        "compression": {"median_ratio": {f"{c}/{d}": float(v) for (c, d), v
                                         in codecs.groupby(["codec", "dtype"])["ratio"].median().items()},
                        "plans": comp.to_dict("records")},
        "networks": {n: net.to_dict() for n, net in partition.NETWORKS.items()},
        "median_solve_ms": float(choices.solve_ms.median()),
    }
