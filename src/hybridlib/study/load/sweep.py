"""One load run: a sweep of user counts against one server, input parsing, the saturation point.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from hybridlib.study.load.limits import MAX_DURATION_S, check_args
from hybridlib.study.load.results import StepResult, frames_per_cpu_second, summarize_step
from hybridlib.study.load.server_process import server
from hybridlib.study.load.users import run_browser_users, run_users
from hybridlib.utils import InputError

log = logging.getLogger(__name__)


def parse_users(text: str) -> list[int]:
    """``"1,2,4"`` or ``"1-5"`` → a list of user counts (validated)."""
    out: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                a, b = (int(x) for x in part.split("-", 1))
                out += list(range(a, b + 1))
            elif part:
                out.append(int(part))
    except ValueError:
        raise InputError(f"--users {text!r}: give counts like 1,2,4 or 1-5") from None
    check_args("cloud", out, 1, 15, (640, 480))
    return out


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if not m:
        raise InputError(f"--size {text!r}: give WIDTHxHEIGHT, e.g. 640x480")
    size = (int(m.group(1)), int(m.group(2)))
    check_args("cloud", [1], 1, 15, size)
    return size


def run_load(mode: str, users: Sequence[int], duration_s: float, fps: int = 15,
             size: tuple[int, int] = (640, 480), pipeline: str = "ours",
             model_path: str | Path | None = None, max_sessions: int | None = None,
             models_dir: str | Path | None = None, settle_s: float = 1.0,
             progress: bool = True, log_path: str | Path | None = None,
             browser: bool = False, warmup_s: float = 0.0, backend: str = "inprocess",
             ray_address: str | None = None, users_ray_address: str | None = None,
             end_sessions: bool = True) -> list[StepResult]:
    """One server process, one step per entry of ``users``; returns a :class:`StepResult` each.

    ``max_sessions`` defaults to the largest step (nobody refused); pass a smaller cap to
    measure admission control. ``browser`` (hybrid only): users are real Chromium pages.
    ``warmup_s`` (cloud): one unmeasured user streams this long first, so one-off costs
    (codec set-up, the first inference calls, tracing) land outside every measured step.
    ``backend`` (cloud): ``"ray"`` puts the CNN in a Ray Serve deployment; with no
    ``ray_address`` the server starts its own local Ray, whose processes are the server's
    descendants, so the CPU measured includes every Ray process. ``users_ray_address``: the
    load users run as Ray tasks on that cluster (``"local"``: a small local one) instead of local
    processes (:func:`run_users`). ``end_sessions`` (seed pipeline): once a step's users have
    all hung up, signal the server to drop its queued frames (:meth:`ServerProcess.end_sessions`)
    rather than wait while it works them off for nobody; ``False`` keeps that drain (its length
    is ``drain_s`` either way).
    """
    if browser and mode != "hybrid":
        raise InputError("browser users exist for hybrid mode only")
    check_args(mode, users, duration_s, fps, size)
    if mode == "cloud" and model_path is None:
        raise InputError("cloud mode load needs a model file (model_path)")
    cap = max_sessions or max(users)
    steps: list[StepResult] = []

    with server(mode, model_path, cap, pipeline, models_dir, log_path=log_path, backend=backend,
                ray_address=ray_address, startup_timeout_s=300.0 if backend == "ray" else 120.0) as srv:
        if warmup_s > 0 and mode == "cloud":
            w = run_users(mode, srv.url, 1, min(warmup_s, MAX_DURATION_S), fps, size)
            log.info("warm-up (%s): %d frames answered, not measured", pipeline, sum(r.answered for r in w))
            srv.wait_idle()  # its session must be gone before a capped server's first step
            time.sleep(settle_s)
        for n in tqdm(list(users), desc=f"load {mode}/{pipeline}", disable=not progress):
            m0 = srv.metrics()
            samples = [srv.cpu_sample()]
            stop = [False]

            def sampler() -> None:
                while not stop[0]:
                    time.sleep(0.25)
                    samples.append(srv.cpu_sample())

            th = threading.Thread(target=sampler, daemon=True)
            th.start()
            try:
                results = (run_browser_users(srv.url, n, duration_s, fps, size) if browser
                           else run_users(mode, srv.url, n, duration_s, fps, size, ray_address=users_ray_address))
            finally:
                stop[0] = True
                th.join()
            samples.append(srv.cpu_sample())
            if mode == "cloud" and pipeline == "seed" and end_sessions:
                srv.end_sessions()  # its users have left: drop the backlog, do not work it off
            drain_s = srv.wait_idle()  # the seed's queued frames are counted when sessions close
            c_end = srv.cpu_sample()
            m1 = srv.metrics()
            st = summarize_step(mode, "chromium" if browser else pipeline, n, duration_s, fps, size,
                                results, samples, m0, m1)
            st.server_up = srv.healthz()
            st.drain_s = round(drain_s, 2)
            st.processed_per_cpu_s = frames_per_cpu_second(m0, m1, c_end[1] - samples[0][1])
            st.backend, st.server_startup_s = backend, srv.startup_s
            log.info("step %s/%s %d users: cpu %.0f%% answered %d rtt p95 %s", mode, pipeline, n,
                     st.cpu_pct, st.answered, st.rtt_p95_ms)
            steps.append(st)
            if srv.proc.poll() is not None:
                log.warning("server died during the %d-user step", n)
                break
            if n != list(users)[-1]:
                time.sleep(settle_s)  # let closed sessions drain before the next step
    return steps


def saturation_point(steps: Sequence[StepResult | dict], fps: int | None = None,
                     min_fraction: float = 0.8, p95_limit_ms: float = 250.0) -> int | None:
    """Largest user count whose admitted users all still got ≥ ``min_fraction`` of the frame
    rate with p95 round trip ≤ ``p95_limit_ms`` (None if even the smallest step failed)."""
    best = None
    for s in steps:
        d = s.to_dict() if hasattr(s, "to_dict") else dict(s)
        target = (fps or d["fps"]) * min_fraction
        ok = (d["admitted"] == d["users"] and d["fps_per_user"] >= target
              and d["rtt_p95_ms"] is not None and d["rtt_p95_ms"] <= p95_limit_ms)
        if d["mode"] == "hybrid":
            ok = d["admitted"] == d["users"]
        if ok:
            best = max(best or 0, d["users"])
    return best
