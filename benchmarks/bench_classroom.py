"""A classroom on one laptop: 30 phones join within 10 s over one shared, shaped Wi-Fi link.

    .venv/bin/python benchmarks/bench_classroom.py [--phones 30] [--pages 2] [--window 10]
        [--mbps 50] [--rtt 20] [--variant uint8] [--modes hybrid,cloud] [--max-sessions 4]
        [--compare] [--out reports/classroom.json]

hybrid: the real ``hybridlib serve --mode hybrid`` (reference model when it builds) behind a
shaping proxy (``study.classroom.link``: one medium of ``--mbps`` shared by both directions and
all phones, ``--rtt`` round trip); ``--pages`` real Chromium pages at DevTools CPU ×4 and
lightweight clients for the rest join at seeded random times within ``--window`` s. Prints each
phone's time from joining to its first prediction (pages: measured by the page; lightweight:
measured download + the pages' median compute tail), the bytes per phone, the server's CPU.
``--compare`` runs the room a second time the old way — pages with ``?eager=0`` (serial
start-up), lightweight clients refusing gzip — and prints the ratios.

cloud: ``hybridlib serve --mode cloud --max-sessions N`` and 30 aiortc phones streaming 640×480 at
15 fps, joining within the window: how many get 15 fps at p95 ≤ 250 ms, what the rest get.
Every number comes from one run on this machine; the load average is printed with it.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hybridlib import browser
from hybridlib.serving import media
from hybridlib.study import classroom
from hybridlib.utils import write_json_atomic

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_browser import _app_model


def _fmt(s: dict | None) -> str:
    if not s or not s.get("n"):
        return "–"
    return f"p50 {s['p50']:.2f} s · p95 {s['p95']:.2f} s · max {s['max']:.2f} s (n={s['n']})"


def print_hybrid(label: str, r: dict) -> None:
    s = r["summary"]
    fp = s["first_prediction_s"]
    print(f"## hybrid, {label}: {s['phones']} phones in {s['window_s']:g} s over {s['link']['mbps']:g} Mbit/s shared,"
          f" RTT {s['link']['rtt_ms']:g} ms · {s['variant']} · load average {s['load_average'][0]} → {s['load_average'][1]}")
    print(f"  first prediction after joining, all : {_fmt(fp['all'])}")
    print(f"                       real pages ×4 : {_fmt(fp['pages'])}  wasm {s['page_wasm']}")
    print(f"                lightweight clients  : {_fmt(fp['light'])}  (download + pages' compute tail"
          f" {s['compute_tail_s']} s)")
    print(f"  download after joining             : {_fmt(s['download_s'])}")
    print(f"  bytes per phone {s['bytes_per_phone'] / 1e6:.2f} MB · link carried {s['link']['bytes_down'] / 1e6:.1f} MB down,"
          f" busy {s['link']['busy_s']:.1f} of {s['link']['elapsed_s']:.1f} s · failed {s['failed']}"
          + (f" · pages error: {s['pages_error']}" if s.get("pages_error") else ""))
    sv = s["server"]
    print(f"  server CPU: {sv['cpu_s']} CPU-s over {sv.get('window_s')} s, mean {sv['mean_pct']}% of a core,"
          f" peak {sv['peak_pct']}% (0.5 s windows)", flush=True)


def print_cloud(r: dict) -> None:
    s = r["summary"]
    print(f"## cloud: {s['phones']} phones ask within {s['window_s']:g} s, 640×480 at {s['fps_target']} fps,"
          f" --max-sessions {s['max_sessions']} · load average {s['load_average'][0]} → {s['load_average'][1]}")
    print(f"  admitted {s['admitted']}, at {s['fps_target']} fps with p95 ≤ {s['slo_p95_ms']:g} ms: {s['full_speed']};"
          f" refused 503: {s['refused_503']}; other errors: {s['other_errors']}")
    print(f"  admitted: answered fps {s['admitted_fps']} of sent fps {s['admitted_sent_fps']} (a phone that"
          f" sends < {s['fps_target']} is held back by the load generator's CPU, not the server)")
    print(f"  p95 ms {s['admitted_p95_ms']} · uplink per stream"
          f" {s['uplink_mbps_per_stream']} Mbit/s")
    print(f"  the rest were told: {s['refusal_message']!r}")
    sv = s["server"]
    print(f"  server CPU: mean {sv['mean_pct']}% of a core, peak {sv['peak_pct']}%", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--phones", type=int, default=30)
    ap.add_argument("--pages", type=int, default=2, help="real Chromium pages among the phones")
    ap.add_argument("--window", type=float, default=10.0, help="seconds within which all phones join")
    ap.add_argument("--mbps", type=float, default=50.0, help="the shared link's total rate")
    ap.add_argument("--rtt", type=float, default=20.0, help="the link's round trip, ms")
    ap.add_argument("--variant", default="uint8")
    ap.add_argument("--modes", default="hybrid,cloud")
    ap.add_argument("--max-sessions", type=int, default=4)
    ap.add_argument("--stream", type=float, default=20.0, help="cloud: seconds from the first join to hang-up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare", action="store_true", help="hybrid: also the old start-up without gzip")
    ap.add_argument("--out", help="write every record as JSON here")
    args = ap.parse_args(argv)
    modes = args.modes.split(",")
    out: dict = {"args": vars(args), "chromium": browser.chromium_version(), "cores": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="bench-classroom-") as td:
        h5, tfjs, name = _app_model(Path(td))
        print(f"# {out['chromium']} · {name} · {os.cpu_count()} cores · seed {args.seed}")
        if "hybrid" in modes:
            clip = media.make_y4m("astronaut", Path(td) / "astronaut.y4m", n_frames=30, fps=15, jitter=6.0)
            kw = {"phones": args.phones, "pages": args.pages, "window_s": args.window, "mbps": args.mbps,
                  "rtt_ms": args.rtt, "variant": args.variant, "seed": args.seed}
            runs = [("now (eager start-up, gzip)", {})]
            if args.compare:
                runs.append(("before (serial start-up, no gzip for lightweight clients)",
                             {"query": "eager=0", "identity": True}))
            res = {}
            for label, extra in runs:
                res[label] = classroom.hybrid_room(h5, tfjs, clip, **kw, **extra)
                print_hybrid(label, res[label])
            if len(res) == 2:
                a, b = res.values()
                pa, pb = a["summary"]["first_prediction_s"]["all"], b["summary"]["first_prediction_s"]["all"]
                if pa["n"] and pb["n"]:
                    print(f"  before ÷ now: first prediction p50 {pb['p50'] / pa['p50']:.2f}×, p95"
                          f" {pb['p95'] / pa['p95']:.2f}× · bytes per phone"
                          f" {b['summary']['bytes_per_phone'] / max(a['summary']['bytes_per_phone'], 1):.2f}×")
            out["hybrid"] = res
        if "cloud" in modes:
            out["cloud"] = classroom.cloud_room(h5, phones=args.phones, window_s=args.window, stream_s=args.stream,
                                                max_sessions=args.max_sessions, seed=args.seed)
            print_cloud(out["cloud"])
    if args.out:
        write_json_atomic(args.out, out)
        print(f"# records: {args.out}")
    print("# phones join at seeded uniform random times; first prediction counted from each phone's join;"
          " the link is modelled (one FIFO medium, no losses), the server and pages are real")
    return 0


if __name__ == "__main__":
    sys.exit(main())
