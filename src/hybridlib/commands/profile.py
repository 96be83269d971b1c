"""``hybridlib profile``: per-layer profiles (→ tidy tables + partition graphs), predictor corpus."""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hybridlib.profiling import graphs, layers, predict, tables, tfjs_layers
from hybridlib.utils import InputError, atomic_path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("profile", help="per-layer latency/size/energy profiles and layer predictors",
                       description="Profile a model layer by layer on the device side (TF, 1 thread; "
                                   "optionally TF.js wasm in headless Chromium) and the cloud side "
                                   "(TF, all cores), or profile a corpus of random layers and "
                                   "evaluate the per-layer-type predictors.")
    psub = p.add_subparsers(dest="profile_command", metavar="ACTION", required=True)
    m = psub.add_parser("model", help="profile one model; write table + partition graph",
                        description="Writes OUT/profile_<name>.parquet (+ .csv) and "
                                    "OUT/graph_<name>.json (the §5 graph `partition solve` reads).")
    m.add_argument("model", help="emotion_cnn | alexnet | path to a Keras .h5")
    m.add_argument("--out", required=True, help="output directory")
    m.add_argument("--repeats", type=int, default=5)
    m.add_argument("--warmup", type=int, default=2)
    m.add_argument("--browser", action="store_true", help="also profile TF.js (wasm) in Chromium")
    m.add_argument("--power-w", type=float, default=2.0, help="device compute power model (W)")
    m.set_defaults(func=_model)
    c = psub.add_parser("corpus", help="time random layer configs; print held-out MAPE per type",
                        description="Time --size random layer configurations on both sides, write them "
                                    "to OUT (parquet) and print held-out MAPE per layer type, side and "
                                    "method (Neurosurgeon's linear regressions vs gradient boosting).")
    c.add_argument("--size", type=int, default=200)
    c.add_argument("--repeats", type=int, default=7)
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", required=True, help="output .parquet")
    c.set_defaults(func=_corpus)


def _model(args: argparse.Namespace) -> int:
    if args.power_w < 0:
        raise InputError(f"--power-w must be ≥ 0, got {args.power_w}")
    if args.model not in layers.MODELS and not Path(args.model).is_file():
        raise InputError(f"model {args.model!r} is neither {' nor '.join(layers.MODELS)} nor an existing .h5 file")
    power = layers.PowerModel(active_w=args.power_w)
    name = Path(args.model).stem
    df = layers.profile_model(args.model, repeats=args.repeats, warmup=args.warmup, power=power)
    df["model"] = name
    if args.browser:
        js = tfjs_layers.profile_tfjs(args.model, repeats=args.repeats, warmup=args.warmup, power=power)
        meta = df[df.side == "cloud"].set_index("layer")
        for col in ("type", "index", "inputs", "out_shape", "out_bytes", "params"):
            js[col] = js["layer"].map(meta[col])
        js["side"], js["model"] = "device", name
        df = pd.concat([df, js], ignore_index=True)
    out = Path(args.out)
    table = tables.save_table(df, out / f"profile_{name}")
    graph = graphs.to_graph(df, name).save(out / f"graph_{name}.json")
    s = df.groupby(["side", "backend"]).agg(layers=("layer", "size"), sum_ms=("ms", "sum"),
                                            model_ms=("model_ms", "first"))
    print(s.to_string())
    print(f"table: {table}\ngraph: {graph}")
    return 0


def _corpus(args: argparse.Namespace) -> int:
    df = predict.profile_corpus(predict.random_configs(args.size, seed=args.seed), repeats=args.repeats)
    with atomic_path(Path(args.out)) as tmp:
        df.to_parquet(tmp, index=False)
    for target in ("ms", "ms_min"):
        ev = predict.evaluate(df, target=target)
        print(f"held-out MAPE % (target {target}):")
        print(ev.pivot_table(index=["side", "type"], columns="method", values="mape").round(1).to_string())
    print(f"corpus: {args.out}")
    return 0
