"""Figure helpers: one seaborn style, provenance stamped on every saved figure.

Every figure says where its numbers come from (preset, data source) in its footer; a
figure made from synthetic data says "synthetic" there, so it cannot be mistaken for a
FER-2013 result when it is copied out of the report.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from hybridlib.utils import atomic_path

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def setup_style() -> None:
    """Seaborn's whitegrid theme at notebook scale (call once per notebook)."""
    import seaborn as sns

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")


def stamp(fig: Figure, provenance: str) -> None:
    """Write the provenance line in the figure's bottom-left corner."""
    fig.text(0.005, 0.005, provenance, fontsize=7, color="0.35", ha="left", va="bottom")


def save_figure(fig: Figure, path: str | Path, provenance: str | None = None, dpi: int = 120) -> Path:
    """Stamp and save a figure as PNG atomically."""
    path = Path(path)
    if provenance:
        stamp(fig, provenance)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
    return path
