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

``--cross-session SHARE`` times the last SHARE of each family's random kernels in a second
session (fresh processes and Chromium, after the first; never trained on) and prints, per side ×
method and per kernel type, the within-session (K-fold on session 1) and cross-session MAPE, RMSPE
and shares within ±5% / ±10% with 95% intervals (:mod:`hybridlib.profiling.ksession`); on the
browser side also with the in-page reference-kernel target ``ms_ref_adj`` beside the median
``ms``. ``--per-family 225 --cross-session 0.47`` gives ≥ 30 test kernels per type.

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
    from hybridlib.profiling import tables
    from hybridlib.profiling.graphs import to_graph

    if side == "browser":  # 09's phone-class graphs: TF.js at 4× (the corpus' browser side), cached
        from hybridlib.study.split import profiles as splitstudy

        return {m: splitstudy.device_graph(ctx, m, "phone") for m in ("emotion_cnn", "alexnet")}
    return {m: to_graph(tables.ensure_profile(ctx, m), m, input_itemsize=1)
            for m in ("emotion_cnn", "alexnet")}


def cross_main(corpus, methods: list[str], target: str) -> None:
    """Within- vs cross-session scores with intervals (ksession), per side × method and type."""
    import pandas as pd

    from hybridlib.profiling import ksession

    ms = [m for m in methods if m != "linear"] or methods
    targets = [("ms_adj", corpus)]
    if "ms_ref_adj" in corpus and (corpus.side == "browser").any():
        b = corpus[corpus.side == "browser"]
        targets.append(("ms_ref_adj", b.assign(ms_adj=b["ms_ref_adj"], side="browser(ref)")))
    preds = pd.concat([ksession.cross_session(c, ms, target) for _, c in targets], ignore_index=True)
    n = preds[preds.method == ms[0]].groupby(["split", "side", "kernel_type"]).size().unstack("split")
    print("\ncross-session: test kernels per side × type (within = session 1 out of fold, cross = session 2):\n"
          + n.to_string())
    sc = ksession.scores(preds)
    cols = [f"{s}_{m}" for m in ("mape", "mape_lo", "mape_hi", "rmspe", "within5", "within10", "within10_lo",
                                   "within10_hi") for s in ("within", "cross")]
    print(f"\nwithin vs cross session, %, 95% intervals (browser(ref) = the in-page reference target); {load()}")
    print(sc.set_index(["side", "method"])[["within_n", "cross_n"] + cols + ["gap", "gap_lo", "gap_hi"]]
          .round(1).to_string())
    st = ksession.scores(preds, by=("side", "kernel_type", "method"))
    print("\nper kernel type:")
    print(st.set_index(["side", "kernel_type", "method"])[[
        "within_mape", "cross_mape", "cross_mape_lo", "cross_mape_hi", "cross_rmspe", "cross_within5",
        "cross_within10", "cross_n", "gap", "gap_lo", "gap_hi", "resolvable_within10_gap"]].round(1).to_string())


def trees_main(corpus, sizes: list[int], target: str) -> None:
    """Forest size vs fit cost and error: the same split, each size fitted in turn, per side."""
    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split

    from hybridlib.profiling import kpredict

    fam = corpus[corpus.source.isin(kpredict.FAMILY_SOURCES)]
    s1 = fam[fam["session"] == 1] if "session" in fam else fam
    s2 = fam[fam["session"] == 2] if "session" in fam else fam.iloc[:0]
    ids = s1.drop_duplicates("config_id")
    tr, te = train_test_split(ids.config_id.to_numpy(), test_size=0.25, random_state=0, stratify=ids.kernel_type)
    rows = []
    for rep in range(2):  # sizes alternate, twice: drift of the box hits them alike
        for n in sizes:
            for method in ("rf", "additive+rf"):
                secs, errs = 0.0, {"within": [], "cross": []}
                for side, g in s1.groupby("side"):
                    train = g[g.config_id.isin(tr)]
                    t0 = time.perf_counter()
                    est = kpredict.KernelLatencyPredictor(method, n_estimators=n).fit(train, train[target])
                    secs += time.perf_counter() - t0
                    for split, test in (("within", g[g.config_id.isin(te)]), ("cross", s2[s2.side == side])):
                        if len(test):
                            errs[split].append(np.abs(est.predict(test) / test[target].to_numpy() - 1))
                rows.append({"rep": rep, "trees": n, "method": method, "fit_s": secs,
                             **{f"{k}_mape": 100 * float(np.concatenate(v).mean()) for k, v in errs.items() if v}})
    t = pd.DataFrame(rows).groupby(["method", "trees"]).mean().drop(columns="rep")
    print(f"\nforest size: fit seconds (all sides, mean of 2 alternating reps) and pooled MAPE %; {load()}")
    print(t.round(2).to_string())


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
    ap.add_argument("--cross-session", type=float, default=0.0,
                    help="share of each family's random kernels timed in a second session and scored across "
                         "sessions (0 = off; needs a corpus timed so, or no --corpus)")
    ap.add_argument("--trees", default="",
                    help="comma-separated forest sizes (e.g. 100,200): fit seconds and held-out MAPE of rf and "
                         "additive+rf per size, side by side (one split of session 1; session 2 too if timed)")
    ap.add_argument("--session-cost", type=int, default=0,
                    help="time the --per-family corpus N times with one session and with a second session "
                         "(share 0.25, 04's quick setting), alternating, and print the seconds side by side")
    ap.add_argument("--regret", action="store_true", help="decision regret on the preset's measured profiles")
    ap.add_argument("--preset", default="quick", help="preset whose cached profiles --regret uses")
    ap.add_argument("--layers", action="store_true", help="old per-layer comparison instead")
    args = ap.parse_args()

    if args.layers:
        layers_main(args)
        return

    import pandas as pd

    from hybridlib.profiling import kernels, kpredict, ksession
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
    if args.session_cost:  # what 04's second timing session costs, side by side
        cfgs = kernels.corpus_configs(args.per_family)
        secs: dict[float, list[float]] = {0.0: [], 0.25: []}
        for rep in range(args.session_cost):
            for share in ((0.0, 0.25) if rep % 2 == 0 else (0.25, 0.0)):
                t1 = time.perf_counter()
                kernels.profile_corpus(cfgs, sides=sides, second_share=share, **prof_kw)
                secs[share].append(time.perf_counter() - t1)
                print(f"  second share {share}: {secs[share][-1]:.1f} s; {load()}")
        a, b = (sum(v) / len(v) for v in secs.values())
        print(f"corpus timing, one session {a:.1f} s vs two sessions {b:.1f} s: ×{b / a:.3f} (+{b - a:.1f} s)")
        return
    if args.corpus:
        corpus = pd.read_parquet(args.corpus)
    else:
        corpus = kernels.profile_corpus(kernels.corpus_configs(args.per_family), sides=sides,
                                        second_share=args.cross_session, **prof_kw)
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

    if args.cross_session:
        cross_main(corpus, methods, target)
    if args.trees:
        trees_main(corpus, [int(t) for t in args.trees.split(",")], target)
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
        if "ms_ref_adj" in corpus and "ms_ref_adj" in again:  # the browser's floor, both targets
            m = corpus[corpus.side == "browser"].merge(again[again.side == "browser"], on="config_id",
                                                        suffixes=("", "_again"))
            for col in ("ms", "ms_ref_adj"):
                base = m[["config_id", "kernel_type"]].assign(side="browser")
                r = kpredict.repeatability(base.assign(ms_adj=m[col]), base.assign(ms_adj=m[f"{col}_again"]),
                                           "ms_adj")
                pooled = ksession.interval_metrics(m[f"{col}_again"] / m[col] - 1)
                print(f"browser floor, target {col}: mean over types {r['mape'].mean():.1f}%; pooled MAPE "
                      f"{pooled['mape']:.1f} [{pooled['mape_lo']:.1f}, {pooled['mape_hi']:.1f}], within ±10% "
                      f"{pooled['within10']:.0f}% [{pooled['within10_lo']:.0f}, {pooled['within10_hi']:.0f}] "
                      f"(n={pooled['n']})")
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
