"""Kernel latency predictors: nn-Meter's random forest vs Neurosurgeon's linear model.

Profiles a corpus of fused kernels (:mod:`hybridlib.profiling.kernels`: random
configurations drawn around the emotion CNN's and AlexNet's sizes, plus both networks' own
kernels) on each of ``--sides`` — device (TF, 1 thread), cloud (TF, all cores), browser
(TF.js wasm in 4×-throttled Chromium, if ``hybridlib.profiling.kernels_tfjs`` is there) —
or reuses one with ``--corpus``, and prints, side by side, MAPE per kernel type and side
for the random forest (``rf``), the linear model (``linear``) and any other ``--methods``,
the ratio ``linear/rf`` (goal: rf ≤ 10% per type and ≥ 3× lower than linear), and the
rf's RMSPE and share within ±10%, for three held-out settings:

* ``configs`` — random configurations never trained on (mean over ``--seeds`` splits);
* ``families→<net>`` — the network's own kernels, predictors trained on both families'
  random kernels (the network itself never profiled: Neurosurgeon's use case);
* ``other-family→<net>`` — trained only on the *other* network's family (sizes outside
  the training range: where trees cannot extrapolate).

Timing: each kernel is a ``tf.function``; each of ``--repeats`` samples loops it until it
lasts ≥ ``--min-sample-ms`` and gives one per-call wall and CPU time; kernels are
interleaved in chunks of 8 with a reference convolution; the default target ``ms_adj`` is,
on the 1-thread device, the fastest CPU time divided by the chunk's reference drift (the
latency with the machine to itself at its typical speed), on the cloud the fastest wall
time. ``--noise N`` re-times N random kernels in fresh processes and prints how
far the second timing is from the first (the measurement floor on this machine).
``--adaptive-rounds N`` runs nn-Meter's adaptive sampling (N rounds, at most
``--adaptive-per-round`` × 2 new kernels each) and prints the network splits again.
``--regret`` adds the decision cost: partitions solved on predicted costs, executed on the
measured per-layer profiles of the preset (``--preset``), per device side, method and
training set. The load average is printed at start, after timing and at the end.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_predict.py [--per-family 120]
[--sides device,cloud] [--corpus FILE.parquet --save FILE.parquet] [--noise 70] [--regret]``.
``--layers`` runs the older per-*layer* comparison (all methods of
:mod:`hybridlib.profiling.predict`).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def layers_main(args: argparse.Namespace) -> None:
    import pandas as pd

    from hybridlib.profiling import predict

    corpus = (pd.read_parquet(args.corpus) if args.corpus
              else predict.profile_corpus(predict.random_configs(args.per_family, seed=0), repeats=args.repeats))
    for target in ("ms", "ms_min"):
        ev = pd.concat([predict.evaluate(corpus, seed=s, target=target) for s in range(args.seeds)])
        t = ev.groupby(["side", "type", "method"])["mape"].mean().unstack("method")
        t["linear/rf"] = t["linear"] / t["rf"]
        print(f"\nper-layer held-out MAPE % (target {target}, mean of {args.seeds} splits):")
        print(t.round(1).to_string())


def show(ev, title: str, methods: list[str]) -> None:
    from hybridlib.profiling import kpredict

    t = kpredict.summary(ev, methods=("rf", "linear"))
    for m in methods:
        if m not in t:
            t[m] = ev[ev.method == m].groupby(["split", "side", "kernel_type"])["mape"].mean()
    t["rf rmspe"] = ev[ev.method == "rf"].groupby(["split", "side", "kernel_type"])["rmspe"].mean()
    cols = methods + ["linear/rf", "rf rmspe", "rf within ±10%"]
    print(f"\n{title}\n" + t[cols].round(1).to_string())
    means = ev.groupby(["split", "side", "method"])["mape"].mean().unstack("method")
    means["linear/rf"] = means["linear"] / means["rf"]
    print("\nmean over kernel types:\n" + means[methods + ["linear/rf"]].round(1).to_string())
    rf = t["rf"]
    print(f"goal check: {int((rf <= 10).sum())}/{len(rf)} type×side×split rows with rf MAPE ≤ 10%; "
          f"{int((t['linear/rf'] >= 3).sum())}/{len(rf)} with linear/rf ≥ 3")


def load() -> str:
    """The machine's load average (1/5/15 min): timings on a shared box are read against it."""
    return "load {:.2f} {:.2f} {:.2f}".format(*os.getloadavg())


def regret_graphs(ctx, side: str) -> dict:
    """Measured partition graphs of both networks whose device is corpus side ``side``."""
    from hybridlib.profiling import profile

    if side == "browser":  # 09's phone-class graphs: TF.js at 4× (the corpus' browser side), cached
        from hybridlib.study.split import profiles as splitstudy

        return {m: splitstudy.device_graph(ctx, m, "phone") for m in ("emotion_cnn", "alexnet")}
    return {m: profile.to_graph(profile.ensure_profile(ctx, m), m, input_itemsize=1)
            for m in ("emotion_cnn", "alexnet")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-family", type=int, default=120,
                    help="random kernels per family (default 120, the quick preset's kernel_corpus)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timing samples per kernel (default 7)")
    ap.add_argument("--min-sample-ms", type=float, default=3.0,
                    help="each sample loops a kernel until it lasts ≥ this many ms (default 3)")
    ap.add_argument("--sides", default="device,cloud",
                    help="comma-separated sides to time: device (TF 1 thread), cloud (TF all cores), browser "
                         "(TF.js wasm in 4×-throttled Chromium; needs hybridlib.profiling.kernels_tfjs)")
    ap.add_argument("--target", default="ms_adj", choices=("ms_adj", "ms_min", "cpu_ms_min", "ms_net", "ms"),
                    help="latency predicted: ms_adj (default: device = fastest per-call CPU time corrected for "
                         "the machine's drift, cloud = fastest wall time), ms_min (fastest wall), cpu_ms_min, "
                         "ms_net (ms_min minus the identity call floor) or ms (median wall)")
    ap.add_argument("--methods", default="rf,linear",
                    help="comma-separated predictors shown side by side; rf and linear always (default rf,linear)")
    ap.add_argument("--corpus", help="reuse a profiled kernel corpus (.parquet, e.g. "
                                     "data/processed/quick/kernel_corpus.parquet) instead of timing one")
    ap.add_argument("--save", help="write the (grown) corpus here (.parquet)")
    ap.add_argument("--seeds", type=int, default=3, help="train/test splits averaged for 'configs'")
    ap.add_argument("--adaptive-rounds", type=int, default=0, help="adaptive-sampling rounds (0 = off)")
    ap.add_argument("--adaptive-per-round", type=int, default=15, help="flagged configs per round (2 neighbours each)")
    ap.add_argument("--noise", type=int, default=0,
                    help="re-time this many random family kernels and print the measurement's own MAPE (the floor)")
    ap.add_argument("--regret", action="store_true", help="decision regret on the preset's measured profiles")
    ap.add_argument("--preset", default="quick", help="preset whose cached profiles --regret uses")
    ap.add_argument("--layers", action="store_true", help="old per-layer comparison instead")
    args = ap.parse_args()

    if args.layers:
        layers_main(args)
        return

    import pandas as pd

    from hybridlib.profiling import kernels, kpredict
    from hybridlib.utils import InputError, atomic_path

    sides = [s.strip() for s in args.sides.split(",") if s.strip()]
    methods = list(dict.fromkeys(["rf", "linear"] + [m.strip() for m in args.methods.split(",") if m.strip()]))
    bad = [m for m in methods if m not in kpredict.METHODS]
    if bad:
        raise InputError(f"--methods: unknown {bad}; known: {', '.join(kpredict.METHODS)}")
    target = args.target
    prof_kw = {"repeats": args.repeats, "min_sample_ms": args.min_sample_ms}
    t0 = time.perf_counter()
    print(f"start: {load()} on {os.cpu_count()} cores")
    if args.corpus:
        corpus = pd.read_parquet(args.corpus)
    else:
        corpus = kernels.profile_corpus(kernels.corpus_configs(args.per_family), sides=sides, **prof_kw)
    if args.save:  # the timing is the expensive part: keep it whatever follows
        with atomic_path(args.save) as tmp:
            corpus.to_parquet(tmp, index=False)
    n = corpus.groupby("source")["config_id"].nunique().to_dict()
    print(f"corpus: {n} kernels × sides {sorted(set(corpus.side))} (device = TF 1 thread, cloud = TF "
          f"{os.cpu_count()} cores, browser = TF.js wasm 4× throttled), target {target}; "
          f"{time.perf_counter() - t0:.0f} s; {load()}")

    ev = pd.concat([kpredict.evaluate_configs(corpus, methods, target, seeds=tuple(range(args.seeds))),
                    kpredict.evaluate_networks(kpredict.network_predictions(corpus, methods, target))],
                   ignore_index=True)
    show(ev, "MAPE % per kernel type and side: random forest (nn-Meter) vs linear (Neurosurgeon)", methods)

    if args.noise:
        first = sorted(set(corpus.side))[0]
        fam = corpus[corpus.source.isin(kpredict.FAMILY_SOURCES) & (corpus.side == first)]
        per = max(2, args.noise // fam.kernel_type.nunique())
        pick = fam.groupby("kernel_type").sample(n=min(per, int(fam.kernel_type.value_counts().min())),
                                                 random_state=0)
        print(f"\nre-timing {len(pick)} kernels: {load()}")
        again = kernels.profile_kernels(pick.to_dict("records"), sides=sorted(set(corpus.side)), **prof_kw)
        again["config_id"] = pick["config_id"].to_numpy()[again["row"]]
        rep = kpredict.repeatability(corpus, again, target)
        print(f"measurement floor: {pick.config_id.nunique()} kernels re-timed, later run vs corpus, %; {load()}")
        print(rep.set_index(["side", "kernel_type"])[["mape", "rmspe", "within10", "median_ratio",
                                                       "mape_run_shift_removed", "n"]].round(2).to_string())
        print("mean MAPE per side:", rep.groupby("side")["mape"].mean().round(1).to_dict())
    if args.adaptive_rounds:
        fam = corpus[corpus.source.isin(kpredict.FAMILY_SOURCES)]
        grown, hist = kpredict.adaptive_sampling(
            fam, lambda c: kernels.profile_kernels(c, sides=sorted(set(corpus.side)), **prof_kw),
            rounds=args.adaptive_rounds, per_round=args.adaptive_per_round, target=target)
        print("\nadaptive sampling (out-of-fold rf error on the family corpus before each round):")
        print(hist.drop(columns=["flagged"]).round(1).to_string(index=False))
        corpus = pd.concat([grown, corpus[~corpus.source.isin(kpredict.FAMILY_SOURCES)]], ignore_index=True)
        ev2 = kpredict.evaluate_networks(kpredict.network_predictions(corpus, methods, target))
        show(ev2, "after adaptive sampling: network kernels (never trained on)", methods)
    if args.save and args.adaptive_rounds:
        with atomic_path(args.save) as tmp:
            corpus.to_parquet(tmp, index=False)
    if args.regret:
        from hybridlib import config
        from hybridlib.profiling import decision

        ctx = config.context(args.preset)
        for side in [s for s in sorted(set(corpus.side)) if s != "cloud"]:
            try:
                graphs = regret_graphs(ctx, side)
                rg = decision.decision_cost(corpus, graphs, methods=methods, target=target,
                                            device_side=side)
            except (InputError, KeyError, ValueError) as e:
                print(f"\ndecision regret, device side {side}: not available ({e})")
                continue
            print(f"\ndecision regret, device side {side} (measured latency of the predicted plan / measured "
                  "best − 1), %:")
            t = (rg.groupby(["model", "train", "scenario", "method"])["regret"].agg(["mean", "max"])
                 .unstack("method") * 100)
            print(t.round(2).to_string())
            print("plans identical to the measured optimum:",
                  rg.groupby(["model", "train", "method"])["same_plan"].mean().round(2).to_dict())
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; end: {load()}")


if __name__ == "__main__":
    sys.exit(main())
