"""Figures of the profiling stack: predicted against measured latency."""
from __future__ import annotations

from typing import TYPE_CHECKING

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
