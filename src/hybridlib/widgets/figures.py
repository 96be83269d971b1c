"""Figures of the live demo: annotated frames of a recorded-clip run."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def clip_montage(run, n: int = 6, title: str = "") -> Figure:
    """``n`` evenly spaced annotated frames of a recorded-clip run (:class:`hybridlib.widgets`'
    ``run_clip`` result: ``annotated`` BGR frames and their ``labels``)."""
    import matplotlib.pyplot as plt

    idx = np.linspace(0, len(run.annotated) - 1, n).astype(int)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.4), squeeze=False)
    for ax, i in zip(axes[0], idx):
        ax.imshow(run.annotated[i][:, :, ::-1])
        ax.set_title(f"frame {i}: {run.labels[i] or 'no face'}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
