"""The scored execution: every chosen cut of every case, one server + page per network, load
and device group (:func:`hybridlib.study.split.execute.execute_grid`), input seed 0.

Each record is labelled ``role`` scored, its ``run_id`` (the server session) and ``input_seed``,
so :func:`hybridlib.study.choice.engine.check_disjoint` can show that no calibration row is scored.
``run_grid`` is injectable: the unit tests pass a stand-in executor over a synthetic cost world.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from hybridlib.study.choice.engine import CaseKey
from hybridlib.study.split import execute as split_execute
from hybridlib.study.split import run as split_run

SCORED_SEED = 0


@dataclass
class Executed:
    """Every scored record and each run's provenance."""

    records: pd.DataFrame
    runs: list[dict[str, Any]]
    seconds: dict[str, float] = field(default_factory=dict)
    total_s: float = 0.0


def groups(cases: Sequence[CaseKey]) -> list[tuple[str, str, list[str], list[str]]]:
    """(model, load, devices, networks) executions covering ``cases``: one per (model, load)
    when its cells form a full device × network grid, else one per (model, load, device)."""
    out: list[tuple[str, str, list[str], list[str]]] = []
    by: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for m, d, n, load in cases:
        by.setdefault((m, load), []).append((d, n))
    for (m, load), cells in by.items():
        devs = list(dict.fromkeys(d for d, _ in cells))
        nets = list(dict.fromkeys(n for _, n in cells))
        if len(set(cells)) == len(devs) * len(nets):
            out.append((m, load, devs, nets))
        else:
            for d in devs:
                out.append((m, load, [d], [n for dd, n in cells if dd == d]))
    return out


def run_cases(ctx: Any, cases: Sequence[CaseKey], cuts: Mapping[str, Sequence[str]], *, repeats: int,
              warmup: int, readback: bool = True, load_users: int = 2, dtype: str = "float32",
              factors: Mapping[tuple[str, str], float] | None = None,
              run_grid: Callable[..., pd.DataFrame] = split_execute.execute_grid) -> Executed:
    """Execute ``cuts[model]`` for every case of ``cases`` (see :func:`groups`)."""
    t0 = time.perf_counter()
    frames, runs, secs = [], [], {}
    for i, (m, load, devs, nets) in enumerate(groups(cases)):
        t = time.perf_counter()
        grid = run_grid(m, list(cuts[m]), devices=devs, networks=nets, load=load, repeats=repeats, warmup=warmup,
                        dtype=dtype, ctx=ctx, readback=readback, load_users=load_users, seed=SCORED_SEED)
        grid = grid.assign(role="scored", run_id=f"scored:{m}:{load}:{i}",
                           input_seed=int(grid.attrs.get("input_seed", SCORED_SEED)))
        frames.append(grid)
        for d in devs:
            for n in nets:
                df = grid[(grid["device"] == d) & (grid["network"] == n)]
                f = (factors or {}).get((m, load))
                runs.append(split_run.run_record(df, grid.attrs, model=m, device=d, network=n, load=load,
                                                 factor=f if f is not None else 1.0,
                                                 source="probe: held-out input, own server session (not scored)"
                                                 if f is not None else "none")
                            | {"run_id": f"scored:{m}:{load}:{i}"})
        secs[f"execute_{m}_{load}"] = secs.get(f"execute_{m}_{load}", 0.0) + time.perf_counter() - t
    return Executed(pd.concat(frames, ignore_index=True), runs, secs, time.perf_counter() - t0)
