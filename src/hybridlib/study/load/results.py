"""What a load step measured: per-user results and the step summary (server CPU, bandwidth,
latency percentiles, frames processed per CPU second).
"""
from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from hybridlib.serving.stages import stage_delta
from hybridlib.utils import percentile

log = logging.getLogger(__name__)


@dataclass
class UserResult:
    """What one synthetic user saw (client side)."""

    admitted: bool
    status: int = 0
    error: str | None = None
    frames_sent: int = 0
    answered: int = 0
    video_frames: int = 0
    rtt_ms: list[float] = field(default_factory=list)
    bytes_sent: int = 0
    bytes_received: int = 0
    setup_bytes: int = 0  # hybrid: page + model download
    setup_s: float = 0.0
    t_start: float = 0.0  # wall clock (time.time) when streaming began
    t_end: float = 0.0
    faces_seen: int = 0
    last_message: dict | None = None
    server_error: str | None = None  # cloud: an {"error": …} message on ``results`` (session ended by the server)
    closed_by_server: bool = False  # cloud: the results channel closed before the user hung up
    # hybrid (Chromium page) users: what the client paid over the window
    client_task_s: float | None = None  # DevTools Performance.getMetrics TaskDuration, Δ
    client_script_s: float | None = None  # … ScriptDuration, Δ
    client_proc_cpu_s: float | None = None  # Chromium process tree CPU, Δ, this page's equal share


@dataclass
class StepResult:
    """One load step: N users for D seconds, the server measured over their common window."""

    mode: str
    pipeline: str
    users: int
    duration_s: float
    fps: int
    width: int
    height: int
    admitted: int
    refused: int
    errors: int
    window_s: float
    cpu_pct: float  # % of ONE core (100 = one core busy), server process + children
    cpu_pct_machine: float  # % of all logical CPUs, the seed's axis
    cpu_s_per_user_min: float
    bytes_in_per_s: float  # server receive rate (= what clients sent)
    bytes_out_per_s: float
    bytes_per_user_min: float  # in + out
    setup_bytes_per_user: float
    frames_sent: int
    answered: int
    dropped: int  # sent but never answered (client view)
    server_dropped: int  # stale frames the server skipped (server view, /metrics)
    fps_per_user: float  # answered frames per second per admitted user
    rtt_p50_ms: float | None
    rtt_p95_ms: float | None
    answered_per_cpu_s: float | None
    rss_mb: float
    faces_per_answer: float
    server_metrics: dict = field(default_factory=dict)
    # server CPU-ms per answered frame (cloud) or per frame the pages processed (hybrid)
    server_ms_per_frame: float | None = None
    # hybrid Chromium pages: the client's cost per frame it processed
    client_ms_per_frame: float | None = None  # page main-thread TaskDuration
    client_script_ms_per_frame: float | None = None  # … of which script (JS + wasm)
    client_proc_ms_per_frame: float | None = None  # whole Chromium process tree (psutil)
    server_up: bool | None = None  # /healthz answered right after the step
    drain_s: float | None = None  # how long the server kept sessions open after its users left
    # frames the server processed (``/metrics`` frames_out) per CPU-second, from the step's start
    # until its sessions closed: all its work and all its output, however late the answers came
    processed_per_cpu_s: float | None = None
    backend: str = "inprocess"  # cloud: where the CNN ran (``serve --backend``)
    server_startup_s: float | None = None  # spawn → /healthz 200 of this step's server process

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarize_step(mode: str, pipeline: str, users: int, duration_s: float, fps: int,
                   size: tuple[int, int], results: list[UserResult],
                   cpu_samples: list[tuple[float, float, float]],
                   metrics_before: dict, metrics_after: dict) -> StepResult:
    """Fold per-user results and server CPU samples ``(wall, cpu_s, rss_mb)`` into one step.

    The window is the span during which every admitted user was streaming, so connection
    setup and teardown do not dilute (or inflate) the steady-state numbers.
    """
    if len(results) != users:
        log.warning("%d of %d users returned no result", users - len(results), users)
    refused = sum(1 for r in results if not r.admitted and r.status == 503)
    # an admitted user whose stream never started (connection timed out) is an error too
    adm = [r for r in results if r.admitted and r.t_start > 0 and r.t_end > r.t_start]
    errors = users - len(adm) - refused
    if adm:
        w0 = max(r.t_start for r in adm)
        w1 = min(r.t_end for r in adm)
    else:
        w0 = min((s[0] for s in cpu_samples), default=0.0)
        w1 = max((s[0] for s in cpu_samples), default=0.0)
    if w1 - w0 < 0.5 and cpu_samples:  # users did not overlap long enough: whole sampled span
        w0, w1 = cpu_samples[0][0], cpu_samples[-1][0]
    cpu_s = _interp_delta(cpu_samples, w0, w1)
    window = max(w1 - w0, 1e-9)
    ncpu = os.cpu_count() or 1
    cpu_pct = 100.0 * cpu_s / window
    # rates over each user's own streaming span (bytes are counted per user, not per window)
    b_in = sum(r.bytes_sent / max(r.t_end - r.t_start, 1e-9) for r in adm)
    b_out = sum(r.bytes_received / max(r.t_end - r.t_start, 1e-9) for r in adm)
    sent = sum(r.frames_sent for r in adm)
    ans = sum(r.answered for r in adm)
    user_s = sum(max(r.t_end - r.t_start, 1e-9) for r in adm)
    rtts = [x for r in adm for x in r.rtt_ms]
    n_adm = max(len(adm), 1)
    rss = max((s[2] for s in cpu_samples), default=0.0)
    return StepResult(
        mode=mode, pipeline=pipeline, users=users, duration_s=duration_s, fps=fps,
        width=size[0], height=size[1], admitted=len(adm), refused=refused, errors=errors,
        window_s=round(window, 3), cpu_pct=round(cpu_pct, 2), cpu_pct_machine=round(cpu_pct / ncpu, 2),
        cpu_s_per_user_min=round(cpu_s / window * 60 / n_adm, 4) if adm else 0.0,
        bytes_in_per_s=round(b_in, 1), bytes_out_per_s=round(b_out, 1),
        bytes_per_user_min=round((b_in + b_out) * 60 / n_adm, 1) if adm else 0.0,
        setup_bytes_per_user=round(sum(r.setup_bytes for r in adm) / n_adm, 1),
        frames_sent=sent, answered=ans, dropped=max(0, sent - ans),
        server_dropped=int((metrics_after.get("frames_dropped") or 0) - (metrics_before.get("frames_dropped") or 0)),
        fps_per_user=round(ans / user_s, 3) if adm else 0.0,
        rtt_p50_ms=_round(percentile(rtts, 50)), rtt_p95_ms=_round(percentile(rtts, 95)),
        answered_per_cpu_s=round(ans * (window / max(user_s / n_adm, 1e-9)) / cpu_s, 3)
        if cpu_s > 0 and ans else None,
        rss_mb=round(rss, 1),
        faces_per_answer=round(sum(r.faces_seen for r in adm) / ans, 3) if ans else 0.0,
        server_metrics={k: metrics_after.get(k) for k in
                        ("sessions_total", "refused", "frames_in", "frames_out", "frames_dropped",
                         "frames_queued", "frames_lost", "backlog_max",
                         "inference_ms_p50", "inference_ms_p95", "bytes_in", "bytes_out")}
        | {"stages": stage_delta(metrics_before.get("stages"), metrics_after.get("stages"))},
        server_ms_per_frame=round(1000 * max(cpu_s, 0.0) * (user_s / n_adm) / window / ans, 3)
        if ans else None,
        client_ms_per_frame=_client_ms(adm, "client_task_s", ans),
        client_script_ms_per_frame=_client_ms(adm, "client_script_s", ans),
        client_proc_ms_per_frame=_client_ms(adm, "client_proc_cpu_s", ans),
    )


def frames_per_cpu_second(m0: dict, m1: dict, cpu_s: float) -> float | None:
    """Server-side frames out between two ``/metrics`` reads per CPU-second between them."""
    a, b = m0.get("frames_out"), m1.get("frames_out")
    if a is None or b is None or b <= a or cpu_s <= 0:
        return None
    return round((b - a) / cpu_s, 3)


def _client_ms(users: list[UserResult], attr: str, frames: int) -> float | None:
    """Σ of a client CPU figure (seconds) over users ÷ frames they processed, in ms."""
    vals = [getattr(r, attr) for r in users]
    if not frames or not vals or any(v is None for v in vals):
        return None
    return round(1000 * sum(vals) / frames, 3)


def _round(v: float | None, n: int = 2) -> float | None:
    return None if v is None else round(v, n)


def _interp_delta(samples: list[tuple[float, float, float]], t0: float, t1: float) -> float:
    """CPU-seconds spent between wall times t0 and t1, interpolated from cumulative samples."""
    if len(samples) < 2:
        return 0.0
    ts = np.array([s[0] for s in samples])
    cs = np.array([s[1] for s in samples])
    return float(np.interp(t1, ts, cs) - np.interp(t0, ts, cs))
