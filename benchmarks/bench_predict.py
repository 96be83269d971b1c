"""Per-layer-type predictor accuracy: Neurosurgeon's linear regressions vs gradient boosting.

Times a fresh corpus of random layer configurations on both sides (device: TF 1 thread;
cloud: TF all cores) — or reads one with ``--corpus FILE.parquet`` — and prints held-out
MAPE per layer type, side and method side by side, for the median-of-repeats target and
the fastest-repeat target (goal: ≤ 10% per type). Run:
``.venv/bin/python benchmarks/bench_predict.py [--size 200] [--repeats 7]``.
"""
from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    import pandas as pd

    from hybridlib.partition import predict

    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--corpus", help="reuse a profiled corpus (.parquet) instead of timing one")
    ap.add_argument("--seeds", type=int, default=3, help="train/test splits averaged")
    args = ap.parse_args()
    if args.corpus:
        corpus = pd.read_parquet(args.corpus)
    else:
        corpus = predict.profile_corpus(predict.random_configs(args.size, seed=0), repeats=args.repeats)
    print(f"corpus: {corpus.config_id.nunique()} configs × {corpus.side.nunique()} sides")
    for target in ("ms", "ms_min"):
        ev = pd.concat([predict.evaluate(corpus, seed=s, target=target) for s in range(args.seeds)])
        t = ev.groupby(["side", "type", "method"])["mape"].mean().unstack("method")
        t["linear/gbr"] = t["linear"] / t["gbr"]
        print(f"\nheld-out MAPE % (target {target}, mean of {args.seeds} splits), goal ≤ 10:")
        print(t.round(1).to_string())
        print("mean per side:", ev.groupby(["side", "method"])["mape"].mean().round(1).to_dict())


if __name__ == "__main__":
    main()
