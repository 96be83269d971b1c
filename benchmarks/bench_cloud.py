"""Cloud mode vs the seed pipeline vs hybrid, measured side by side in one run (loopback).

Prints, with the goals of issue 6:
  * answered frames per server CPU-second, ours vs the seed pipeline (goal ≥ 8×);
  * fps per admitted user and p95 round trip at 640×480 @ 15 fps (goal ≥ 10 fps, ≤ 250 ms);
  * hybrid vs cloud server CPU per user-minute after the model download (goal ≤ 1%);
  * overload at 2× capacity: admitted users keep fps/p95, the rest get 503.

    .venv/bin/python benchmarks/bench_cloud.py [--users 1,2] [--duration 8] [--model PATH]

The load clients share the machine with the server: on a 2-core box they cap the user counts.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", default="1,2", help="cloud (ours) user counts")
    p.add_argument("--seed-users", default="1", help="seed-pipeline user counts")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--size", default="640x480")
    p.add_argument("--model", default=None, help=".h5 (default: the smoke preset's trained model)")
    p.add_argument("--capacity", type=int, default=None, help="overload run: cap (default: largest ours step)")
    p.add_argument("--no-hybrid", action="store_true")
    p.add_argument("--out", default=None, help="write all steps as JSON")
    a = p.parse_args()

    from hybridlib import config, load, serve, train

    users, seed_users = load.parse_users(a.users), load.parse_users(a.seed_users)
    size = load.parse_size(a.size)
    model = a.model or str(train.ensure_model(config.context("smoke")))
    kw = dict(fps=a.fps, size=size, model_path=model, progress=False)
    t0 = time.time()
    ours = load.run_load("cloud", users, a.duration, pipeline="ours", **kw)
    seed = load.run_load("cloud", seed_users, a.duration, pipeline="seed", **kw)
    hyb = [] if a.no_hybrid else load.run_load("hybrid", [max(users)], a.duration,
                                               models_dir=serve.ensure_tfjs(model), **kw)
    cap = a.capacity or max(users)
    # capacity, then 2× capacity, back to back on one capped server (same machine conditions)
    over = load.run_load("cloud", [cap, 2 * cap], a.duration, pipeline="ours", max_sessions=cap, **kw)

    def row(name, s):
        print(f"{name:<22}{s.users:>6}{s.admitted:>9}{s.refused:>8}{s.cpu_pct:>9.1f}"
              f"{s.fps_per_user:>9.2f}{_f(s.rtt_p50_ms):>9}{_f(s.rtt_p95_ms):>9}"
              f"{_f(s.answered_per_cpu_s):>11}{s.cpu_s_per_user_min:>11.3f}"
              f"{(s.bytes_in_per_s + s.bytes_out_per_s) * 8 / 1e6:>9.2f}")

    print(f"\n{size[0]}x{size[1]} @ {a.fps} fps, {a.duration:g} s per step, {os.cpu_count()} CPUs "
          f"(clients share them), model {os.path.basename(model)}")
    print(f"{'series':<22}{'users':>6}{'admit':>9}{'503':>8}{'cpu%1c':>9}{'fps/u':>9}{'p50ms':>9}"
          f"{'p95ms':>9}{'ans/cpu-s':>11}{'cpu-s/u-m':>11}{'Mbit/s':>9}")
    for s in ours:
        row("cloud ours", s)
    for s in seed:
        row("cloud seed pipeline", s)
    for s in hyb:
        row("hybrid", s)
    for s in over:
        row(f"overload (cap {cap})", s)

    import numpy as np

    e_o = float(np.median([s.answered_per_cpu_s for s in ours if s.answered_per_cpu_s] or [0]))
    e_s = float(np.median([s.answered_per_cpu_s for s in seed if s.answered_per_cpu_s] or [np.nan]))
    c_o = float(np.mean([s.cpu_s_per_user_min for s in ours]))
    base = over[0]
    print("\ngoal                                             measured                  goal")
    print(f"answered frames / server CPU-s, ours ÷ seed      {e_o:.1f} ÷ {e_s:.1f} = {e_o / e_s:.1f}×"
          f"{'':>8}≥ 8×")
    for s in ours:
        print(f"fps per user / p95 at {s.users} user(s)                 {s.fps_per_user:.1f} fps / "
              f"{_f(s.rtt_p95_ms)} ms{'':>8}≥ 10 fps / ≤ 250 ms")
    if hyb:
        h = hyb[0]
        print(f"hybrid ÷ cloud server CPU per user-minute        {h.cpu_s_per_user_min:.4f} ÷ {c_o:.3f} = "
              f"{100 * h.cpu_s_per_user_min / c_o:.2f}%{'':>6}≤ 1%  (download: "
              f"{h.setup_bytes_per_user / 1e6:.1f} MB/user)")
    o = over[-1]
    print(f"overload {o.users} users, cap {cap}: admitted {o.admitted}, refused {o.refused}; "
          f"fps {o.fps_per_user:.1f} vs {base.fps_per_user:.1f}, p95 {_f(o.rtt_p95_ms)} vs {_f(base.rtt_p95_ms)} ms")
    print(f"(total {time.time() - t0:.0f} s)")
    if a.out:
        from hybridlib.utils import write_json_atomic
        write_json_atomic(a.out, {k: [s.to_dict() for s in v] for k, v in
                                  {"ours": ours, "seed": seed, "hybrid": hyb, "overload": over}.items()})
    return 0


def _f(v):
    return "-" if v is None else f"{v:.1f}"


if __name__ == "__main__":
    sys.exit(main())
