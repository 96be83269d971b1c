"""Cloud mode vs the seed pipeline vs hybrid, measured side by side in one run (loopback).

Prints, with the goals of issues 6 and 10:
  * answered frames per server CPU-second, ours ÷ seed pipeline, one row PER USER COUNT (both
    pipelines run at the same counts, each warmed up first); the headline is the minimum
    (goal ≥ 8×);
  * fps per admitted user and p95 round trip at 640×480 @ 15 fps (goal ≥ 10 fps, ≤ 250 ms);
  * hybrid users as real Chromium pages running the app: server CPU per user-minute vs cloud
    (goal ≤ 1%), and what moved to the client: page CPU-ms per frame (DevTools
    Performance.getMetrics TaskDuration) beside the server's CPU-ms per frame;
  * overload at 4× capacity: admitted users keep fps/p95, the rest get 503, the server stays up;
  * the server's CPU per frame BY STAGE (decode, colour conversion, detection, crop,
    batched CNN, overlay, results message, returned-video encode, and "other" = the process's
    measured CPU less the stages: aiortc's packets, SRTP, the event loop) for the seed, today's
    ("ours") and the fast pipeline side by side, and USERS PER CORE at 15 fps with p95 ≤ 250 ms
    for each (goal ≥ 20): users ÷ server cores used, at the largest measured count that holds;
    "fast-before" is the fast pipeline's first version (a half-size overlay video
    returned every 3rd frame), run in the same process set-up through $HYBRIDLIB_CLOUD_OPTIONS,
    beside today's fast (results on the data channel only);
  * the CNN runtimes for the batched 48×48 classifier, CPU-ms per call on the same faces
    (TF Lite as served, TF Lite with fixed padded batch sizes, the Keras model called directly,
    the traced tf.function) with the largest |Δprob| against Keras (--no-cnn: skip).

    .venv/bin/python benchmarks/bench_cloud.py [--users 1,2] [--duration 8] [--model PATH]
                                               [--hybrid-pages 2] [--factor 4] [--out steps.json]
                                               [--fast-users 1,2,4,8] [--no-fast-before] [--no-cnn]

The load clients share the machine with the server: on a 2-core box they cap the user counts.
Exit status 1 when a check fails (ratio < 8×, hybrid claim, overload).
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
    p.add_argument("--users", default="1,2", help="user counts, for BOTH pipelines")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured 1-user warm-up per server, s")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--size", default="640x480")
    p.add_argument("--model", default=None, help=".h5 (default: the smoke preset's trained model)")
    p.add_argument("--capacity", type=int, default=None,
                   help="overload run: cap (default: the saturation point of ours, else 1)")
    p.add_argument("--factor", type=int, default=4, help="overload: users offered = factor × cap (0: skip)")
    p.add_argument("--fast-users", default=None, help="user counts of the fast pipeline (default: --users)")
    p.add_argument("--no-fast-before", action="store_true", help="skip round 1's fast (video returned)")
    p.add_argument("--no-cnn", action="store_true", help="skip the CNN runtime comparison")
    p.add_argument("--no-agreement", action="store_true", help="skip the fast-vs-ours replay on the test clips")
    p.add_argument("--hybrid-pages", type=int, default=2, help="Chromium pages for hybrid (0: skip)")
    p.add_argument("--out", default=None, help="write all steps as JSON")
    a = p.parse_args()

    from hybridlib import config, export
    from hybridlib.models import artifacts
    from hybridlib.study import load

    users = load.parse_users(a.users)
    size = load.parse_size(a.size)
    model = a.model or str(artifacts.ensure_model(config.context("smoke")))
    kw = dict(fps=a.fps, size=size, model_path=model, progress=False, warmup_s=a.warmup)
    t0 = time.time()
    ours = load.run_load("cloud", users, a.duration, pipeline="ours", **kw)
    seed = load.run_load("cloud", users, a.duration, pipeline="seed", **kw)
    fast_users = load.parse_users(a.fast_users) if a.fast_users else users
    fast_before = [] if a.no_fast_before else run_fast_before(fast_users, a.duration, kw)
    fast = load.run_load("cloud", fast_users, a.duration, pipeline="fast", **kw)
    hyb, hyb_skip = [], None
    if a.hybrid_pages:
        try:
            hyb = load.run_load("hybrid", [a.hybrid_pages], a.duration, models_dir=export.ensure_tfjs(model),
                                browser=True, **{k: v for k, v in kw.items() if k != "warmup_s"})
        except Exception as e:  # noqa: BLE001 - no Chromium here: say so, keep the rest
            hyb_skip = f"{type(e).__name__}: {e}"
    cap = a.capacity or load.saturation_point(ours, a.fps) or 1
    # capacity, then factor × capacity, back to back on one capped server (same machine conditions)
    over = (load.run_load("cloud", [cap, a.factor * cap], a.duration, pipeline="ours", max_sessions=cap, **kw)
            if a.factor else [])

    def row(name, s):
        print(f"{name:<22}{s.users:>6}{s.admitted:>9}{s.refused:>8}{s.cpu_pct:>9.1f}"
              f"{s.fps_per_user:>9.2f}{_f(s.rtt_p50_ms):>9}{_f(s.rtt_p95_ms):>9}"
              f"{_f(s.answered_per_cpu_s):>11}{s.cpu_s_per_user_min:>11.3f}"
              f"{(s.bytes_in_per_s + s.bytes_out_per_s) * 8 / 1e6:>9.2f}")

    print(f"\n{size[0]}x{size[1]} @ {a.fps} fps, {a.duration:g} s per step after {a.warmup:g} s warm-up, "
          f"{os.cpu_count()} CPUs (clients share them), model {os.path.basename(model)}")
    print(f"{'series':<22}{'users':>6}{'admit':>9}{'503':>8}{'cpu%1c':>9}{'fps/u':>9}{'p50ms':>9}"
          f"{'p95ms':>9}{'ans/cpu-s':>11}{'cpu-s/u-m':>11}{'Mbit/s':>9}")
    for s in ours:
        row("cloud ours", s)
    for s in seed:
        row("cloud seed pipeline", s)
    for s in fast_before:
        row("cloud fast-before", s)
    for s in fast:
        row("cloud fast", s)
    for s in hyb:
        row("hybrid (Chromium)", s)
    for s in over:
        row(f"overload (cap {cap})", s)

    failed = []
    t = load.cloud_ratio_table(ours, seed)
    print("\nanswered frames per server CPU-second, per user count (both warmed up)")
    print(f"{'users':>6}{'ours':>10}{'seed':>10}{'ratio':>9}   {'processed: ours':>15}{'seed':>8}{'ratio':>8}"
          f"   admitted ours/seed   seed queued/dropped, drain s")
    seed_at = {s.users: s for s in seed}
    for r in t["rows"]:
        sm = seed_at[r["users"]].server_metrics
        print(f"{r['users']:>6}{_f(r['ours_answered_per_cpu_s']):>10}{_f(r['seed_answered_per_cpu_s']):>10}"
              f"{_f(r['ratio'], 'x'):>9}   {_f(r['ours_processed_per_cpu_s']):>15}{_f(r['seed_processed_per_cpu_s']):>8}"
              f"{_f(r['processed_ratio'], 'x'):>8}   {r['ours_admitted']}/{r['seed_admitted']:<18}"
              f"{sm.get('frames_queued')}/{sm.get('frames_dropped')}, {seed_at[r['users']].drain_s}")
    print(f"headline (minimum over counts): {_f(t['min_ratio'], 'x')} at {t['min_at_users']} user(s)   goal ≥ 8×"
          f"   (server-side processed frames per CPU-s, step + drain: minimum {_f(t['min_processed_ratio'], 'x')})")
    if not t["min_ratio"] or t["min_ratio"] < 8:
        failed.append("ratio")
    for s in ours:
        print(f"fps per user / p95 at {s.users} user(s): {s.fps_per_user:.1f} fps / {_f(s.rtt_p95_ms)} ms"
              f"   goal ≥ 10 fps / ≤ 250 ms")
    if hyb:
        h = hyb[0]
        c = load.hybrid_claim(hyb, ours)
        print(f"hybrid ÷ cloud server CPU per user-minute: {c['hybrid_server_cpu_s_per_user_min']:.5f} ÷ "
              f"{c['cloud_server_cpu_s_per_user_min']:.3f} = {100 * (c['ratio'] or 0):.3f}%   goal ≤ 1% "
              f"(download {h.setup_bytes_per_user / 1e6:.1f} MB/user)")
        print(f"hybrid {h.users} Chromium page(s), {h.answered} frames in the pages ({h.fps_per_user:.1f} fps/page): "
              f"client {_f(h.client_ms_per_frame)} ms/frame page main thread "
              f"(script {_f(h.client_script_ms_per_frame)}; whole Chromium {_f(h.client_proc_ms_per_frame)}) "
              f"vs server {_f(h.server_ms_per_frame)} ms/frame; cloud ours server "
              + ", ".join(f"{_f(s.server_ms_per_frame)} ms/frame at {s.users}u" for s in ours))
        if not c["holds"]:
            failed.append("hybrid")
    elif a.hybrid_pages:
        print(f"hybrid Chromium run SKIPPED: {hyb_skip}")
        failed.append("hybrid (skipped)")
    print_stages({"seed": seed, "ours": ours, "fast-before": fast_before, "fast": fast}, a.fps)
    if not a.no_cnn:
        print_cnn_runtimes(model)
    agree = None if a.no_agreement else print_agreement(model)
    v = load.overload_verdict(over[0], over[-1], cap) if over else None
    if v is None:
        print("overload run skipped (--factor 0)")
    else:
        print(f"overload {v['users']} users ({v['factor']:g}× cap {cap}): admitted {v['admitted']}, refused {v['refused']}, "
              f"errors {v['errors']}; fps {v['fps_per_user']:.1f} vs {v['baseline_fps_per_user']:.1f}, "
              f"p95 {_f(v['rtt_p95_ms'])} vs {_f(v['baseline_rtt_p95_ms'])} ms; healthz after: {v['server_up']} → "
              f"{'holds' if v['holds'] else 'FAILS: ' + ', '.join(k for k, ok in v['checks'].items() if not ok)}")
        if not v["holds"]:
            failed.append("overload")
    print(f"(total {time.time() - t0:.0f} s){'  FAILED: ' + ', '.join(failed) if failed else ''}")
    if a.out:
        from hybridlib.utils import write_json_atomic
        write_json_atomic(a.out, {**{k: [s.to_dict() for s in v] for k, v in
                                     {"ours": ours, "seed": seed, "fast_before": fast_before, "fast": fast,
                                      "hybrid": hyb,
                                      "overload": over}.items()},
                                  "cloud_ratio": t, "overload_verdict": v,
                                  "agreement": {k: x.to_dict() for k, x in (agree or {}).items()}})
    return 1 if failed else 0


#: the fast pipeline's first version: the overlay video returned (half size, every 3rd)
FAST_BEFORE = {"return_video": True, "video_every": 3, "video_half": True}


def run_fast_before(users, duration: float, kw: dict) -> list:
    """The fast pipeline with round 1's returned video, through the real server process (the
    options reach it in $HYBRIDLIB_CLOUD_OPTIONS; restored afterwards)."""
    import json

    from hybridlib.serving.cloud import ENV_VAR
    from hybridlib.study import load

    old = os.environ.get(ENV_VAR)
    os.environ[ENV_VAR] = json.dumps(FAST_BEFORE)
    try:
        return load.run_load("cloud", users, duration, pipeline="fast", **kw)
    finally:
        if old is None:
            os.environ.pop(ENV_VAR, None)
        else:
            os.environ[ENV_VAR] = old


def print_cnn_runtimes(model: str, calls: int = 400) -> None:
    """CPU-ms per classifier call (thread CPU time; batch sizes 1–4 in a fixed random order, as
    the worker sees them) for each runtime, and the largest |Δprob| against the Keras model."""
    import numpy as np
    import tensorflow as tf

    from hybridlib.models.networks import preprocess
    from hybridlib.serving import vision

    vision.single_threaded()
    clf = vision.Classifier.load(model)
    rng = np.random.default_rng(0)
    sizes = [int(v) for v in rng.choice([1, 2, 3, 4], calls)]
    xs = {n: preprocess(rng.integers(0, 256, (n, 48, 48), dtype=np.uint8)) for n in (1, 2, 3, 4)}
    content = clf._tflite_bytes(model.rsplit(".", 1)[0] + ".tflite")
    fixed = {}
    for b in (1, 2, 4):
        it = tf.lite.Interpreter(model_content=content, num_threads=1)
        i, o = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
        it.resize_tensor_input(i, (b, *clf.input_shape))
        it.allocate_tensors()
        fixed[b] = (it, i, o)

    def tfl_fixed(x):
        n = len(x)
        it, i, o = fixed[1 if n == 1 else 2 if n == 2 else 4]
        pad = np.zeros(it.get_input_details()[0]["shape"], np.float32)
        pad[:n] = x
        it.set_tensor(i, pad)
        it.invoke()
        return it.get_tensor(o)[:n].copy()

    runs = {"tflite (served)": vision._TFLiteRunner(content), "tflite fixed batches": tfl_fixed,
            "keras call": lambda x: clf.model(x, training=False).numpy(),
            "tf.function": lambda x: np.asarray(clf._fn(x))}
    print(f"\nCNN runtimes, {calls} calls of 1–4 faces (thread CPU-ms per call; tf.function's own pool "
          "threads are not in its thread's CPU, so its wall ms is shown too)")
    for name, f in runs.items():
        for n in (1, 4):
            f(xs[n])
        t, w = time.thread_time(), time.perf_counter()
        for n in sizes:
            f(xs[n])
        cpu, wall = ((time.thread_time() - t) * 1000 / calls, (time.perf_counter() - w) * 1000 / calls)
        d = max(float(np.abs(f(xs[n]) - clf.model(xs[n], training=False).numpy()).max()) for n in (1, 2, 3, 4))
        print(f"  {name:<22}{cpu:7.3f} CPU-ms  {wall:7.3f} wall-ms   max |Δprob| vs Keras {d:.1e}")


def users_per_core(steps, fps: int, min_fraction: float = 0.93, p95_ms: float = 250.0):
    """(users ÷ server cores used, users, fps, p95) at the largest count whose admitted users all
    got ≥ ``min_fraction`` × fps with p95 ≤ ``p95_ms``; None when no count holds."""
    ok = [s for s in steps if s.admitted == s.users and s.fps_per_user >= min_fraction * fps
          and s.rtt_p95_ms is not None and s.rtt_p95_ms <= p95_ms and s.cpu_pct > 0]
    if not ok:
        return None
    s = max(ok, key=lambda s: s.users)
    return s.users * 100.0 / s.cpu_pct, s.users, s.fps_per_user, s.rtt_p95_ms


def print_agreement(model: str) -> dict:
    """Same answers? The fast pipeline against today's, frame by frame on the test clips."""
    from hybridlib.serving import agreement, vision

    r = agreement.on_test_clips(vision.Classifier.load(model))
    print("\nfast vs ours on the test clips (640×480, each clip 60 frames looped twice; same classifier)")
    print(f"{'clip':<18}{'frames':>7}{'count ag.':>10}{'label ag.':>10}{'mean IoU':>9}{'min IoU':>8}"
          f"{'true-box label ours/fast':>26}{'searches ours/fast':>20}")
    for k, x in r.items():
        print(f"{k:<18}{x.frames:>7}{_f(x.count_agreement, '', 3):>10}{_f(x.label_agreement, '', 3):>10}"
              f"{_f(x.mean_iou, '', 3):>9}{_f(x.min_iou, '', 3):>8}"
              f"{_f(x.truth_label_ours, '', 3) + ' / ' + _f(x.truth_label_fast, '', 3):>26}"
              f"{f'{x.detections_ours} / {x.detections_fast}':>20}")
    return r


def _ms_per_processed(s) -> float | None:
    """Server CPU-ms per frame it processed, from the step's start until its sessions closed —
    the same span as the step's stage record (``/metrics`` before and after)."""
    return 1000 / s.processed_per_cpu_s if s.processed_per_cpu_s else None


def print_stages(series: dict, fps: int) -> None:
    """Per-stage CPU ms per frame at each pipeline's busiest step (most frames processed), and
    users per core."""
    from hybridlib.serving.stages import STAGES, stage_rows

    def frames(s):
        return (s.server_metrics.get("stages") or {}).get("results", {}).get("frames", 0)

    top = {k: max(v, key=frames) for k, v in series.items() if v}
    cols = list(top)
    print("\nserver CPU-ms per processed frame by stage (thread CPU time; each pipeline's step with the most "
          "frames: " + ", ".join(f"{k} {s.users}u" for k, s in top.items()) + ")")
    print(f"{'stage':<10}" + "".join(f"{c:>12}" for c in cols))
    table = {c: dict(stage_rows(top[c].server_metrics.get("stages") or {}, _ms_per_processed(top[c])))
             for c in cols}
    for st in (*STAGES, "other"):
        if any(st in table[c] for c in cols):
            print(f"{st:<10}" + "".join(f"{_f(table[c].get(st), '', 2):>12}" for c in cols))
    print(f"{'total':<10}" + "".join(f"{_f(_ms_per_processed(top[c]), '', 2):>12}" for c in cols)
          + "   (server process CPU per processed frame, same span)")
    print(f"\nusers per core at {fps} fps (≥ {0.93 * fps:.1f} fps/user) with p95 ≤ 250 ms   goal ≥ 20;"
          f" CPU-bound = 1000 ÷ ({fps} × total above)")
    base = cpu_base = None
    for k, steps in series.items():
        if not steps:
            continue
        ms = _ms_per_processed(top[k])
        cpu_bound = 1000 / (fps * ms) if ms else None
        cpu_base = cpu_bound if k == "ours" else cpu_base
        tail = (f"   CPU-bound {cpu_bound:5.1f} users/core" if cpu_bound else "   CPU-bound -")
        tail += f" ({cpu_bound / cpu_base:.2f}× ours)" if cpu_bound and cpu_base and k != "ours" else ""
        u = users_per_core(steps, fps)
        if u is None:
            print(f"  {k:<11} measured: no count holds" + tail)
            continue
        base = u[0] if k == "ours" else base
        print(f"  {k:<11} measured: {u[0]:5.1f} users/core (at {u[1]} users: {u[2]:.1f} fps, p95 {u[3]:.0f} ms)"
              + (f" {u[0] / base:.2f}× ours" if base and k != "ours" else "") + tail)


def _f(v, unit="", nd=1):
    if v is None:
        return "-"
    return f"{v:.{nd}f}{unit}"




if __name__ == "__main__":
    sys.exit(main())
