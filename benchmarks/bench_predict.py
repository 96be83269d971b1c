"""Kernel latency predictors: nn-Meter's random forest vs Neurosurgeon's linear model.

Profiles a corpus of fused kernels (:mod:`hybridlib.partition.kernels`: random
configurations drawn around the emotion CNN's and AlexNet's sizes, plus both networks' own
kernels) on the device side (TF, 1 thread) and the cloud side (TF, all cores) — or reuses
one with ``--corpus`` — and prints, side by side, MAPE per kernel type and side for the
random forest (``rf``) and the linear model (``linear``), their ratio ``linear/rf`` (goal:
rf ≤ 10% per type and ≥ 3× lower than linear), and the rf's RMSPE and share within ±10%,
for three held-out settings:

* ``configs`` — random configurations never trained on (mean over ``--seeds`` splits);
* ``families→<net>`` — the network's own kernels, predictors trained on both families'
  random kernels (the network itself never profiled: Neurosurgeon's use case);
* ``other-family→<net>`` — trained only on the *other* network's family (sizes outside
  the training range: where trees cannot extrapolate).

``--noise N`` re-times N random kernels and prints how far the second timing is from the
first (the measurement floor on this machine). ``--adaptive-rounds N`` then runs nn-Meter's adaptive sampling (N rounds, at most
``--adaptive-per-round`` × 2 new kernels each, profiled on both sides) and prints the
network splits again. ``--regret`` adds the decision cost: partitions solved on predicted
costs, executed on the measured per-layer profiles of the preset (``--preset``), regret
per method and training set. Timings are the fastest of ``--repeats`` interleaved repeats
(``ms_min``): on a shared machine other jobs only add time.

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/bench_predict.py [--per-family 200]
[--repeats 7] [--corpus FILE.parquet] [--adaptive-rounds 2] [--regret --preset quick]``.
``--layers`` runs the older per-*layer* comparison (all methods of
:mod:`hybridlib.partition.predict`).
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

    from hybridlib.partition import predict

    corpus = (pd.read_parquet(args.corpus) if args.corpus
              else predict.profile_corpus(predict.random_configs(args.per_family, seed=0), repeats=args.repeats))
    for target in ("ms", "ms_min"):
        ev = pd.concat([predict.evaluate(corpus, seed=s, target=target) for s in range(args.seeds)])
        t = ev.groupby(["side", "type", "method"])["mape"].mean().unstack("method")
        t["linear/rf"] = t["linear"] / t["rf"]
        print(f"\nper-layer held-out MAPE % (target {target}, mean of {args.seeds} splits):")
        print(t.round(1).to_string())


def show(ev, title: str) -> None:
    from hybridlib.partition import kpredict

    t = kpredict.summary(ev)
    rm = ev[ev.method == "rf"].groupby(["split", "side", "kernel_type"])["rmspe"].mean()
    t["rf rmspe"] = rm
    cols = ["rf", "linear", "linear/rf", "rf rmspe", "rf within ±10%"]
    print(f"\n{title}\n" + t[cols].round(1).to_string())
    means = ev.groupby(["split", "side", "method"])["mape"].mean().unstack("method")
    means["linear/rf"] = means["linear"] / means["rf"]
    print("\nmean over kernel types:\n" + means[["rf", "linear", "linear/rf"]].round(1).to_string())
    rf = t["rf"]
    print(f"goal check: {int((rf <= 10).sum())}/{len(rf)} type×side×split rows with rf MAPE ≤ 10%; "
          f"{int((t['linear/rf'] >= 3).sum())}/{len(rf)} with linear/rf ≥ 3")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog=__doc__.split("\n\n", 1)[1],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-family", type=int, default=200, help="random kernels per family (default 200)")
    ap.add_argument("--repeats", type=int, default=7, help="interleaved timing repeats per kernel (default 7)")
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

    from hybridlib.partition import kernels, kpredict
    from hybridlib.utils import atomic_path

    t0 = time.perf_counter()
    if args.corpus:
        corpus = pd.read_parquet(args.corpus)
    else:
        cfgs = [{**c, "source": f"{f}-family"} for i, f in enumerate(("emotion", "alexnet"))
                for c in kernels.random_kernel_configs(args.per_family, f, seed=i)]
        from hybridlib import models

        for net, build in (("emotion_cnn", models.emotion_cnn), ("alexnet", models.alexnet)):
            cfgs += kernels.kernel_table(build(), net).to_dict("records")
        corpus = kernels.profile_kernels(cfgs, repeats=args.repeats)
        meta = pd.DataFrame(cfgs)[["source", "kernel_name", "layers", "last_layer"]]
        corpus = corpus.join(meta, on="row").rename(columns={"row": "config_id"})
    if args.save:  # the timing is the expensive part: keep it whatever follows
        with atomic_path(args.save) as tmp:
            corpus.to_parquet(tmp, index=False)
    n = corpus.groupby("source")["config_id"].nunique().to_dict()
    print(f"corpus: {n} kernels × {corpus.side.nunique()} sides (device = TF 1 thread, cloud = TF "
          f"{os.cpu_count()} cores), target ms_min; {time.perf_counter() - t0:.0f} s")

    ev = pd.concat([kpredict.evaluate_configs(corpus, seeds=tuple(range(args.seeds))),
                    kpredict.evaluate_networks(kpredict.network_predictions(corpus))], ignore_index=True)
    show(ev, "MAPE % per kernel type and side: random forest (nn-Meter) vs linear (Neurosurgeon)")

    if args.noise:
        fam = corpus[corpus.source.isin(kpredict.FAMILY_SOURCES) & (corpus.side == "device")]
        per = max(2, args.noise // fam.kernel_type.nunique())
        pick = fam.groupby("kernel_type").sample(n=min(per, int(fam.kernel_type.value_counts().min())),
                                                 random_state=0)
        again = kernels.profile_kernels(pick.to_dict("records"), repeats=args.repeats)
        again["config_id"] = pick["config_id"].to_numpy()[again["row"]]
        rep = kpredict.repeatability(corpus, again)
        print(f"\nmeasurement floor: {pick.config_id.nunique()} kernels re-timed, later run vs corpus, %:")
        print(rep.set_index(["side", "kernel_type"])[["mape", "rmspe", "within10", "median_ratio",
                                                       "mape_run_shift_removed", "n"]].round(2).to_string())
        print("mean MAPE per side:", rep.groupby("side")["mape"].mean().round(1).to_dict())
    if args.adaptive_rounds:
        fam = corpus[corpus.source.isin(kpredict.FAMILY_SOURCES)]
        grown, hist = kpredict.adaptive_sampling(
            fam, lambda c: kernels.profile_kernels(c, repeats=args.repeats), rounds=args.adaptive_rounds,
            per_round=args.adaptive_per_round)
        print("\nadaptive sampling (out-of-fold rf error on the family corpus before each round):")
        print(hist.drop(columns=["flagged"]).round(1).to_string(index=False))
        corpus = pd.concat([grown, corpus[~corpus.source.isin(kpredict.FAMILY_SOURCES)]], ignore_index=True)
        ev2 = kpredict.evaluate_networks(kpredict.network_predictions(corpus))
        show(ev2, "after adaptive sampling: network kernels (never trained on)")
    if args.save and args.adaptive_rounds:
        with atomic_path(args.save) as tmp:
            corpus.to_parquet(tmp, index=False)
    if args.regret:
        from hybridlib import config
        from hybridlib.partition import decision, profile

        ctx = config.context(args.preset)
        graphs = {m: profile.to_graph(profile.ensure_profile(ctx, m), m, input_itemsize=1)
                  for m in ("emotion_cnn", "alexnet")}
        rg = decision.decision_cost(corpus, graphs)
        print("\ndecision regret (measured latency of the predicted plan / measured best − 1), %:")
        t = rg.groupby(["model", "train", "scenario", "method"])["regret"].agg(["mean", "max"]).unstack("method") * 100
        print(t.round(2).to_string())
        print("plans identical to the measured optimum:",
              rg.groupby(["model", "train", "method"])["same_plan"].mean().round(2).to_dict())
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    sys.exit(main())
