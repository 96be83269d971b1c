"""Figures of the profiling stack: per-layer profiles and predicted against measured latency."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib.profiling.kernel_space import SIDES
from hybridlib.profiling.estimator import metrics

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def predicted_vs_measured(pm, err, title: str = "") -> Figure:
    """Per-layer predicted vs measured latency, one log-log panel per side, MAPE per method in
    each title (:func:`hybridlib.profiling.predict.layer_predictions`'s two tables)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    sides = list(dict.fromkeys(pm["side"]))
    fig, axes = plt.subplots(1, len(sides), figsize=(5.5 * len(sides), 4.8), sharex=True, sharey=True,
                             squeeze=False)
    for ax, side in zip(axes[0], sides):
        d = pm[pm.side == side]
        sns.scatterplot(data=d, x="measured_ms", y="predicted_ms", hue="type", style="method", ax=ax, s=45)
        vals = d[["measured_ms", "predicted_ms"]]
        lo, hi = max(1e-3, vals.min().min()), vals.max().max()
        ax.plot([lo, hi], [lo, hi], color="0.4", lw=1, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        mm = err[err.side == side].set_index("method")["mape"]
        ax.set_title(f"{side}: MAPE " + ", ".join(f"{k} {v:.0f}%" for k, v in mm.items()))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_layers(df: pd.DataFrame, model: str, title: str = "") -> Any:
    """Neurosurgeon's per-layer figure: latency per layer on each side (bars) and output size."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    t = df[df["model"] == model].copy()
    t["where"] = t["side"] + " (" + t["backend"] + ")"
    order = t[t["side"] == "cloud"].sort_values("index")["layer"].tolist()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, 0.22 * len(order) + 3), 7), sharex=True)
    sns.barplot(data=t, x="layer", y="ms", hue="where", order=order, ax=a1)
    a1.set_ylabel("latency per layer (ms, median)")
    a1.set_xlabel("")
    a1.set_title(title or f"{model}: per-layer latency and output size")
    sizes = t[t["side"] == "cloud"].set_index("layer").loc[order, "out_bytes"] / 1024
    a2.bar(range(len(order)), sizes.to_numpy(), color="0.5")
    a2.set_ylabel("output size (KiB, float32)")
    a2.set_xticks(range(len(order)))
    a2.set_xticklabels(order, rotation=90, fontsize=7)
    fig.tight_layout()
    return fig


def kernel_predicted_vs_measured(preds: pd.DataFrame, title: str = "") -> Any:
    """Predicted vs measured kernel latency (log-log), one panel per method × side, colour =
    kernel type, marker = network, with the ±10% band; MAPE and share within ±10% in each
    title. ``preds``: :func:`hybridlib.profiling.kpredict.network_predictions` rows (one training set)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    methods = list(dict.fromkeys(preds["method"]))
    sides = sorted(set(preds["side"]), key=lambda s: (SIDES.index(s) if s in SIDES else len(SIDES), s))
    fig, axes = plt.subplots(len(methods), len(sides), figsize=(5.2 * len(sides), 4.3 * len(methods)),
                             sharex=True, sharey=True, squeeze=False)
    # the view follows the measurements; predictions outside it (Neurosurgeon's negative
    # ones, clipped to 1 ns) are drawn on its edge
    lo, hi = float(preds["measured"].min()) / 4, float(preds["measured"].max()) * 4
    preds = preds.assign(shown=preds["pred"].clip(lo, hi))
    xs = np.geomspace(lo, hi, 50)
    for i, method in enumerate(methods):
        for j, side in enumerate(sides):
            ax = axes[i][j]
            d = preds[(preds.method == method) & (preds.side == side)]
            sns.scatterplot(data=d, x="measured", y="shown", hue="kernel_type", style="network", ax=ax, s=40,
                            legend=(i == 0 and j == len(sides) - 1))
            ax.plot(xs, xs, color="0.3", lw=1, ls="--")
            ax.fill_between(xs, xs * 0.9, xs * 1.1, color="0.5", alpha=0.2, lw=0)
            ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), xlabel="measured ms (ms_adj)",
                   ylabel="predicted ms")
            m = metrics(d["measured"], d["pred"]) if len(d) else {"mape": float("nan"), "within10": float("nan")}
            ax.set_title(f"{method} · {side}: MAPE {m['mape']:.0f}%, {m['within10']:.0f}% within ±10%", fontsize=10)
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
