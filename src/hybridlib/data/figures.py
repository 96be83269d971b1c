"""Figures of a dataset: class balance and sample grids (00's figures)."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def class_distribution(counts, title: str = "Class distribution per split") -> Figure:
    """Bar chart of rows per class, one colour per split (input: ``Dataset.counts()``)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    tidy = counts.reset_index().melt(id_vars="Usage", var_name="emotion", value_name="rows")
    fig, ax = plt.subplots(figsize=(9, 4))
    sns.barplot(data=tidy, x="emotion", y="rows", hue="Usage", ax=ax)
    ax.set_title(title)
    ax.set_xlabel("")
    for c in ax.containers:
        ax.bar_label(c, fontsize=7)
    fig.tight_layout()
    return fig


def image_grid(rows: list, row_labels: list[str], title: str = "", cell: float = 1.0) -> Figure:
    """Grid of grayscale images: ``rows`` is a list of lists of 2-D uint8 arrays."""
    import matplotlib.pyplot as plt

    n_r, n_c = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_r, n_c, figsize=(cell * n_c, cell * n_r + 0.4), squeeze=False)
    for i, r in enumerate(rows):
        for j in range(n_c):
            ax = axes[i][j]
            ax.axis("off")
            if j < len(r):
                ax.imshow(r[j], cmap="gray", vmin=0, vmax=255)
        axes[i][0].text(-4, 24, row_labels[i], ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.subplots_adjust(left=0.12, wspace=0.05, hspace=0.05)
    return fig


# ------------------------------------------------------------------------------ split study (09)
