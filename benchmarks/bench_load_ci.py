"""How long must a load step be? Repeat short cloud steps and print the confidence interval.

07_load's headline is a ratio of two rates (answered frames per server CPU-second, ours ÷ the
seed pipeline) measured in one step of ``duration`` seconds per user count. A shorter step
saves study time but leaves more noise in each rate. This benchmark runs ``--repeats`` steps
of ``--users`` users for each duration in ``--durations`` against ONE warmed-up server per
pipeline (the same server for every repeat, so the spread is the step-to-step noise a single
study step carries, not start-up differences) and prints, per duration:

  * each pipeline's mean answered frames / CPU-s with its 95% t-interval over the repeats;
  * the ratio of the means with its 95% interval (delta method: the two pipelines' relative
    errors add in quadrature; they are independent runs);
  * the 95% prediction half-width of ONE step's ratio, as a share of the ratio — what a single
    study step at that duration can resolve.

    .venv/bin/python benchmarks/bench_load_ci.py [--users 1] [--durations 6,10] [--repeats 4]
                                                 [--model PATH] [--out steps.json]

Synthetic face clip, loopback, 640×480 @ 15 fps by default; the load clients share the machine.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# two-sided 95% Student t quantiles by degrees of freedom (scipy not needed for a table this small)
_T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def mean_ci(xs: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95% t-interval (nan with fewer than 2 values)."""
    m = statistics.fmean(xs)
    if len(xs) < 2:
        return m, float("nan")
    return m, _T95.get(len(xs) - 1, 1.96) * statistics.stdev(xs) / math.sqrt(len(xs))


def ratio_ci(a: list[float], b: list[float]) -> tuple[float, float]:
    """mean(a) ÷ mean(b) and its 95% half-width by the delta method (independent samples)."""
    (ma, ha), (mb, hb) = mean_ci(a), mean_ci(b)
    r = ma / mb
    return r, r * math.sqrt((ha / ma) ** 2 + (hb / mb) ** 2)


def single_step_pct(a: list[float], b: list[float]) -> float:
    """95% prediction half-width, in % of the ratio, of ONE step's ratio (what a study step gives):
    t × √(CV_a² + CV_b²) × √(1 + 1/n), CVs from the repeats."""
    cv2 = sum((statistics.stdev(x) / statistics.fmean(x)) ** 2 for x in (a, b))
    n = min(len(a), len(b))
    return 100 * _T95.get(n - 1, 1.96) * math.sqrt(cv2) * math.sqrt(1 + 1 / n)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", type=int, default=1)
    p.add_argument("--durations", default="6,10", help="step lengths to compare, seconds")
    p.add_argument("--repeats", type=int, default=4, help="steps per duration and pipeline (≥ 2)")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--size", default="640x480")
    p.add_argument("--model", default=None, help=".h5 (default: the smoke preset's trained model)")
    p.add_argument("--out", default=None, help="write every step as JSON")
    a = p.parse_args()
    if a.repeats < 2:
        p.error("--repeats must be ≥ 2 (an interval needs a spread)")

    from hybridlib import config
    from hybridlib.models import artifacts
    from hybridlib.study import load

    durations = [float(x) for x in a.durations.split(",") if x.strip()]
    size = load.parse_size(a.size)
    model = a.model or str(artifacts.ensure_model(config.context("smoke")))
    steps: dict[str, dict[float, list[float]]] = {}
    dump = []
    for pipeline in ("ours", "seed"):
        steps[pipeline] = {}
        for d in durations:
            res = load.run_load("cloud", [a.users] * a.repeats, d, fps=a.fps, size=size, pipeline=pipeline,
                                model_path=model, warmup_s=a.warmup, progress=False)
            steps[pipeline][d] = [s.answered_per_cpu_s for s in res if s.answered_per_cpu_s]
            dump += [{"pipeline": pipeline, **s.to_dict()} for s in res]
    print(f"{a.users} user(s), {size[0]}×{size[1]} @ {a.fps} fps, {a.repeats} steps per duration "
          f"and pipeline, {os.cpu_count()} CPUs (shared with the load clients)")
    print("duration_s | ours answered/CPU-s | seed answered/CPU-s | ratio of means (95% CI) | one step's ratio ±%")
    for d in durations:
        o, s = steps["ours"][d], steps["seed"][d]
        if len(o) < 2 or len(s) < 2:
            print(f"{d:g} | too few answered steps ({len(o)}, {len(s)})")
            continue
        (mo, ho), (ms, hs) = mean_ci(o), mean_ci(s)
        r, hr = ratio_ci(o, s)
        print(f"{d:g} | {mo:.1f} ± {ho:.1f} | {ms:.2f} ± {hs:.2f} | {r:.2f}× [{r - hr:.2f}, {r + hr:.2f}] "
              f"| ±{single_step_pct(o, s):.0f}%")
    if a.out:
        with open(a.out, "w", encoding="utf-8") as f:
            json.dump(dump, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
