"""Figures of the export notebook (02): variant sizes, TF.js ms per backend, split parity."""
from __future__ import annotations

from typing import Any

import pandas as pd


def plot_sizes(table: list[dict[str, Any]], title: str = "TF.js model size per variant") -> Any:
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = pd.DataFrame(table)
    df["MB"] = df["total_bytes"] / 1e6
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(data=df, x="variant", y="MB", ax=ax)
    for c in ax.containers:
        ax.bar_label(c, labels=[f"{mb:.2f} MB\n×{r:.2f}" for mb, r in zip(df["MB"], df["ratio_to_fp32"])],
                     fontsize=8)
    ax.set_ylim(0, df["MB"].max() * 1.3)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_browser_ms(rows: list[dict[str, Any]], title: str = "TF.js inference in headless Chromium") -> Any:
    import matplotlib.pyplot as plt
    import seaborn as sns

    df = pd.DataFrame([r for r in rows if "ms_median" in r])
    fig, ax = plt.subplots(figsize=(7, 3.4))
    sns.barplot(data=df, x="variant", y="ms_median", hue="backend", ax=ax)
    ax.set_yscale("log")
    ax.set_ylabel("ms per frame (median, batch 1)")
    ax.set_ylim(top=df["ms_median"].max() * 3)
    ax.legend(title="TF.js backend", bbox_to_anchor=(1.01, 1), loc="upper left")
    for c in ax.containers:
        ax.bar_label(c, fmt="%.1f", fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_split_parity(rows: list[dict[str, Any]], title: str = "Head→tail vs full model at each split") -> Any:
    import matplotlib.pyplot as plt

    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    eps = 1e-10  # exact zeros on a log axis
    ax.semilogy(df["index"], df["max_abs_diff_vs_tfjs_full"] + eps, "o-", ms=3, label="TF.js head→tail vs TF.js full")
    ax.semilogy(df["index"], df["max_abs_diff_vs_keras"] + eps, "s-", ms=3, label="TF.js head→tail vs Keras full")
    ax.semilogy(df["index"], df["keras_split_max_abs_diff"] + eps, "^-", ms=3, label="Keras head→tail vs Keras full")
    ax.axhline(1e-5, color="crimson", ls="--", lw=1, label="criterion 1e-5")
    multi = df[df["n_tensors"] > 1]
    ax.scatter(multi["index"], [2e-10] * len(multi), marker="|", color="0.3", label="multi-tensor cut")
    ax.set_xlabel("split after layer # (model.layers order)")
    ax.set_ylabel("max |Δprob|  (+1e-10)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    fig.tight_layout()
    return fig
