"""05's figures: the best plan against device-only and cloud-only, the Pareto fronts, the server-load
sweep, and one plan drawn layer by layer (the explorer's picture). Each draws a table of
:mod:`hybridlib.study.offload.scenarios` and returns the figure unsaved (the notebook saves it
with ``ctx.save_figure``)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from hybridlib import partition
from hybridlib.partition import Graph
from hybridlib.study.offload.scenarios import MAIN_SCENARIO, PHONE

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def plot_best_vs_baselines(choices: pd.DataFrame, scenario_name: str = MAIN_SCENARIO,
                           label: str = "") -> Figure:
    """Best single-cut plan vs device-only / cloud-only, latency and energy, log scale."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sel = choices[(choices.schedule == "single") & (choices.scenario == scenario_name)]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    for ax, (obj, col, dcol, ccol, unit) in zip(axes, [
            ("latency", "latency_ms", "device_only_ms", "cloud_only_ms", "ms"),
            ("energy", "energy_mj", "device_only_mj", "cloud_only_mj", "mJ")]):
        d = sel[sel.objective == obj]
        long = pd.concat([d.assign(plan="best", v=d[col]), d.assign(plan="device-only", v=d[dcol]),
                          d.assign(plan="cloud-only", v=d[ccol])])
        long["case"] = long["model"] + " · " + long["network"]
        sns.barplot(data=long, x="case", y="v", hue="plan", ax=ax)
        ax.set_yscale("log")
        ax.set_ylabel(f"{obj} ({unit})")
        ax.set_xlabel("")
        ax.set_title(f"objective = {obj} ({scenario_name})")
        ax.tick_params(axis="x", rotation=30)
    fig.suptitle(f"Best single-cut plan vs device-only / cloud-only ({label})")
    fig.tight_layout()
    return fig


def plot_pareto(fronts: pd.DataFrame, scenario_name: str = MAIN_SCENARIO, label: str = "") -> Figure:
    """Latency × device-energy fronts, one panel per model."""
    import seaborn as sns

    g = sns.relplot(data=fronts, x="latency_ms", y="energy_mj", hue="network", style="schedule", col="model",
                    kind="line", marker="o", facet_kws={"sharex": False, "sharey": False}, height=4)
    g.set(xscale="log", yscale="log")
    g.figure.suptitle(f"Pareto fronts ({scenario_name}) — {label}", y=1.03)
    return g.figure


def plot_load_sweep(sweep: pd.DataFrame, device: float = PHONE, network: str = "Wi-Fi", label: str = "") -> Figure:
    """Latency vs server load for the best plan, device-only and cloud-only."""
    import seaborn as sns

    g = sns.relplot(data=sweep, x="load", y="latency_ms", hue="plan", style="plan", size="plan", col="model",
                    kind="line", markers=True, hue_order=["device-only", "cloud-only", "best"],
                    palette={"device-only": "tab:blue", "cloud-only": "tab:orange", "best": "black"},
                    sizes={"device-only": 1.5, "cloud-only": 1.5, "best": 3.0},
                    dashes={"device-only": "", "cloud-only": "", "best": (2, 2)},
                    facet_kws={"sharey": False}, height=4)
    g.set(xscale="log", yscale="log")
    g.figure.suptitle(f"Server load sweep, {network}, device ×{device:g} ({label})", y=1.03)
    return g.figure


def plan_figure(graph: Graph, uplink: float = 5.85, rtt: float = 70.0, load: float = 0.1,
                objective: str = "latency", schedule: str = "single", device: float = PHONE,
                name: str | None = None) -> Figure:
    """One plan drawn layer by layer (blue device, orange cloud; bar = ms at its place) for an
    LTE-like link with the given uplink and RTT — the explorer's picture."""
    import matplotlib.pyplot as plt

    g = partition.scale(graph, device=device)
    net = partition.get_network("lte", uplink_mbps=uplink, rtt_ms=rtt)
    p = partition.solve(g, net, objective, schedule, load=load)
    order = [n.id for n in g.nodes]
    fig, ax = plt.subplots(figsize=(max(8, 0.2 * len(order) + 2), 3.4))
    colors = ["tab:blue" if p.placement[i] == "device" else "tab:orange" for i in order]
    ax.bar(range(len(order)), [max(n.device_ms if p.placement[n.id] == "device" else n.cloud_ms * load, 1e-3)
                               for n in g.nodes], color=colors)
    ax.set_yscale("log")
    ax.set_ylabel("ms at its place")
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels(order, rotation=90, fontsize=7)
    ax.set_title(f"{name or graph.name}: {p.kind}, {p.latency_ms:.1f} ms, {p.energy_mj:.1f} mJ "
                 f"(blue device, orange cloud; up {uplink:g} Mbps, RTT {rtt:g} ms, load {load:g}, "
                 f"device ×{device:g})", fontsize=9)
    fig.tight_layout()
    return fig
