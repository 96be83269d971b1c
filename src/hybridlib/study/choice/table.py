"""003's layout: rows = device class × link (per load), columns = networks, cells = cut names.

:func:`layout` pivots any per-case column (the engine's latency pick, its modelled energy pick,
the measured best) into that shape; :func:`seed_cells` fills the same shape with 003's own cut
where :func:`hybridlib.study.split.seeds.seed_applies` lets a seed value sit beside ours (003's
mobile CPU ↔ our phone class, same link, same network, same basis), and :func:`quote` gives
003's table as printed (:mod:`hybridlib.study.choice.seed003`).
"""
from __future__ import annotations

import pandas as pd

from hybridlib.study.choice import networks as nets_mod
from hybridlib.study.choice import seed003
from hybridlib.study.choice.sizes import DEVICES, LINKS, LOADS
from hybridlib.study.split.seeds import seed_applies

ROWS = ("load", "device", "network")
#: what a seed cell of each objective is (ours: the engine's pick; energy modelled here, measured power in 003)
BASIS = {"latency": "latency pick", "energy": "energy pick (measured power models)"}
OUR_BASIS = {"latency": "latency pick", "energy": "energy pick (modelled: no power meter)"}


def _order(values: pd.Series, order: tuple[str, ...]) -> list[str]:
    return sorted(values.unique(), key=lambda v: order.index(v) if v in order else len(order))


def layout(cases: pd.DataFrame, value: str) -> pd.DataFrame:
    """``cases`` (one row per model × device × network × load) as 003's table of ``value``:
    index (load, device, link), columns the network columns (003's order), cells strings."""
    reg = nets_mod.registry()
    df = cases.assign(column=cases["model"].map(lambda m: reg[m].column))
    t = df.pivot_table(index=list(ROWS), columns="column", values=value, aggfunc="first")
    cols = [c for c in nets_mod.COLUMN_ORDER if c in t.columns]
    idx = pd.MultiIndex.from_tuples(
        sorted(t.index, key=lambda k: (LOADS.index(k[0]), DEVICES.index(k[1]), LINKS.index(k[2]))), names=ROWS)
    return t.reindex(index=idx, columns=cols).fillna("")


def seed_cells(cases: pd.DataFrame, objective: str = "latency") -> pd.DataFrame:
    """003's cut beside each of our cells where the seed rule allows it, else ""."""
    reg = nets_mod.registry()
    link003 = {v: k for k, v in seed003.LINK.items()}
    vals = []
    for _, r in cases.iterrows():
        bench = reg[r["model"]].bench003
        v = ""
        for proc, dev in seed003.DEVICE_MATCH.items():
            if bench is None:
                break
            seed = {"device": dev, "networks": r["network"], "models": bench, "basis": BASIS[objective]}
            ours = {"device": r["device"], "networks": r["network"], "models": bench, "basis": OUR_BASIS[objective]}
            if seed_applies(seed, ours)[0]:
                v = seed003.cell(objective, proc, link003[r["network"]], bench) or ""
        vals.append(v)
    return layout(cases.assign(seed_cut=vals), "seed_cut")


def quote(objective: str = "latency") -> pd.DataFrame:
    """003's table as printed (mobile × network rows, its eight benchmarks) — a quotation."""
    return pd.DataFrame(seed003.rows(objective)).set_index(["mobile", "network"])


def side_by_side(cases: pd.DataFrame) -> pd.DataFrame:
    """One table: per cell ``pick | best`` (✓ when the pick is a hit; "best of N of M cuts" when
    the cuts were sampled), 003's cut in brackets where it may sit beside ours."""
    seed = seed_cells(cases)
    label = cases["cuts_label"] if "cuts_label" in cases else pd.Series("", index=cases.index)
    cell = cases.assign(cell=[f"{p} | {b}" + (" ✓" if h else "") + (f" ({lab})" if lab.startswith("best of") else "")
                              for p, b, h, lab in zip(cases["chosen"], cases["best"], cases["hit"], label)])
    t = layout(cell, "cell")
    for c in t.columns:
        t[c] = [f"{v} [003: {s}]" if s else v for v, s in zip(t[c], seed.reindex(t.index)[c])]
    return t
