"""Cloud mode's model backends side by side in one run: in-process vs Ray Serve.

For each backend, one ``hybridlib serve --mode cloud --backend …`` process on loopback (the
ray one starts its own small local Ray — 2 CPUs, no dashboard — so the GCS, raylet, Serve
controller and replica processes are all the server's descendants and their CPU is counted with
the server's), a 1-user warm-up, then the same user counts. Prints per user count:

  * answered frames per server CPU-second (all processes), ray ÷ inprocess;
  * fps per user and p95 round trip;
  * the start-up cost: spawn → ``/healthz`` 200 (for ray: Ray + Serve + a replica loading TF).

    .venv/bin/python benchmarks/bench_ray.py [--users 1,2] [--duration 8] [--model PATH] [--out F.json]
                                             [--note TEXT]

``--out`` writes every step, the ratio table and the idle costs with their provenance (the
command, the date, the load average before and after, the git commit) and a checksum, atomically
(``hybridlib.study.load.capacity_record``); ``benchmarks/capacity.py`` turns a file with ≥ 3 user
counts per backend into docs/CAPACITY.md and refuses one edited by hand.
The load clients share the machine with the server: on a 2-core box they cap the user counts.
Exit status 1 when a backend's step has errors or a server did not stay up.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--users", default="1,2", help="user counts, for BOTH backends")
    p.add_argument("--duration", type=float, default=8.0)
    p.add_argument("--warmup", type=float, default=3.0, help="unmeasured 1-user warm-up per server, s")
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--size", default="640x480")
    p.add_argument("--model", default=None, help=".h5 (default: the smoke preset's trained model)")
    p.add_argument("--out", default=None, help="write all steps and the ratio table as JSON")
    p.add_argument("--idle", type=float, default=6.0,
                   help="then, per backend, a fresh server's CPU with no user for this long, by process (0: skip)")
    p.add_argument("--idle-only", action="store_true", help="only the idle measurement")
    p.add_argument("--note", default=None, help="recorded in the --out file as its 'note' (e.g. the box's state)")
    a = p.parse_args()
    load0 = os.getloadavg()

    from hybridlib import config
    from hybridlib.models import artifacts
    from hybridlib.study import load

    users = load.parse_users(a.users)
    size = load.parse_size(a.size)
    model = a.model or str(artifacts.ensure_model(config.context("smoke")))
    kw = dict(fps=a.fps, size=size, model_path=model, progress=False, warmup_s=a.warmup, pipeline="ours")
    t0 = time.time()
    idle = {}
    if a.idle_only:
        idle = {b: idle_cost(b, model, a.idle) for b in ("inprocess", "ray")}
        _print_idle(idle)
        if a.out:
            _write(a.out, load0, a.note, {"idle": idle})
        return 0
    runs = {b: load.run_load("cloud", users, a.duration, backend=b, **kw) for b in ("inprocess", "ray")}
    table = ratio_table(runs["inprocess"], runs["ray"])
    if a.idle > 0:
        idle = {b: idle_cost(b, model, a.idle) for b in ("inprocess", "ray")}

    print(f"\n{size[0]}x{size[1]} @ {a.fps} fps, {a.duration:g} s per step after {a.warmup:g} s warm-up, "
          f"{os.cpu_count()} CPUs (clients share them), model {os.path.basename(model)}")
    print(f"{'backend':<11}{'users':>6}{'admit':>7}{'err':>5}{'cpu%1c':>8}{'fps/u':>7}{'p50ms':>8}{'p95ms':>8}"
          f"{'ans/cpu-s':>11}{'start s':>9}")
    for b, steps in runs.items():
        for s in steps:
            print(f"{b:<11}{s.users:>6}{s.admitted:>7}{s.errors:>5}{s.cpu_pct:>8.1f}{s.fps_per_user:>7.2f}"
                  f"{_f(s.rtt_p50_ms):>8}{_f(s.rtt_p95_ms):>8}{_f(s.answered_per_cpu_s):>11}"
                  f"{_f(s.server_startup_s):>9}")
    print("\nanswered frames per server CPU-second (Ray processes included), ray ÷ inprocess")
    print(f"{'users':>6}{'inprocess':>11}{'ray':>9}{'ratio':>8}{'p95 in':>9}{'p95 ray':>9}")
    for r in table["rows"]:
        print(f"{r['users']:>6}{_f(r['inprocess_answered_per_cpu_s']):>11}{_f(r['ray_answered_per_cpu_s']):>9}"
              f"{_f(r['ratio'], 'x', 2):>8}{_f(r['inprocess_p95_ms']):>9}{_f(r['ray_p95_ms']):>9}")
    print(f"start-up (spawn → /healthz): inprocess {_f(table['startup_s']['inprocess'])} s, "
          f"ray {_f(table['startup_s']['ray'])} s")
    _print_idle(idle)
    failed = [f"{b} {s.users}u" for b, steps in runs.items() for s in steps if s.errors or not s.server_up]
    print(f"(total {time.time() - t0:.0f} s){'  FAILED: ' + ', '.join(failed) if failed else ''}")
    if a.out:
        _write(a.out, load0, a.note, {**{b: [s.to_dict() for s in steps] for b, steps in runs.items()},
                                      "ratio": table, "idle": idle})
    return 1 if failed else 0


def _write(path: str, load0: tuple, note: str | None, body: dict) -> None:
    """The --out file: the measurement with its provenance and checksum, checked and written atomically."""
    from hybridlib.study.load.capacity_record import provenance, write_measurement

    rec = {"command": shlex.join(["benchmarks/bench_ray.py", *sys.argv[1:]]), "cpus": os.cpu_count(), **body,
           "provenance": provenance(load0)}
    if note:
        rec["note"] = note
    rec = write_measurement(path, rec)
    print(f"wrote {path}" + (f" (flags: {'; '.join(rec['flags'])})" if rec["flags"] else ""))


def idle_cost(backend: str, model: str, seconds: float) -> dict:
    """A fresh server with no user: CPU (% of one core) over ``seconds``, per process name —
    what a backend costs before the first frame (for ray: GCS, raylet, agents, controller, replica)."""
    import psutil

    from hybridlib.study import load

    def snap(pid: int) -> dict[int, tuple[str, float]]:
        out = {}
        root = psutil.Process(pid)
        for q in [root] + root.children(recursive=True):
            try:
                c = q.cpu_times()
                out[q.pid] = (q.name(), c.user + c.system)
            except psutil.Error:
                pass
        return out

    with load.server("cloud", model, 1, "ours", backend=backend, startup_timeout_s=300) as srv:
        time.sleep(2.0)  # let start-up work settle
        s0, t0 = snap(srv.proc.pid), time.perf_counter()
        time.sleep(seconds)
        s1, t1 = snap(srv.proc.pid), time.perf_counter()
    by_name: dict[str, float] = {}
    for pid, (name, c) in s1.items():
        by_name[name] = by_name.get(name, 0.0) + c - s0.get(pid, (name, 0.0))[1]
    wall = t1 - t0
    return {"startup_s": srv.startup_s, "processes": len(s1),
            "cpu_pct": round(100 * sum(by_name.values()) / wall, 1),
            "by_process_pct": {k: round(100 * v / wall, 1) for k, v in sorted(by_name.items(), key=lambda kv: -kv[1])}}


def _print_idle(idle: dict) -> None:
    for b, d in idle.items():
        top = ", ".join(f"{k} {v}" for k, v in list(d["by_process_pct"].items())[:6])
        print(f"idle {b}: {d['cpu_pct']}% of a core in {d['processes']} processes (start-up {d['startup_s']} s): {top}")


def ratio_table(inproc, ray) -> dict:
    """Per user count measured by both: answered frames per CPU-second and p95, ray ÷ inprocess."""
    at = {s.users: s for s in ray}
    rows = []
    for s in inproc:
        r = at.get(s.users)
        if r is None:
            continue
        a, b = s.answered_per_cpu_s, r.answered_per_cpu_s
        rows.append({"users": s.users, "inprocess_answered_per_cpu_s": a, "ray_answered_per_cpu_s": b,
                     "ratio": round(b / a, 3) if a and b is not None else None,
                     "inprocess_p95_ms": s.rtt_p95_ms, "ray_p95_ms": r.rtt_p95_ms,
                     "inprocess_fps_per_user": s.fps_per_user, "ray_fps_per_user": r.fps_per_user})
    return {"rows": rows, "startup_s": {"inprocess": inproc[0].server_startup_s if inproc else None,
                                        "ray": ray[0].server_startup_s if ray else None}}


def _f(v, unit="", nd=1):
    return "-" if v is None else f"{v:.{nd}f}{unit}"


if __name__ == "__main__":
    sys.exit(main())
