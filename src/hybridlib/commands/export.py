"""``hybridlib export``: tf_keras .h5 → TF.js layers model(s), optional head/tail split."""
from __future__ import annotations

import argparse
import json

from hybridlib import export
from hybridlib.utils import InputError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export", help="convert a tf_keras .h5 to TF.js (fp32/float16/uint8, head/tail splits)",
        description="Convert a tf_keras .h5 model to a TF.js layers model (model.json + weight "
                    "shards + manifest.json with SHA-256 per file), written atomically. "
                    "--quantize all writes OUT/fp32, OUT/float16 and OUT/uint8 and prints the "
                    "size table. --split LAYER writes OUT/head and OUT/tail for a cut after LAYER "
                    "(a name or index; inside an Inception module the cut carries several tensors).")
    p.add_argument("model", help="tf_keras .h5 file")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--quantize", choices=["none", "float16", "uint8", "all"], default="none")
    p.add_argument("--split", metavar="LAYER", help="export head/tail sub-models cut after LAYER")
    p.add_argument("--list-splits", action="store_true", help="print the layers a cut may follow and exit")
    p.set_defaults(func=_export)


def _export(args: argparse.Namespace) -> int:
    if args.list_splits:
        model = export.load_model(args.model)
        for name in export.split_points(model):
            sp = export.split_model(model, name, copy=False)
            print(f"{sp.index:4d}  {name:28s} tensors={sp.n_tensors}  fp32 bytes={sp.cut_bytes}")
        return 0
    if args.split:
        if args.quantize == "all":
            raise InputError("--split takes one --quantize value (none, float16 or uint8), not all")
        info = export.export_split(args.model, args.out, args.split, args.quantize)
        print(json.dumps(info, indent=2))
        return 0
    qs = ("none", "float16", "uint8") if args.quantize == "all" else (args.quantize,)
    if len(qs) == 1:
        res = {export.variant_name(qs[0]): export.export_tfjs(args.model, args.out, qs[0])}
    else:
        res = export.export_variants(args.model, args.out, qs)
    print(f"{'variant':8s} {'bytes':>12s} {'ratio':>7s}  dir")
    for row in export.size_table(res):
        ratio = f"{row['ratio_to_fp32']:.3f}" if row["ratio_to_fp32"] is not None else "–"
        print(f"{row['variant']:8s} {row['total_bytes']:12,d} {ratio:>7s}  {res[row['variant']].out_dir}")
    return 0
