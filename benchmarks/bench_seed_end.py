"""A/B of how a seed-pipeline load step ends: ``SIGUSR1`` (drop the backlog) vs the old drain.

    PYTHONPATH=$PWD/src python benchmarks/bench_seed_end.py --model data/processed/quick/emotion_cnn.h5

Runs the seed pipeline at the given user counts twice on this box, back to back: once with
``end_sessions=True`` (the load study's default), once with ``False`` (the server works off its
queued frames before the next step). Prints per step: admitted users, answered and processed
frames per server CPU-second, the drain and the server-side drops, and each run's wall time.
The during-step figures should agree within the box's noise; only ``drain_s`` should differ.
"""
from __future__ import annotations

import argparse
import json
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="trained .h5 for the cloud server")
    ap.add_argument("--users", default="1,3", help="user counts per step (default 1,3)")
    ap.add_argument("--duration", type=float, default=6.0, help="seconds per step (default 6)")
    ap.add_argument("--out", default=None, help="write the results as JSON here")
    a = ap.parse_args()
    from hybridlib.study.load.sweep import parse_users, run_load

    users = parse_users(a.users)
    out = {}
    for flag in (True, False):
        t0 = time.perf_counter()
        steps = run_load("cloud", users, a.duration, fps=15, size=(640, 480), pipeline="seed",
                         model_path=a.model, warmup_s=3.0, progress=False, end_sessions=flag)
        keys = ("users", "admitted", "answered_per_cpu_s", "processed_per_cpu_s", "drain_s",
                "server_dropped", "fps_per_user", "rtt_p95_ms")
        out["end_sessions" if flag else "drain"] = {
            "wall_s": round(time.perf_counter() - t0, 1),
            "steps": [{k: s.to_dict()[k] for k in keys} for s in steps]}
    print(json.dumps(out, indent=1))
    if a.out:
        from pathlib import Path

        Path(a.out).write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
