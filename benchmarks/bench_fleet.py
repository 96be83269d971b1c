"""Many split-mode phones against one real server: seed 003's datacenter throughput and adaptation.

Starts ``hybridlib serve --mode split`` as its own process on 127.0.0.1, runs the throughput
sweep (users × policy: answered queries/s, p50/p95 latency, server CPU per query, the most users
served at the SLO) and, unless ``--no-adapt``, the adaptation trace (Wi-Fi → LTE → 3G → Wi-Fi,
then background load), and prints the policies side by side. Sizes start from a preset's fleet
size (``hybridlib.study.fleet.SIZES``); the options below override them. Run:
``.venv/bin/python benchmarks/bench_fleet.py --preset smoke --users 2,8,32 --policies cloud-only,load-aware``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="smoke", help="whose trained model and cached profiles to use")
    ap.add_argument("--size", default=None, help="fleet size to start from (default: --preset's)")
    ap.add_argument("--model", default=None, help="tf_keras .h5 to serve (default: the preset's trained emotion CNN)")
    ap.add_argument("--users", default=None, help="comma-separated user counts, ascending (e.g. 2,8,32)")
    ap.add_argument("--policies", default=None, help="comma-separated: cloud-only, fixed, static, load-aware")
    ap.add_argument("--rate", type=float, default=None, help="queries per second per user")
    ap.add_argument("--step-s", type=float, default=None, help="measured seconds per step")
    ap.add_argument("--phase-s", type=float, default=None, help="seconds per phase of the adaptation trace")
    ap.add_argument("--devices", default=None, help="comma-separated device classes cycled over users")
    ap.add_argument("--links", default=None, help="comma-separated links (wifi, lte, 3g) cycled over users")
    ap.add_argument("--adapt-device", default=None, help="device class of the adaptation run's phones")
    ap.add_argument("--pages", type=int, default=None, help="real Chromium pages in the adaptation run")
    ap.add_argument("--stop-after", type=int, default=None,
                    help="end a policy's ladder after this many user counts in a row miss the SLO")
    ap.add_argument("--no-adapt", action="store_true", help="throughput sweep only")
    ap.add_argument("--json", default=None, help="also write the whole result here")
    args = ap.parse_args(argv)

    import pandas as pd

    from hybridlib import config
    from hybridlib.models import artifacts
    from hybridlib.study import fleet
    from hybridlib.utils import write_json_atomic

    size = fleet.fleet_size(args.size or args.preset)
    over = {}
    if args.users:
        over["users"] = tuple(int(u) for u in args.users.split(","))
    if args.policies:
        over["policies"] = tuple(args.policies.split(","))
    if args.adapt_device:
        over["adapt_device"] = args.adapt_device
    for k in ("rate", "step_s", "phase_s", "pages"):
        v = getattr(args, k)
        if v is not None:
            over["rate_qps" if k == "rate" else k] = v
    if args.stop_after is not None:
        over["stop_after_misses"] = args.stop_after
    if args.devices:
        over["devices"] = tuple(args.devices.split(","))
    if args.links:
        over["links"] = tuple(args.links.split(","))
    if args.no_adapt:
        over["phases"] = (fleet.Phase("wifi"),)
        over["phase_s"] = 1.0
        over["pages"] = 0
    size = dataclasses.replace(size, **over)
    ctx = config.context(args.preset)
    model = args.model or artifacts.ensure_model(ctx)
    res = fleet.run_study(model, size, preset=args.preset,
                          profile_path=ctx.artifacts_dir / "profile_emotion_cnn.parquet",
                          tfjs_profile=ctx.artifacts_dir / "profile_tfjs_emotion_cnn_phone.parquet")
    d = res.to_dict()
    pd.set_option("display.width", 200)
    print(f"model {d['model']['model']}: {d['model']['cuts']} cuts, fixed cut {d['model']['fixed_cut']}, "
          f"device ms {d['model']['device_model_ms']} ({d['model']['device_source']})")
    steps = pd.DataFrame(d["throughput"]["steps"])
    cols = ["users", "offered_qps", "answered_qps", "answered_frac", "p50_ms", "p95_ms", "server_qps",
            "server_cpu_ms_per_query", "meets_slo"]
    print(f"\nthroughput (SLO: {d['throughput']['slo']}):")
    print(steps.pivot_table(index="users", columns="policy", values=["answered_qps", "p95_ms", "server_cpu_ms_per_query"],
                            aggfunc="first").round(2).to_string())
    print(steps[["policy", *cols]].to_string(index=False))
    print("\nusers served at the SLO:", json.dumps(d["throughput"]["served"]))
    print("ratio:", json.dumps(d["throughput"]["ratio"]))
    if not args.no_adapt:
        a = d["adaptation"]
        print("\nadaptation, whole trace:")
        print(pd.DataFrame(a["latency"]).to_string(index=False))
        print(pd.DataFrame(a["per_phase"]).pivot_table(index=["start_s", "link", "load"], columns="policy",
                                                        values="mean_ms", aggfunc="first").round(1).to_string())
        print("reactions:", json.dumps(a["reactions"]))
        print("pages:", json.dumps({k: v for k, v in a["pages"].items() if k != "samples"}))
    print("\nmachine:", json.dumps(d["machine"]))
    if args.json:
        write_json_atomic(args.json, d)
    return 0


if __name__ == "__main__":
    sys.exit(main())
