"""Loading a FER-2013-sized csv (35,887 rows, ~300 MB): our validated loader vs a row-by-row
validated parse and vs the naïve pandas + str.split recipe most FER-2013 notebooks use (which
checks nothing). Prints CPU seconds and ratios measured side by side in this run (not a test:
this machine is shared and noisy). The goal is that validation costs nothing extra: ratios ≈ 1.

    .venv/bin/python benchmarks/bench_data.py [--size full|quick]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np


def best_of(fn, repeat: int = 3) -> float:
    """Best CPU seconds of ``repeat`` runs (process time: less hurt by a busy neighbour than wall time)."""
    ts = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        ts.append(time.process_time() - t0)
    return min(ts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", default="full", choices=["quick", "full"])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    import pandas as pd

    from hybridlib import data
    from hybridlib.data import fer

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"synth_{args.size}.csv"
        t0 = time.perf_counter()
        digest = data.write_synthetic(path, size=args.size, seed=0)
        t_gen = time.perf_counter() - t0
        rows = sum(1 for _ in open(path)) - 1
        print(f"csv: {rows} rows, {path.stat().st_size / 1e6:.1f} MB, generated in {t_gen:.1f} s, sha256 {digest}")

        t_ours = best_of(lambda: data.load_csv(path), args.repeat)

        def rowwise():
            df = pd.read_csv(path)
            return np.stack([fer._parse_pixels(p)[0] for p in df["pixels"]])

        def naive():
            df = pd.read_csv(path)
            return np.stack([np.array(p.split(), dtype=np.uint8).reshape(48, 48) for p in df["pixels"]])

        t_row = best_of(rowwise, args.repeat)
        t_naive = best_of(naive, args.repeat)
    print(f"{'loader':36s} {'cpu s':>8s} {'rows/s':>10s} {'vs ours':>8s}")
    for name, t in [("hybridlib.data.load_csv (validated)", t_ours),
                    ("row-by-row validated parse", t_row),
                    ("pandas + str.split (no validation)", t_naive)]:
        print(f"{name:36s} {t:8.2f} {rows / t:10.0f} {t / t_ours:7.2f}x")


if __name__ == "__main__":
    main()
