"""What notebook 11's quick grid costs: the earlier grid against the current one, side by side.

Each size runs the choice study's own steps (:func:`hybridlib.study.choice.run.plan`, ``execute``,
``score``) from cold caches — a fresh artifacts directory per run, holding only what earlier
notebooks leave there in ``make run`` (the emotion CNN's ``.h5``, its cloud profile and phone-class
TF.js profile, its exported heads), copied from ``data/processed/quick``. So the seconds include
the new networks' profiles and head exports, as in a fresh ``make run``. The runs alternate
(before, after, before, after …) and the load average is printed with each, because the box is
shared. Needs Chromium and the npm assets. Run:
``.venv/bin/python benchmarks/bench_choice_sizes.py --pairs 1``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

#: the quick grid before the low-end class and LTE were added (phone × 3G/Wi-Fi, emotion CNN phone × Wi-Fi)
BEFORE = {"cells": (("phone", "3g", "idle"), ("phone", "wifi", "idle")),
          "sampled": (("emotion_cnn", (("phone", "wifi", "idle"),)),)}
#: what earlier notebooks leave for 11 in ``make run`` (01/04/09): copied into every cold directory
CARRIED = ("profile_emotion_cnn.parquet", "profile_tfjs_emotion_cnn_phone.parquet", "split/emotion_cnn_fresh_seed0.h5")


def cold_root(src: Path) -> Path:
    """A project root whose ``data/processed/quick`` holds only :data:`CARRIED` (and emotion CNN heads)."""
    root = Path(tempfile.mkdtemp(prefix="bench_choice_"))
    dst = root / "data" / "processed" / "quick"
    (dst / "split" / "heads").mkdir(parents=True)
    for rel in CARRIED:
        if (src / rel).is_file():
            shutil.copy2(src / rel, dst / rel)
    for h in (src / "split" / "heads").glob("emotion_cnn-*"):
        shutil.copytree(h, dst / "split" / "heads" / h.name)
    return root


def one(name: str, size, src: Path) -> dict:
    from hybridlib import config
    from hybridlib.study.choice import run

    root = cold_root(src)
    try:
        ctx = config.context("quick", reports_dir=root / "reports", root=root)
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        p = run.plan(ctx, size)
        t_plan = time.perf_counter() - t
        ex = run.execute(ctx, p)
        sc = run.score(p, ex)
        total = time.perf_counter() - t
        u = sc.summary["uncalibrated"]
        return {"size": name, "cases": len(p.cases), "plan_s": t_plan, "execute_s": ex.total_s, "total_s": total,
                "discriminating": u["n_discriminating"], "hits": f"{u['overall']['hits']}/{u['overall']['n']}",
                "load_before": load0, "load_after": os.getloadavg()[0]}
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=1, help="before/after pairs, alternating")
    args = ap.parse_args(argv)
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    from hybridlib.study.choice import sizes
    from hybridlib.utils import project_root

    src = project_root() / "data" / "processed" / "quick"
    after = sizes.size_for("quick")
    before = replace(after, **BEFORE)
    rows = []
    for i in range(args.pairs):
        for name, size in (("before", before), ("after", after)):
            r = one(name, size, src)
            rows.append(r)
            print(f"pair {i}: {r['size']:6s} {r['cases']:2d} cases  plan {r['plan_s']:6.1f} s  execute "
                  f"{r['execute_s']:6.1f} s  total {r['total_s']:6.1f} s  discriminating {r['discriminating']}  "
                  f"hits {r['hits']}  load {r['load_before']:.1f} → {r['load_after']:.1f}", flush=True)
    for i in range(args.pairs):
        b, a = rows[2 * i], rows[2 * i + 1]
        print(f"pair {i}: after ÷ before = {a['total_s'] / b['total_s']:.2f}× total "
              f"({a['cases']} vs {b['cases']} cases; {a['discriminating']} vs {b['discriminating']} discriminating)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
