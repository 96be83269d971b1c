"""06's figures: threshold sweep, bandwidth per frame, converter operating curves, Edgent vs deadline.

Why a module: notebook 06 keeps narrative, parameters and calls; each function here
draws one figure from the tables 06 saves (no numbers are computed here that the tables do not
hold) and returns it unsaved — the notebook saves it with ``ctx.save_figure`` (provenance stamp).
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure


def _need(df: pd.DataFrame, cols: tuple[str, ...], what: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InputError(f"{what} lacks column(s) {', '.join(missing)}")


def threshold_sweep(sweeps: Mapping[str, pd.DataFrame], threshold: float, title: str) -> Figure:
    """One panel per split (e.g. ``{"validation": …, "test": …}``) of
    :func:`hybridlib.study.early_exit.branches.threshold_sweep`: exit fraction and the three accuracies
    against T, the chosen T dotted."""
    import matplotlib.pyplot as plt

    for name, sw in sweeps.items():
        _need(sw, ("threshold", "exit_fraction", "overall_acc", "branch_acc", "final_acc"), f"sweep {name!r}")
    fig, axes = plt.subplots(1, len(sweeps), figsize=(6 * len(sweeps), 4.2), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (split, sw) in zip(axes, sweeps.items()):
        ax.plot(sw.threshold, sw.exit_fraction, "k-", lw=2.5, label="fraction exiting at the branch")
        ax.plot(sw.threshold, sw.overall_acc, "-", color="tab:green", label="overall accuracy")
        ax.plot(sw.threshold, sw.branch_acc, "--", color="tab:blue", label="branch only (all inputs)")
        ax.plot(sw.threshold, sw.final_acc, "--", color="tab:orange", label="final exit only")
        ax.axvline(threshold, color="grey", ls=":", label=f"chosen T = {threshold:.3f}")
        ax.set_xlabel("entropy threshold T")
        ax.set_title(split)
        ax.set_ylim(0, 1.02)
    axes[0].set_ylabel("fraction / accuracy")
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def bandwidth(bw: pd.DataFrame, title: str) -> Figure:
    """Bars of :func:`hybridlib.study.early_exit.branches.bandwidth_table` (log x), the first row
    (cloud-only pixels) dashed as the reference."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    _need(bw, ("scheme", "bytes_per_frame"), "bandwidth table")
    if bw.empty:
        raise InputError("bandwidth table is empty")
    fig, ax = plt.subplots(figsize=(9, 3.8))
    sns.barplot(data=bw, y="scheme", x="bytes_per_frame", ax=ax, color="tab:blue")
    ax.axvline(bw.bytes_per_frame.iloc[0], color="tab:orange", ls="--", label="cloud-only pixels")
    ax.set_xscale("log")
    ax.set_xlabel("uplink bytes per frame (mean)")
    ax.set_ylabel("")
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    return fig


def converter_curves(curve: pd.DataFrame, alternatives: Mapping[str, float], operating_point: Mapping[str, Any],
                     reference_acc: float, tolerance: float, title: str) -> Figure:
    """Left: accuracy vs uplink bytes per input, one line per C (test rows of the operating
    curve), the picture alternatives as dotted verticals, the budget line and the operating point
    (★). Middle: exit fraction vs T per C. Right (when the curve carries the paired intervals): the
    accuracy change vs the full model on the same faces, with its 95% band, against bytes per
    input — the quantity the operating-point rule holds above −``tolerance``."""
    import matplotlib.pyplot as plt

    _need(curve, ("split", "channels", "codec", "threshold", "bytes_per_input", "overall_acc", "exit_fraction"),
          "operating curve")
    test = curve[curve.split == "test"]
    if test.empty:
        raise InputError("operating curve has no test rows")
    banded = {"acc_diff", "acc_diff_lo", "acc_diff_hi"} <= set(test.columns)
    fig, axes = plt.subplots(1, 3 if banded else 2, figsize=(19 if banded else 13, 4.4))
    for c, g in test.groupby("channels"):
        axes[0].plot(g.bytes_per_input.clip(lower=0.5), g.overall_acc, ".-", label=f"C = {c} ({g.codec.iloc[0]})")
    for k, v in alternatives.items():
        axes[0].axvline(v, ls=":", color="grey")
        axes[0].text(v, axes[0].get_ylim()[0], k, rotation=90, fontsize=7, va="bottom")
    axes[0].axhline(reference_acc - tolerance, color="tab:red", ls="--", lw=1, label="final-only − 1 point")
    axes[0].plot([operating_point["bytes_per_input"]], [operating_point["overall_acc"]], "r*", ms=14,
                 label="operating point")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("uplink bytes per input (mean, test)")
    axes[0].set_ylabel("overall accuracy")
    axes[0].legend(fontsize=7)
    axes[0].set_title("operating curves (one point per threshold T)")
    for c, g in test.groupby("channels"):
        axes[1].plot(g.threshold, g.exit_fraction, "-", label=f"C = {c}")
    axes[1].set_xlabel("entropy threshold T")
    axes[1].set_ylabel("fraction exiting at the edge")
    axes[1].legend(fontsize=7)
    if banded:
        for c, g in test.groupby("channels"):
            g = g.sort_values("bytes_per_input")
            x = g.bytes_per_input.clip(lower=0.5)
            (line,) = axes[2].plot(x, 100 * g.acc_diff, ".-", label=f"C = {c}")
            axes[2].fill_between(x, 100 * g.acc_diff_lo, 100 * g.acc_diff_hi, color=line.get_color(), alpha=0.15)
        axes[2].axhline(-100 * tolerance, color="tab:red", ls="--", lw=1, label=f"budget −{100 * tolerance:g} point")
        axes[2].axhline(0, color="grey", lw=0.8)
        axes[2].set_xscale("log")
        axes[2].set_xlabel("uplink bytes per input (mean, test)")
        axes[2].set_ylabel("accuracy change vs full model (points)")
        axes[2].set_title("paired change, 95% bootstrap band (test)")
        axes[2].legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def edgent_accuracy(edgent: pd.DataFrame, title: str) -> Figure:
    """One panel per device class: the accuracy of Edgent's plan and of the best single cut
    against the deadline (log x), per network; 0 = infeasible."""
    import matplotlib.pyplot as plt

    _need(edgent, ("device", "network", "deadline_ms", "edgent_acc", "neurosurgeon_acc"), "Edgent table")
    groups = list(edgent.groupby("device", sort=False))
    if not groups:
        raise InputError("Edgent table is empty")
    fig, axes = plt.subplots(1, len(groups), figsize=(14 * len(groups) / 3, 3.8), sharey=True, squeeze=False)
    axes = axes[0]
    for ax, (dname, g) in zip(axes, groups):
        for net, gg in g.groupby("network"):
            ax.step(gg.deadline_ms, gg.edgent_acc.fillna(0), where="post", label=f"Edgent · {net}")
            ax.step(gg.deadline_ms, gg.neurosurgeon_acc.fillna(0), where="post", ls=":", label=f"single cut · {net}")
        ax.set_xscale("log")
        ax.set_xlabel("deadline (ms)")
        ax.set_title(dname)
    axes[0].set_ylabel("accuracy of the chosen plan (0 = infeasible)")
    axes[-1].legend(fontsize=6)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
