"""Predicted vs measured splits: the engine's per-cut prediction beside an executed run.

For each (device class × network × load) of one model: the TF.js profile on that device
class (cached under ``data/processed/<preset>/``), the engine's prediction for every
executed cut, and :func:`hybridlib.study.split.execute`'s measured medians; then the hit rate
(chosen cut within 10% of the measured best), median/worst regret and the measured
speed-ups. Needs Chromium and the npm assets (real page, real server, loopback only). Run:
``.venv/bin/python benchmarks/bench_split.py --model emotion_cnn --networks 3g,wifi --cuts 5``.
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="emotion_cnn", choices=["emotion_cnn", "alexnet"])
    ap.add_argument("--devices", default="phone", help="comma-separated device classes (desktop, phone, lowend)")
    ap.add_argument("--networks", default="3g,wifi", help="comma-separated presets (3g, lte, wifi)")
    ap.add_argument("--loads", default="idle", help="comma-separated: idle, loaded")
    ap.add_argument("--cuts", type=int, default=5, help="cuts to execute (0 = every cut point)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "uint8"])
    ap.add_argument("--preset", default="quick", help="whose cached profiles/models to use")
    args = ap.parse_args(argv)

    import pandas as pd

    from hybridlib import config, export, models
    from hybridlib.study import split, splitstudy as ss

    ctx = config.context(args.preset)
    devs, nets, loads = (a.split(",") for a in (args.devices, args.networks, args.loads))
    graphs = {d: ss.device_graph(ctx, args.model, d, args.dtype) for d in devs}
    km = export.load_model(split.model_h5(args.model, ctx))
    must = [ss.predict_cuts(graphs[d], n).attrs["chosen"] for d in devs for n in nets]
    cuts = ss.select_cuts(graphs[devs[0]], args.cuts, must=must, allowed=models.chain_cut_points(km))
    print(f"{args.model}: cuts {', '.join(cuts)}", flush=True)
    recs, preds, raws = [], [], []
    t0 = time.perf_counter()
    for d in devs:
        for n in nets:
            for ld in loads:
                df = split.execute(args.model, cuts, device=d, network=n, load=ld, repeats=args.repeats,
                                   warmup=args.warmup, dtype=args.dtype, ctx=ctx)
                recs.append(df)
                # the engine's cloud time scaled by the measured server factor (as 09_split does)
                factor, _src = ss.server_factor(graphs[d], df, df.attrs.get("load"))
                preds.append(ss.predict_case(graphs[d], model=args.model, device=d, network=n, load=ld,
                                             load_factor=factor))
                raws.append(ss.predict_case(graphs[d], model=args.model, device=d, network=n, load=ld,
                                            load_factor=float(df["load_factor"].iloc[0])))
    records, predicted = pd.concat(recs, ignore_index=True), pd.concat(preds, ignore_index=True)
    meas = ss.measured_cuts(records)
    j = meas.merge(predicted, on=[*ss.CASE, "cut"], suffixes=("_meas", "_pred"))
    print(f"\nexecuted in {time.perf_counter() - t0:.0f} s; medians of {args.repeats} reps (ms)")
    print(f"{'device':8s} {'network':7s} {'load':6s} {'cut':14s} {'pred':>8s} {'meas':>8s} {'pred/meas':>9s}"
          f" {'dev p/m':>15s} {'cloud p/m':>15s} {'other':>7s}")
    for _, r in j.iterrows():
        mark = "*" if r["cut"] == r["engine_choice"] else " "
        print(f"{r['device']:8s} {r['network']:7s} {r['load']:6s} {r['cut'][:13] + mark:14s} {r['total_ms_pred']:8.1f}"
              f" {r['total_ms_meas']:8.1f} {r['total_ms_pred'] / r['total_ms_meas']:9.2f}"
              f" {r['device_ms_pred']:7.1f}/{r['device_ms_meas']:<7.1f} {r['cloud_ms_pred']:7.1f}/{r['cloud_ms_meas']:<7.1f}"
              f" {r['other_ms']:7.1f}")
    comp = ss.compare(predicted, records)
    s = ss.summarize(comp)
    print("\n(* = the engine's choice)")
    for _, r in comp.iterrows():
        print(f"{r['device']:8s} {r['network']:7s} {r['load']:6s} chosen {r['chosen']:14s} best {r['best']:14s}"
              f" regret {r['regret']:6.1%} {'hit' if r['hit'] else 'MISS'}"
              f"  speed-up vs cloud {r['speedup_vs_cloud']:.2f}×, vs device {r['speedup_vs_device']:.2f}×")
    print(f"\nhit rate {s['hits']}/{s['cases']} = {s['hit_rate']:.0%}; regret median {s['median_regret']:.1%}, "
          f"worst {s['worst_regret']:.1%}  (cloud scaled by the measured server factor)")
    u = ss.summarize(ss.compare(pd.concat(raws, ignore_index=True), records))
    print(f"uncalibrated (profiled cloud time): hit rate {u['hits']}/{u['cases']} = {u['hit_rate']:.0%}; "
          f"regret median {u['median_regret']:.1%}, worst {u['worst_regret']:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
