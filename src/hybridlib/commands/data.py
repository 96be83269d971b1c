"""``hybridlib data``: make the synthetic FER-format csv, validate a dataset."""
from __future__ import annotations

import argparse

from hybridlib import data


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="synthetic dataset and validation",
                       description="Make the synthetic FER-format dataset or validate FER-2013.")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)

    s = dsub.add_parser(
        "synth", help="write the deterministic synthetic FER-format csv",
        description="Draw 48×48 gray faces whose emotion is carried by expression geometry "
                    "(mouth, brows, eyes) under random pose, scale, lighting, blur, noise and "
                    "occlusion, and write them as a FER-2013 csv (emotion,pixels,Usage) "
                    "atomically. Same seed → byte-identical file; prints its SHA-256. NOT FER-2013.")
    s.add_argument("--out", required=True, help="output csv path")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--size", choices=["smoke", "quick", "full"], default="quick",
                   help="smoke ≈2%%, quick ≈20%%, full = FER-2013's 28,709/3,589/3,589 rows")
    s.add_argument("--balanced", action="store_true", help="equal classes instead of FER-2013's imbalance")
    s.set_defaults(func=_synth)

    v = dsub.add_parser(
        "validate", help="check a FER-2013 csv or folder; print counts per split and class",
        description="Validate a FER-2013 csv (emotion,pixels,Usage) or folder "
                    "(train|test/<class>/*.png). On the first bad row prints PATH:line and the "
                    "reason and exits 2; with --drop-bad, drops bad rows and reports how many.")
    v.add_argument("path")
    v.add_argument("--drop-bad", action="store_true")
    v.set_defaults(func=_validate)


def _synth(args: argparse.Namespace) -> int:
    digest = data.write_synthetic(args.out, size=args.size, seed=args.seed, balanced=args.balanced,
                                  progress=True)
    print(f"{digest}  {args.out}")
    return 0


def _validate(args: argparse.Namespace) -> int:
    ds = data.load(args.path, drop_bad=args.drop_bad)
    t = ds.counts()
    t["total"] = t.sum(axis=1)
    print(f"{args.path}: {len(ds)} rows{' (synthetic)' if ds.synthetic else ''}")
    print(t.to_string())
    if args.drop_bad:
        print(f"dropped {ds.dropped} bad row(s)")
        for msg in ds.extra.get("errors", [])[:20]:
            print(f"  {msg}")
    return 0
