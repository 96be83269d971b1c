"""Figures of the choice study: the choice table as a heat map of cut position, per-cut stacked
bars (predicted beside measured) for one network per family, predicted vs measured over all cases."""
from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from hybridlib.study.choice import networks as nets_mod
from hybridlib.study.choice import table
from hybridlib.study.split import figures as split_figures

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def choice_heatmap(cases: pd.DataFrame) -> Figure:
    """Two heat maps in 003's layout: the engine's latency pick and the measured best, coloured
    by cut position (0 = cloud-only … 1 = device-only), cells labelled with the cut name."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    panels = (("chosen_pos", "chosen", "engine's pick\n(uncalibrated, latency)"),
              ("best_pos", "best", "measured best"))
    shape = table.layout(cases, "chosen").shape
    fig, axes = plt.subplots(1, 2, figsize=(max(9.0, 3.0 + 2.0 * shape[1]), 2.2 + 0.4 * shape[0]), squeeze=False,
                             sharey=True)
    for i, (ax, (pos, name, title)) in enumerate(zip(axes[0], panels)):
        num = table.layout(cases, pos).replace("", float("nan")).astype(float)
        lab = table.layout(cases, name)
        sns.heatmap(num, ax=ax, vmin=0, vmax=1, cmap="viridis", annot=lab.to_numpy(), fmt="",
                    annot_kws={"fontsize": 7}, cbar=i == 1,
                    cbar_kws={"label": "cut position\n(0 = cloud-only, 1 = device-only)"})
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("load · device · link" if i == 0 else "")
        ax.set_xlabel("network")
        ax.tick_params(axis="y", rotation=0)
    fig.tight_layout()
    return fig


def family_cases(cases: pd.DataFrame) -> pd.DataFrame:
    """One case per family (vision, speech, NLP) that ran: the network's slowest-to-decide cell
    (smallest end-cut ratio), preferring 003's networks."""
    reg = nets_mod.registry()
    c = cases.assign(family=cases["model"].map(lambda m: reg[m].family),
                     in003=cases["model"].map(lambda m: reg[m].bench003 is not None))
    c = c.sort_values(["family", "in003", "ends_ratio"], ascending=[True, False, True])
    return c.groupby("family", sort=False).head(1)


def family_bars(predicted: pd.DataFrame, measured: pd.DataFrame, cases: pd.DataFrame) -> Figure:
    """Neurosurgeon's per-cut stacked bars, predicted beside measured, for :func:`family_cases`."""
    pick = family_cases(cases)
    return split_figures.split_stacked(predicted, measured, cases=pick, max_cases=len(pick))


def predicted_vs_measured(predicted: pd.DataFrame, measured: pd.DataFrame) -> Figure:
    """Every executed (case, cut): the engine's predicted total against the measured median (log-log)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    keys = ["model", "device", "network", "load", "cut"]
    j = measured.merge(predicted[[*keys, "total_ms", "kind"]], on=keys, suffixes=("_meas", "_pred"))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    sns.scatterplot(data=j, x="total_ms_meas", y="total_ms_pred", hue="model", style="kind", ax=ax, s=40)
    lo = max(0.1, min(j["total_ms_meas"].min(), j["total_ms_pred"].min()) * 0.8)
    hi = max(j["total_ms_meas"].max(), j["total_ms_pred"].max()) * 1.2
    ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--", label="predicted = measured")
    ax.set(xscale="log", yscale="log", xlabel="measured median total (ms)", ylabel="predicted total (ms)",
           title="Engine (uncalibrated) vs execution, every executed cut")
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return fig
