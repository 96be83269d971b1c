"""``hybridlib load``: synthetic WebRTC / hybrid users against a server process on loopback."""
from __future__ import annotations

import argparse
from pathlib import Path

from hybridlib import config
from hybridlib.models import artifacts
from hybridlib.serving.options import PIPELINES, check_max_sessions
from hybridlib.study import load
from hybridlib.utils import InputError, write_json_atomic


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load", help="load test: server CPU, bandwidth and latency vs users",
        description="Start `hybridlib serve` on a free 127.0.0.1 port as its own process, then for "
                    "each user count run that many synthetic users (real aiortc peers streaming a "
                    "face clip in cloud mode; page + model downloads, then local inference, in "
                    "hybrid mode) spread over worker processes, and report per step the server's "
                    "CPU %% (psutil, children included), bytes in/out per second, frame round trip "
                    "p50/p95, frames sent/answered/dropped and sessions refused. Loopback only; "
                    "users ≤ 64, duration ≤ 300 s.")
    p.add_argument("--mode", choices=["cloud", "hybrid"], required=True)
    p.add_argument("--users", required=True, help="user counts per step, e.g. 1,2,4 or 1-5")
    p.add_argument("--duration", type=float, required=True, help="seconds of streaming per step")
    p.add_argument("--fps", type=int, default=15, help="camera frame rate (default 15)")
    p.add_argument("--size", default="640x480", help="camera size WIDTHxHEIGHT (default 640x480)")
    p.add_argument("--pipeline", choices=PIPELINES, default="ours",
                   help="cloud pipeline: ours (batched, newest frame) or seed (000's, inline)")
    p.add_argument("--max-sessions", type=int, default=None,
                   help="server capacity (default: the largest step, nobody refused)")
    p.add_argument("--model", default=None, help="trained .h5 (default: the preset's, trained if missing)")
    p.add_argument("--models-dir", default=None, help="exported TF.js models (hybrid mode)")
    p.add_argument("--browser", action="store_true",
                   help="hybrid mode: users are real headless Chromium pages (small N) instead of HTTP fetches")
    p.add_argument("--preset", default="smoke", help="preset whose model is used when --model is absent")
    p.add_argument("--ray-address", default=None,
                   help="run the synthetic users as Ray tasks spread over this cluster's nodes "
                        "('local': start a small local Ray) instead of local processes")
    p.add_argument("--backend", choices=("inprocess", "ray"), default="inprocess",
                   help="cloud mode: the server's model backend (ray: it starts its own local Ray)")
    p.add_argument("--out", default=None, help="write the steps as JSON here")
    p.set_defaults(func=_load)


def _load(args: argparse.Namespace) -> int:
    users = load.parse_users(args.users)
    size = load.parse_size(args.size)
    if args.max_sessions is not None:
        check_max_sessions(args.max_sessions, "--max-sessions")
    model = Path(args.model) if args.model else None
    if model is not None and not model.is_file():
        raise InputError(f"--model {model} does not exist")
    load.check_args(args.mode, users, args.duration, args.fps, size)
    if args.browser and args.mode != "hybrid":
        raise InputError("--browser applies to --mode hybrid only")
    if args.backend != "inprocess" and args.mode != "cloud":
        raise InputError("--backend applies to --mode cloud only")
    if args.ray_address and args.browser:
        raise InputError("--ray-address runs aiortc/HTTP users; Chromium pages (--browser) stay local")
    if args.mode == "cloud" and model is None:
        model = artifacts.ensure_model(config.context(args.preset))
    steps = load.run_load(args.mode, users, args.duration, fps=args.fps, size=size,
                          pipeline=args.pipeline, model_path=model, max_sessions=args.max_sessions,
                          models_dir=args.models_dir, browser=args.browser, backend=args.backend,
                          users_ray_address=args.ray_address)
    cols = ("users", "admitted", "refused", "cpu_pct", "bytes_in_per_s", "bytes_out_per_s",
            "fps_per_user", "rtt_p50_ms", "rtt_p95_ms", "frames_sent", "answered", "dropped")
    print("  ".join(f"{c:>14}" for c in cols))
    for s in steps:
        d = s.to_dict()
        print("  ".join(f"{'-' if d[c] is None else d[c]:>14}" for c in cols))
    if args.out:
        write_json_atomic(args.out, {"mode": args.mode, "pipeline": args.pipeline,
                                     "steps": [s.to_dict() for s in steps]})
    return 0
