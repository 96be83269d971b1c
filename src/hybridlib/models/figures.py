"""Figures of training: learning curves, confusion matrix, per-class scores, the sweep.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hybridlib.data.fer import CLASS_NAMES

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from matplotlib.figure import Figure

# --------------------------------------------------------------------------- figures


def plot_history(history: dict[str, list[float]], title: str = "Learning curves") -> Figure:
    """Accuracy and loss per epoch, train vs validation (the seed's figures 5–8)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    n = len(history.get("loss", []))
    rows = []
    for metric in ("accuracy", "loss"):
        for split, key in (("train", metric), ("validation", f"val_{metric}")):
            for e, v in enumerate(history.get(key, [])[:n]):
                rows.append({"epoch": e + 1, "metric": metric, "split": split, "value": v})
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for ax, metric in zip(axes, ("accuracy", "loss")):
        sns.lineplot(data=df[df.metric == metric], x="epoch", y="value", hue="split", marker="o", ax=ax)
        ax.set_title(metric)
        ax.set_ylabel(metric)
        if n:
            ax.set_xticks(range(1, n + 1))
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_confusion(confusion: list[list[int]], class_names: tuple[str, ...] = CLASS_NAMES,
                   title: str = "Confusion matrix (row-normalised)") -> Figure:
    """Row-normalised confusion heatmap with counts in the cells (rows = true class)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    annot = np.array([[f"{norm[i, j]:.2f}\n({int(cm[i, j])})" for j in range(cm.shape[1])]
                      for i in range(cm.shape[0])])
    fig, ax = plt.subplots(figsize=(7.5, 6.2))
    sns.heatmap(norm, annot=annot, fmt="", cmap="Blues", vmin=0, vmax=1, square=True, ax=ax,
                xticklabels=class_names, yticklabels=class_names, annot_kws={"fontsize": 7},
                cbar_kws={"label": "fraction of true class"})
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_per_class(per_class: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]] | None = None,
                   title: str = "Per-class precision and recall") -> Figure:
    """Bars of precision/recall per class for the CNN (and the baseline's recall if given)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = [{"class": c, "measure": f"CNN {m}", "value": v[m]} for c, v in per_class.items()
            for m in ("precision", "recall")]
    if baseline:
        rows += [{"class": c, "measure": "baseline recall", "value": v["recall"]} for c, v in baseline.items()]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    sns.barplot(data=pd.DataFrame(rows), x="class", y="value", hue="measure", ax=ax)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    ax.set_xlabel("")
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_sweep(table: pd.DataFrame, title: str = "Tuning sweep: validation accuracy") -> Figure:
    """Validation accuracy per sweep configuration, the default highlighted."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    t = table.copy()
    t["config"] = [f"lr={r.lr:g}\ndrop={r.dropout:g}\nbs={int(r.batch_size)}" for r in t.itertuples()]
    t["role"] = np.where(t["default"], "default (before tuning)", "candidate")
    fig, ax = plt.subplots(figsize=(max(5, 1.3 * len(t)), 3.8))
    sns.barplot(data=t, x="config", y="val_accuracy", hue="role", dodge=False, ax=ax)
    for c in ax.containers:
        ax.bar_label(c, fmt="%.3f", fontsize=8)
    ax.set_ylim(0, min(1.0, float(t["val_accuracy"].max()) * 1.25 + 0.02))
    ax.legend(loc="lower right", fontsize=8)
    ax.set_xlabel("")
    ax.set_ylabel("validation accuracy")
    ax.set_title(title)
    fig.tight_layout()
    return fig

