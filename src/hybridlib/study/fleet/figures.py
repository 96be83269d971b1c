"""Figures of the fleet study: throughput and p95 latency vs users per policy (003's datacenter
throughput), and latency over time with the adaptive cut as a step line, phases shaded (003's
network- and server-load-variation figures)."""
from __future__ import annotations

from typing import Any

import pandas as pd

from hybridlib.study.fleet.presets import ADAPTIVE

_LINK_COLOURS = {"wifi": "#e8f4e8", "lte": "#fff4d6", "3g": "#fbe3e3"}


def plot_throughput(result: dict[str, Any]) -> Any:
    """Answered queries/s and p95 latency vs users, one line per policy, the SLO bound dotted;
    the most users each policy served at the SLO in the legend."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = pd.DataFrame(result["steps"])
    served = result["served"]
    df["policy (users served)"] = [f"{p} ({served[p]['users']}{'' if served[p]['saturated'] else '+'})"
                                   for p in df["policy"]]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    sns.lineplot(data=df, x="users", y="answered_qps", hue="policy (users served)", marker="o", ax=axes[0])
    axes[0].plot(df["users"], df["offered_qps"], color="0.6", ls=":", lw=1, label="offered")
    axes[0].set(title="Answered queries/s vs users (measured, loopback)", ylabel="answered queries / s")
    axes[0].legend(fontsize=8)
    sns.lineplot(data=df, x="users", y="p95_ms", hue="policy (users served)", marker="o", ax=axes[1], legend=False)
    slo = result.get("settings", {}).get("slo_p95_ms")
    if slo:
        axes[1].axhline(slo, color="r", ls=":", lw=1)
        axes[1].text(df["users"].min(), slo, " SLO p95", color="r", fontsize=8, va="bottom")
    axes[1].set_yscale("log")
    axes[1].set(title="p95 latency vs users", ylabel="ms (log)")
    for ax in axes:
        ax.set_xscale("log", base=2)
        ax.set_xticks(sorted(df["users"].unique()), labels=[str(u) for u in sorted(df["users"].unique())])
    fig.tight_layout()
    return fig


def plot_adaptation(result: dict[str, Any], cuts: list[str]) -> Any:
    """Per query over time: latency per policy (top; phases shaded by link, load phases
    hatched), the adaptive planner's cut as a step line and the server's load factor (bottom)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    q = pd.DataFrame([r for r in result["queries"] if r["role"] == "fg" and r["ok"]])
    fig, axes = plt.subplots(2, 1, figsize=(12, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    for ax in axes:
        for ph in result["phases"]:
            ax.axvspan(ph["start_s"], ph["end_s"], color=_LINK_COLOURS.get(ph["link"], "0.95"), alpha=0.8, lw=0)
            if ph["load"]:  # background cloud-only users on: hatched
                ax.axvspan(ph["start_s"], ph["end_s"], facecolor="none", edgecolor="0.55", hatch="//", lw=0)
    for ph in result["phases"]:
        axes[0].text(ph["start_s"] + 0.2, 0.98, ph["link"] + (" + load" if ph["load"] else ""),
                     transform=axes[0].get_xaxis_transform(), fontsize=8, va="top")
    if len(q):
        sns.scatterplot(data=q, x="t", y="latency_ms", hue="policy", s=10, alpha=0.6, ax=axes[0], linewidth=0)
        axes[0].set_yscale("log")
        axes[0].legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, title="policy")
    axes[0].set(ylabel="end-to-end latency, ms (log)", title="Latency per query as the link and the server load change")
    a = q[q["policy"] == ADAPTIVE].sort_values("t") if len(q) else q
    if len(a):
        idx = a["cut"].map({c: i for i, c in enumerate(cuts)})
        axes[1].step(a["t"], idx, where="post", color="C3", label=f"{ADAPTIVE} cut")
        axes[1].set_yticks([0, len(cuts) - 1], labels=[f"{cuts[0]} (cloud-only)", f"{cuts[-1]} (device-only)"])
    load = pd.DataFrame(result.get("load") or [])
    if len(load):
        ax2 = axes[1].twinx()
        ax2.plot(load["t"], load["factor"], color="0.3", lw=1, ls="--", label="server load factor")
        ax2.set_ylabel("load factor (/load)")
        ax2.legend(loc="upper right", fontsize=8)
    axes[1].set(xlabel="seconds into the trace", ylabel="cut (layer index)")
    axes[1].legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    return fig
