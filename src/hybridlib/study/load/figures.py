"""Figures of the load study (seed figures 11 and 12, latency, costs per user-minute).
"""
from __future__ import annotations

import os
from typing import Any

from hybridlib.study.load.analysis import SEED_REPORTED


def plot_cpu_bandwidth(df: Any, title_suffix: str = "") -> Any:
    """Seed figures 11 and 12 side by side: server CPU and bandwidth vs users, all series."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    sns.lineplot(data=df, x="users", y="cpu_pct_machine", hue="series", marker="o", ax=axes[0])
    seed = SEED_REPORTED["cloud_cpu_pct"]
    axes[0].plot(list(seed), list(seed.values()), "k^--", label="seed 000 cloud (reported; 8 threads)")
    axes[0].axvline(SEED_REPORTED["cloud_crashed_at"], color="k", ls=":", lw=1)
    axes[0].text(SEED_REPORTED["cloud_crashed_at"], 5, " seed crashed", fontsize=8)
    axes[0].set(ylabel=f"server CPU, % of all {os.cpu_count()} CPUs", xlabel="users",
                title="Fig. 11 analogue: server CPU vs users" + title_suffix)
    axes[0].legend(fontsize=8)
    d = df.assign(mbps=(df.bytes_in_per_s + df.bytes_out_per_s) * 8 / 1e6)
    sns.lineplot(data=d, x="users", y="mbps", hue="series", marker="o", ax=axes[1])
    axes[1].set(ylabel="server bandwidth in+out, Mbit/s (steady state)", xlabel="users",
                title="Fig. 12 analogue: bandwidth vs users" + title_suffix)
    axes[1].legend(fontsize=8)
    _integer_x(axes)
    fig.tight_layout()
    return fig


def plot_latency(df: Any) -> Any:
    """Round trip p50/p95 and answered fps per user vs users (cloud series)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    c = df[df.series.str.startswith("cloud")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    long = c.melt(id_vars=["series", "users"], value_vars=["rtt_p50_ms", "rtt_p95_ms"],
                  var_name="stat", value_name="ms").dropna()
    sns.lineplot(data=long, x="users", y="ms", hue="series", style="stat", marker="o", ax=axes[0])
    axes[0].set_yscale("log")
    axes[0].axhline(250, color="r", ls=":", lw=1)
    axes[0].set(title="Frame round trip vs users (loopback)", ylabel="ms (log)")
    sns.lineplot(data=c, x="users", y="fps_per_user", hue="series", marker="o", ax=axes[1])
    axes[1].axhline(float(c.fps.max()), color="0.5", ls=":", lw=1)
    axes[1].set(title="Answered frames per second per user", ylabel="fps")
    for ax in axes:
        ax.legend(fontsize=8)
    _integer_x(axes)
    fig.tight_layout()
    return fig


def _integer_x(axes: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_costs(pum: Any, summary: dict[str, Any]) -> Any:
    """CPU-seconds and MB per user-minute per mode; the overload run next to the capacity step."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    d = pum.assign(cpu=pum.cpu_s_per_user_min.clip(lower=1e-3))
    sns.barplot(data=d, x="series", y="cpu", hue="series", legend=False, ax=axes[0])
    axes[0].set(title="Server CPU-seconds per user-minute", xlabel="", ylabel="CPU-s (log)", yscale="log")
    sns.barplot(data=pum, x="series", y="mb_per_user_min", hue="series", legend=False, ax=axes[1])
    setup = dict(zip(pum.series, pum.setup_mb_per_user)).get("hybrid")
    axes[1].set(title="Server MB per user-minute, streaming"
                      + (f"\n(hybrid: {setup:.1f} MB once, page + model download)" if setup else ""),
                xlabel="", ylabel="MB")
    if (pum.cpu_s_per_user_min < 1e-3).any():  # the log axis cannot show 0: say what is drawn
        axes[0].set_title("Server CPU-seconds per user-minute\n(values below 0.001, e.g. 0 measured, "
                          "drawn at 0.001)", fontsize=10)
    for i, ax in enumerate(axes[:2]):
        ax.tick_params(axis="x", labelsize=8)
        one_per_series = len(ax.containers) == len(pum) and all(len(c) == 1 for c in ax.containers)
        for k, cont in enumerate(ax.containers):
            if i == 0 and one_per_series:  # the measured value, not the clipped bar height
                ax.bar_label(cont, labels=[f"{float(pum.cpu_s_per_user_min.iloc[k]):.3g}"], fontsize=8)
            else:
                ax.bar_label(cont, fmt="%.3g", fontsize=8)
    o = summary.get("overload")
    if o:
        labels = [f"{o['max_sessions']} users\n(at capacity)",
                  f"{o['admitted']} admitted of {o['users']}\n({o['factor']:g}× overload)"]
        p95 = [o["baseline_rtt_p95_ms"] or 0, o["rtt_p95_ms"] or 0]
        fps = [o["baseline_fps_per_user"] or 0, o["fps_per_user"] or 0]
        bars = axes[2].bar(labels, p95, color=["tab:blue", "tab:green"])
        for b, f in zip(bars, fps):
            axes[2].text(b.get_x() + b.get_width() / 2, b.get_height(), f"{f:.1f} fps", ha="center",
                         va="bottom", fontsize=9)
        axes[2].axhline(250, color="r", ls=":", lw=1)
        axes[2].set(ylabel="round trip p95, ms",
                    title=f"Overload: {o['refused']} of {o['users']} users refused (503);\n"
                          + ("admitted users kept their p95 and fps" if o["holds"]
                             else "admission control did NOT hold: " + ", ".join(
                                 k for k, v in o["checks"].items() if not v)))
    fig.tight_layout()
    return fig
