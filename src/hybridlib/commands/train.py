"""``hybridlib train``: train (optionally tune) the emotion CNN, save it with its manifest, evaluate."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hybridlib import config
from hybridlib.models import artifacts, evaluation, train
from hybridlib.utils import InputError, to_jsonable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train the emotion CNN (optionally after a tuning sweep) and evaluate it",
        description="Train the seed's emotion CNN (VGG + Inception, ~3M params) on FER-2013 or the "
                    "synthetic default with seeded augmentation, Adam, best checkpoint and early "
                    "stopping; save <out>.h5 + .history.json + .manifest.json atomically; print "
                    "validation/test accuracy and macro-F1 as JSON. Sizes come from --preset; the "
                    "flags below override them.",
        epilog="Example (the seed's setting on real data): hybridlib train --preset full "
               "--data data/raw/fer2013.csv --sweep")
    p.add_argument("--preset", default="quick", help="smoke | quick | full (default quick)")
    p.add_argument("--data", default=None, help="FER-2013 csv or folder (default: synthetic data)")
    p.add_argument("--out", default=None,
                   help="model path ending in .h5 (default data/processed/<preset>/emotion_cnn.h5)")
    p.add_argument("--epochs", type=int, default=None, help="epochs of the final training (preset's by default)")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    p.add_argument("--dropout", type=float, default=None, help="dropout after dense1/dense2")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--patience", type=int, default=None, help="early-stopping patience (epochs)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-train", type=int, default=None, help="use at most N training images")
    p.add_argument("--class-weights", action="store_true", help="balanced class weights (FER's rare Disgust)")
    p.add_argument("--no-augment", action="store_true", help="train without augmentation")
    p.add_argument("--sweep", action="store_true",
                   help="first run the preset's lr × dropout × batch sweep and train with the best")
    p.add_argument("--reports-dir", default=None, help="where to write results/train_cli.json (optional)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    out = Path(args.out) if args.out else None
    if out is not None and out.suffix != ".h5":
        raise InputError(f"--out {out} must end in .h5 (tf_keras HDF5)")
    ctx = config.context(args.preset, data_path=args.data, reports_dir=args.reports_dir)
    cfg = train.TrainConfig.from_preset(
        ctx.preset, epochs=args.epochs, lr=args.lr, dropout=args.dropout, batch_size=args.batch_size,
        patience=args.patience, seed=args.seed, max_train=args.max_train)
    cfg.class_weights = args.class_weights
    cfg.augment = not args.no_augment
    cfg.validate()  # before loading data: a bad flag fails in a second, not after minutes
    out = out or artifacts.default_model_path(ctx)
    ds = ctx.dataset()
    (xt, yt), (xv, yv), (xs, ys) = ds.split("train"), ds.split("val"), ds.split("test")
    sweep_rows = None
    if args.sweep:
        table = train.sweep(xt, yt, xv, yv, train.grid(ctx.preset), epochs=ctx.preset.sweep_epochs,
                            max_train=ctx.preset.sweep_max_train or None, seed=args.seed,
                            progress=not args.quiet)
        best = train.best_config(table)
        for k, v in best.items():
            if getattr(args, k, None) is None:  # explicit flags win over the sweep
                setattr(cfg, k, v)
        sweep_rows = table.to_dict(orient="records")
    res = train.fit(xt, yt, xv, yv, cfg, progress=not args.quiet)
    manifest = artifacts.save(res, out, dataset=ds, preset=ctx.preset.name, data_label=ctx.data_label,
                          extra={"made_by": "hybridlib train", "sweep": sweep_rows})
    ev_val = evaluation.evaluate(res.model, xv, yv)
    ev_test = evaluation.evaluate(res.model, xs, ys)
    summary = {"model": str(out), "sha256": manifest["sha256"], "params": manifest["params"],
               "data": ctx.data_label, "config": cfg.to_dict(),
               "val_accuracy": ev_val["accuracy"], "val_macro_f1": ev_val["macro_f1"],
               "test_accuracy": ev_test["accuracy"], "test_macro_f1": ev_test["macro_f1"],
               "best_epoch": res.best_epoch, "epochs_run": res.epochs_run,
               "train_seconds": res.seconds, "images_per_s": res.images_per_s, "sweep": sweep_rows}
    if args.reports_dir:
        ctx.save_result("train_cli", summary)
    print(json.dumps(to_jsonable(summary), indent=2))
    return 0
