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

_PIECE_LABELS = {"device_ms": "device compute", "upload_ms": "upload (+encode)", "cloud_ms": "cloud compute",
                 "download_ms": "download (+decode)", "other_ms": "other (page, measured only)"}


def _case_label(r) -> str:
    return f"{r['model']} · {r['device']} · {r['network']} · {r['load']}"


def split_stacked(predicted, measured, cases=None, max_cases: int = 8) -> Figure:
    """Neurosurgeon's per-cut stacked bars, predicted (left, hatched) beside measured (right).

    ``predicted``: :func:`hybridlib.study.splitstudy.predict_cases` rows; ``measured``:
    :func:`hybridlib.study.splitstudy.measured_cuts` rows. One panel per case (model, device,
    network, load), only the executed cuts; ★ = the engine's choice, ▼ = the measured best.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    from hybridlib.study.splitstudy import CASE, PIECES  # lazy: study imports plots

    keys = list(CASE)
    all_cases = measured[keys].drop_duplicates()
    if cases is not None:
        all_cases = all_cases.merge(cases[keys].drop_duplicates(), on=keys)
    all_cases = all_cases.head(max_cases)
    n = len(all_cases)
    fig, axes = plt.subplots(n, 1, figsize=(11, 2.9 * n + 0.6), squeeze=False)
    colors = dict(zip([*PIECES, "other_ms"], sns.color_palette("colorblind", 5)))
    for ax, (_, case) in zip(axes[:, 0], all_cases.iterrows()):
        sel = lambda d: d[(d[keys] == case[keys].to_numpy()).all(axis=1)]  # noqa: E731
        m = sel(measured)
        p = sel(predicted).set_index("cut")
        order = [c for c in p.sort_values("position").index if c in set(m["cut"])]
        m = m.set_index("cut").loc[order]
        x = range(len(order))
        for side, df, off, hatch in (("predicted", p.loc[order], -0.2, "//"), ("measured", m, 0.2, None)):
            bottom = [0.0] * len(order)
            for piece in [*PIECES, "other_ms"]:
                if piece not in df:
                    continue
                vals = df[piece].to_numpy()
                ax.bar([i + off for i in x], vals, width=0.38, bottom=bottom, color=colors[piece], hatch=hatch,
                       edgecolor="0.3", linewidth=0.4,
                       label=_PIECE_LABELS[piece] if side == "measured" else None)
                bottom = [b + v for b, v in zip(bottom, vals)]
        chosen = str(p["engine_choice"].iloc[0])
        best = m["total_ms"].idxmin()
        ymax = max(p.loc[order, "total_ms"].max(), m["total_ms"].max())
        for c, mark, lab, dx in ((chosen, "*", "engine's choice", -0.2), (best, "v", "measured best", 0.2)):
            if c in order:
                ax.plot(order.index(c) + dx, ymax * 1.08, marker=mark, ms=11, color="k", ls="", label=lab)
        ax.set_xticks(list(x))
        ax.set_xticklabels(order, rotation=30, ha="right", fontsize=8)
        ax.set_ylim(0, ymax * 1.2)
        ax.set_ylabel("ms per inference")
        ax.set_title(f"{_case_label(case)}   (left, hatched: predicted · right: measured median)", fontsize=10)
    h, l = axes[0, 0].get_legend_handles_labels()
    fig.legend(h, l, loc="upper center", ncol=4, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.02, 1, 1 - 0.5 / (2.9 * n + 0.6)))
    return fig


def split_choice(comp, margin: float = 0.10) -> Figure:
    """Chosen cut vs measured best per case: measured ms of each (left) and the regret (right)."""
    import matplotlib.pyplot as plt

    c = comp.reset_index(drop=True)
    labels = [_case_label(r) for _, r in c.iterrows()]
    y = range(len(c))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 0.45 * len(c) + 1.8), sharey=True,
                                 gridspec_kw={"width_ratios": [3, 2]})
    a1.barh([i + 0.2 for i in y], c["measured_best_ms"], height=0.4, color="0.65", label="measured best cut")
    a1.barh([i - 0.2 for i in y], c["measured_chosen_ms"], height=0.4,
            color=["tab:green" if h else "tab:red" for h in c["hit"]], label="engine's chosen cut (measured)")
    for i, r in c.iterrows():
        a1.text(r["measured_chosen_ms"], i - 0.2, f" {r['chosen']}", va="center", fontsize=7)
        a1.text(r["measured_best_ms"], i + 0.2, f" {r['best']}", va="center", fontsize=7, color="0.3")
    a1.set_yticks(list(y))
    a1.set_yticklabels(labels, fontsize=8)
    a1.set_xlabel("measured end-to-end ms (median)")
    a1.legend(fontsize=8, loc="lower right")
    a2.barh(list(y), c["regret"] * 100, color=["tab:green" if h else "tab:red" for h in c["hit"]])
    a2.axvline(margin * 100, color="k", ls="--", lw=1, label=f"hit margin {margin:.0%}")
    a2.set_xlabel("regret: measured(chosen) / measured(best) − 1 (%)")
    a2.legend(fontsize=8)
    fig.suptitle(f"Chosen cut vs measured best: {int(c['hit'].sum())}/{len(c)} within {margin:.0%}")
    fig.tight_layout()
    return fig


def split_speedups(comp, like_for_like) -> Figure:
    """Measured speed-up of the chosen cut over cloud-only and device-only per case, with the
    seeds' claims drawn as reference lines, labelled "like for like" only where a claim's
    device class and network match an executed case (``like_for_like``:
    :func:`hybridlib.study.splitstudy.like_for_like`)."""
    import matplotlib.pyplot as plt

    c = comp.reset_index(drop=True)
    labels = [_case_label(r) for _, r in c.iterrows()]
    x = range(len(c))
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(14, 5), gridspec_kw={"width_ratios": [1, 1]})
    b1 = a1.bar([i - 0.2 for i in x], c["speedup_vs_cloud"], width=0.4, label="over cloud-only")
    b2 = a1.bar([i + 0.2 for i in x], c["speedup_vs_device"], width=0.4, label="over device-only")
    for b in (b1, b2):
        a1.bar_label(b, fmt="%.2f×", fontsize=7)
    a1.axhline(1.0, color="k", lw=0.8)
    for claim in like_for_like:
        if claim["unit"] != "×":
            continue
        tag = "like for like" if claim["like_for_like"] else "NOT like for like: no matching case"
        a1.axhline(claim["seed_value"], ls="--" if claim["like_for_like"] else ":", color="tab:purple", lw=1)
        a1.text(len(c) - 0.5, claim["seed_value"], f"{claim['seed']} {claim['seed_value']}× ({tag})",
                ha="right", va="bottom", fontsize=7, color="tab:purple")
    a1.set_yscale("log")
    a1.set_xticks(list(x))
    a1.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
    a1.set_ylabel("measured speed-up of the engine's cut (×, log)")
    a1.legend(fontsize=8, loc="upper left")
    rows = [[cl["seed"], cl.get("short", cl["claim"][:28]), f"{cl['seed_value']:g}{cl['unit']}",
             "—" if cl["ours"] is None else f"{cl['ours']:.2f}{cl['unit']}",
             cl["conditions"] if cl["like_for_like"] else "no matching case"] for cl in like_for_like]
    a2.axis("off")
    t = a2.table(cellText=rows, colLabels=["seed", "claim", "seed", "ours", "like for like on"],
                 loc="center", cellLoc="left", colWidths=[0.1, 0.4, 0.12, 0.12, 0.36])
    t.auto_set_font_size(False)
    t.set_fontsize(7)
    t.scale(1, 1.6)
    a2.set_title("seeds' claims beside ours (same device class and network only)", fontsize=9)
    fig.tight_layout()
    return fig


def predicted_vs_measured(pm, err, title: str = "") -> Figure:
    """Per-layer predicted vs measured latency, one log-log panel per side, MAPE per method in
    each title (:func:`hybridlib.partition.predict.layer_predictions`'s two tables)."""
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


def clip_montage(run, n: int = 6, title: str = "") -> Figure:
    """``n`` evenly spaced annotated frames of a recorded-clip run (:class:`hybridlib.widgets`'
    ``run_clip`` result: ``annotated`` BGR frames and their ``labels``)."""
    import matplotlib.pyplot as plt
    import numpy as np

    idx = np.linspace(0, len(run.annotated) - 1, n).astype(int)
    fig, axes = plt.subplots(1, n, figsize=(2.6 * n, 2.4), squeeze=False)
    for ax, i in zip(axes[0], idx):
        ax.imshow(run.annotated[i][:, :, ::-1])
        ax.set_title(f"frame {i}: {run.labels[i] or 'no face'}", fontsize=9)
        ax.axis("off")
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
