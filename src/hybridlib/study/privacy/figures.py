"""12's figures: faces beside what an attacker rebuilds from each shipped tensor; quality per cut."""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure


def reconstructions(examples: dict[str, np.ndarray], best: pd.DataFrame | None = None) -> Figure:
    """One row per shipped tensor (the original faces first), one column per held-out face: the
    reconstruction of the attacker with the highest mean SSIM on float32 tensors, its SSIM and PSNR
    in the row label. Synthetic faces (the title says so)."""
    import matplotlib.pyplot as plt

    names = list(examples)
    n = max(len(v) for v in examples.values())
    fig, axes = plt.subplots(len(names), n, figsize=(1.1 * n + 2.2, 1.15 * len(names) + 0.6), squeeze=False)
    for r, name in enumerate(names):
        label = name
        if best is not None and name != "original":
            b = best[(best["shipped"] == name) & (best["wire"] == "float32")]
            if len(b):
                label += f"\nSSIM {b['ssim'].iloc[0]:.2f} · {b['psnr_db'].iloc[0]:.1f} dB"
        for c in range(n):
            ax = axes[r, c]
            ax.axis("off")
            if c < len(examples[name]):
                ax.imshow(examples[name][c], cmap="gray", vmin=0, vmax=1)
        axes[r, 0].text(-0.1, 0.5, label, transform=axes[r, 0].transAxes, ha="right", va="center", fontsize=7)
    fig.suptitle("What an attacker rebuilds from the shipped tensor (held-out SYNTHETIC faces)", fontsize=9)
    fig.tight_layout()
    return fig


def quality(best: pd.DataFrame, raw_acc: float, chance: float) -> Figure:
    """SSIM and emotion recovered (with 95% intervals) per shipped tensor and wire, the raw crop's
    accuracy and the majority-class share as lines."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * best["shipped"].nunique() + 1.8), sharey=True)
    names = list(dict.fromkeys(best["shipped"]))
    y = np.arange(len(names))
    for k, (col, title) in enumerate((("ssim", "SSIM of the reconstruction"),
                                      ("emotion_acc", "emotion read from the reconstruction"))):
        ax = axes[k]
        for j, w in enumerate(("float32", "uint8")):
            d = best[best["wire"] == w].set_index("shipped").reindex(names)
            ok = d[col].notna().to_numpy()
            v, lo, hi = d[col].to_numpy(float), d[f"{col}_lo"].to_numpy(float), d[f"{col}_hi"].to_numpy(float)
            ax.errorbar(v[ok], y[ok] + (j - 0.5) * 0.25, xerr=[v[ok] - lo[ok], hi[ok] - v[ok]], fmt="o", capsize=2,
                        label=w)
        if col == "emotion_acc":
            ax.axvline(raw_acc, color="k", ls="--", lw=1, label="raw crop")
            ax.axvline(chance, color="grey", ls=":", lw=1, label="majority class")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=7)
    axes[0].set_yticks(y, names, fontsize=8)
    axes[0].invert_yaxis()
    fig.tight_layout()
    return fig
