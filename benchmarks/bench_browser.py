"""TF.js inference in headless Chromium: ms/frame per model variant × backend, side by side.

    .venv/bin/python benchmarks/bench_browser.py [--model MODEL.h5] [--runs 30]

Prints the median ms of one forward pass (batch 1 = one face per frame) for fp32/float16/uint8
on wasm, webgl and cpu, and the ratios the study relies on: each backend against wasm (why
the app sets wasm explicitly; headless Chromium's default webgl is software-rendered) and
each variant against fp32 (does a smaller download cost speed?). Without --model, the
emotion CNN with random weights is used (speed does not depend on the weights' values).
Timings are noisy on a shared 2-core machine: read the ratios, not the third digit.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", help="tf_keras .h5 (default: untrained emotion CNN)")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--backends", default="wasm,webgl,cpu")
    args = ap.parse_args(argv)

    from hybridlib import browser, export, models

    with tempfile.TemporaryDirectory(prefix="bench-browser-") as td:
        if args.model:
            src: object = Path(args.model)
        else:
            import tf_keras as keras

            keras.utils.set_random_seed(0)
            src = models.emotion_cnn()
        res = export.export_variants(src, Path(td) / "tfjs")
        rows = export.browser_timings(Path(td) / "tfjs", backends=args.backends.split(","), runs=args.runs)
    ok = {(r["variant"], r["backend"]): r["ms_median"] for r in rows if "ms_median" in r}
    backends = args.backends.split(",")
    variants = list(res)
    print(f"# {browser.chromium_version()} · TF.js 4.22 · {args.runs} runs · batch 1 · "
          f"{'model ' + args.model if args.model else 'emotion CNN (random weights)'}")
    print(f"{'variant':8s} {'MB':>6s} " + " ".join(f"{b + ' ms':>10s}" for b in backends)
          + " " + " ".join(f"{b + '/wasm':>11s}" for b in backends if b != "wasm")
          + f" {'vs fp32':>8s}")
    for v in variants:
        mb = res[v].total_bytes / 1e6
        cells = [f"{ok.get((v, b), float('nan')):10.2f}" for b in backends]
        ratios = [f"{ok.get((v, b), float('nan')) / ok.get((v, 'wasm'), float('nan')):10.1f}×"
                  for b in backends if b != "wasm"]
        vs = ok.get((v, "wasm"), float("nan")) / ok.get(("fp32", "wasm"), float("nan"))
        print(f"{v:8s} {mb:6.2f} " + " ".join(cells) + " " + " ".join(ratios) + f" {vs:7.2f}×")
    for r in rows:
        if "error" in r:
            print(f"# {r['variant']} on {r['backend']}: {r['error']}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
