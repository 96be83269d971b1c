"""Figures of the executed split: Neurosurgeon's per-cut stacked bars, the choice and the speed-ups."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

from hybridlib.study.split.analysis import CASE, PIECES

_PIECE_LABELS = {"device_ms": "device compute", "upload_ms": "upload (+encode)", "cloud_ms": "cloud compute",
                 "download_ms": "download (+decode)", "other_ms": "other (page, measured only)"}


def _case_label(r) -> str:
    return f"{r['model']} · {r['device']} · {r['network']} · {r['load']}"


def split_stacked(predicted, measured, cases=None, max_cases: int = 8) -> Figure:
    """Neurosurgeon's per-cut stacked bars, predicted (left, hatched) beside measured (right).

    ``predicted``: :func:`hybridlib.study.split.predict.predict_cases` rows; ``measured``:
    :func:`hybridlib.study.split.analysis.measured_cuts` rows. One panel per case (model, device,
    network, load), only the executed cuts; ★ = the engine's choice, ▼ = the measured best.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

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
    :func:`hybridlib.study.split.seeds.like_for_like`)."""
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
