"""Predicted vs measured splits: the engine's per-cut prediction beside an executed run.

For each (device class × network × load) of one model: the TF.js profile on that device
class (cached under ``data/processed/<preset>/``), the engine's prediction for every
executed cut, and :func:`hybridlib.study.split.execute.execute`'s measured medians; then the hit rate
(chosen cut within 10% of the measured best), median/worst regret and the measured
speed-ups. Needs Chromium and the npm assets (real page, real server, loopback only). Run:
``.venv/bin/python benchmarks/bench_split.py --model emotion_cnn --networks 3g,wifi --cuts 5``.

``--tail-cuts pool2,input`` instead times only the server's tail (its ``server_ms`` over real
``POST /split`` calls, no browser): the eager Keras tail against the compiled ``tf.function``
one (:class:`hybridlib.serving.tails.TailRunner`), interleaved call by call, beside the engine's
profiled cloud time of the same tail — the before/after of compiling the tail.
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
    ap.add_argument("--tail-cuts", default="", help="comma-separated cuts: time only the server's tail, "
                                                    "eager vs compiled (no browser)")
    args = ap.parse_args(argv)
    if args.tail_cuts:
        return tail_only(args)

    import pandas as pd

    from hybridlib import config, export, models
    from hybridlib.export import split_assets
    from hybridlib.study.split import analysis as ss, execute as split, predict as sp, profiles

    ctx = config.context(args.preset)
    devs, nets, loads = (a.split(",") for a in (args.devices, args.networks, args.loads))
    graphs = {d: profiles.device_graph(ctx, args.model, d, args.dtype) for d in devs}
    km = export.load_model(split_assets.model_h5(args.model, ctx))
    must = [sp.predict_cuts(graphs[d], n).attrs["chosen"] for d in devs for n in nets]
    cuts = sp.select_cuts(graphs[devs[0]], args.cuts, must=must, allowed=models.chain_cut_points(km))
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
                factor, _src = sp.server_factor(graphs[d], df, df.attrs.get("load"))
                preds.append(sp.predict_case(graphs[d], model=args.model, device=d, network=n, load=ld,
                                             load_factor=factor))
                raws.append(sp.predict_case(graphs[d], model=args.model, device=d, network=n, load=ld,
                                            load_factor=float(df["load_factor"].iloc[0])))
    records, predicted = pd.concat(recs, ignore_index=True), pd.concat(preds, ignore_index=True)
    meas = ss.measured_cuts(records)
    j = meas.merge(predicted, on=[*sp.CASE, "cut"], suffixes=("_meas", "_pred"))
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


def tail_only(args: argparse.Namespace) -> int:
    """Median ``server_ms`` per cut of the eager and the compiled tail, each on its own real
    server, calls alternating between the two; the profile's Σ cloud ms of that tail beside."""
    import contextlib
    import statistics
    import warnings

    from hybridlib import config, export
    from hybridlib.export import split_assets
    from hybridlib.profiling import reconcile, tables
    from hybridlib.serving.tails import TailRunner
    from hybridlib.study.split import server

    ctx = config.context(args.preset)
    h5 = split_assets.model_h5(args.model, ctx)
    km = export.load_model(h5)
    x = split_assets.example_input(tuple(int(d) for d in km.input_shape[1:]))
    prof = tables.ensure_profile(ctx, args.model, progress=False)
    costs, fixed = reconcile.side_costs(prof[prof["side"] == "cloud"])
    names = [l.name for l in km.layers]
    cuts = args.tail_cuts.split(",")
    n = max(args.repeats, 5)
    with contextlib.ExitStack() as st:
        urls = {}
        for compiled in (False, True):
            url, app = st.enter_context(server.split_server(h5, split_assets.cache_root(ctx) / "heads"))
            with warnings.catch_warnings():  # serve's string app keys are the contract
                warnings.simplefilter("ignore")
                app["tail_runner"] = TailRunner(h5, compiled=compiled)
            urls[compiled] = url
        print(f"{args.model}: server_ms of the tail, median of {n} calls after {args.warmup} warm-up (ms)")
        print(f"{'cut':14s} {'eager':>8s} {'compiled':>9s} {'profile':>8s}")
        for cut in cuts:
            sp = export.split_model(km, cut) if cut != "input" else None
            t = x if sp is None else sp.head.predict(x, verbose=0)
            layer = names[0] if cut == "input" else cut
            k = names.index(layer)
            prof_ms = sum(costs.get(nm, 0.0) for nm in names[k + 1:]) + fixed
            ts: dict[bool, list[float]] = {False: [], True: []}
            for i in range(args.warmup + n):
                for compiled in (False, True):
                    ms = float(server.post_split(urls[compiled], layer, t)["server_ms"])
                    if i >= args.warmup:
                        ts[compiled].append(ms)
            print(f"{cut:14s} {statistics.median(ts[False]):8.2f} {statistics.median(ts[True]):9.2f} {prof_ms:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
