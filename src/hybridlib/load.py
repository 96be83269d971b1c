"""Load generator: synthetic users against a real server process, on loopback only.

Why real parts: seed 000's load curve (CPU 40% at 1 user → 82% at 5, crash at 6) is about what
a WebRTC server spends per user — decoding, detecting, classifying, encoding, SRTP — so the users
here are real aiortc peers streaming a real face clip (webcam size and rate), spread over worker
processes, against ``hybridlib serve`` started as its own process so its CPU can be measured
alone (psutil, children included). Hybrid users in the study are real Chromium pages running
the app (camera → face detection → CNN in the page) for the whole step: the server's cost after
the download is what is left, and the client's cost per frame (DevTools ``Performance`` metrics)
is the other half of the seed's argument. (``hybrid_user`` — download over HTTP, then idle — is
kept for the CLI's cheap many-user check of the download cost.)

Every run is bounded (users ≤ :data:`MAX_USERS`, duration ≤ :data:`MAX_DURATION_S`) and the
target is always 127.0.0.1.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from .cloud import dtls_bytes
from .utils import InputError

log = logging.getLogger(__name__)

MODES = ("cloud", "hybrid")
HOST = "127.0.0.1"
MAX_USERS = 64
MAX_DURATION_S = 300.0
USERS_PER_WORKER = 4
VIDEO_CLOCK = 90_000


# --------------------------------------------------------------------------------------------
# results


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _pct(v: Sequence[float], q: float) -> float | None:
    return float(np.percentile(v, q)) if len(v) else None


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
        rtt_p50_ms=_round(_pct(rtts, 50)), rtt_p95_ms=_round(_pct(rtts, 95)),
        answered_per_cpu_s=round(ans * (window / max(user_s / n_adm, 1e-9)) / cpu_s, 3)
        if cpu_s > 0 and ans else None,
        rss_mb=round(rss, 1),
        faces_per_answer=round(sum(r.faces_seen for r in adm) / ans, 3) if ans else 0.0,
        server_metrics={k: metrics_after.get(k) for k in
                        ("sessions_total", "refused", "frames_in", "frames_out", "frames_dropped",
                         "frames_queued", "frames_lost", "backlog_max",
                         "inference_ms_p50", "inference_ms_p95", "bytes_in", "bytes_out")},
        server_ms_per_frame=round(1000 * max(cpu_s, 0.0) * (user_s / n_adm) / window / ans, 3)
        if ans else None,
        client_ms_per_frame=_client_ms(adm, "client_task_s", ans),
        client_script_ms_per_frame=_client_ms(adm, "client_script_s", ans),
        client_proc_ms_per_frame=_client_ms(adm, "client_proc_cpu_s", ans),
    )


def _processed_per_cpu_s(m0: dict, m1: dict, cpu_s: float) -> float | None:
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


# --------------------------------------------------------------------------------------------
# the clip and the cloud user (an aiortc peer)


def make_clip(size: tuple[int, int] = (640, 480), n_frames: int = 30) -> list[np.ndarray]:
    """BGR frames of a real face photo drifting a little (``hybridlib.media``)."""
    from . import media

    return media.face_clip("astronaut", size=tuple(size), n_frames=n_frames)


def _clip_track(frames: list[np.ndarray], fps: int, sent: dict[int, float]) -> Any:
    from aiortc import VideoStreamTrack
    import av

    class ClipTrack(VideoStreamTrack):
        """Loops the clip at ``fps``; remembers when frame k left (for the round trip)."""

        def __init__(self) -> None:
            super().__init__()
            self.k = -1
            self.vframes = [av.VideoFrame.from_ndarray(f, format="bgr24") for f in frames]
            self.t0: float | None = None

        async def recv(self) -> Any:
            self.k += 1
            if self.t0 is None:
                self.t0 = time.perf_counter()
            else:
                wait = self.t0 + self.k / fps - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
            f = self.vframes[self.k % len(self.vframes)]
            f.pts, f.time_base = self.k * (VIDEO_CLOCK // fps), Fraction(1, VIDEO_CLOCK)
            sent[self.k] = time.perf_counter()
            return f

    return ClipTrack()


async def cloud_user(url: str, frames: list[np.ndarray], fps: int, duration_s: float,
                     keep_video_frame: bool = False, connect_timeout_s: float = 20.0) -> UserResult:
    """One cloud-mode user: offer, stream the clip for ``duration_s``, collect the answers.

    Round trip = time from frame k leaving the clip track to its results message arriving;
    the server reports each frame's RTP time (``pts``, 90 kHz from the first frame), so k is
    ``pts / (90000 / fps)``.
    """
    import aiohttp
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamError

    res = UserResult(admitted=False)
    sent: dict[int, float] = {}
    step = VIDEO_CLOCK // fps
    pc = RTCPeerConnection()
    track = _clip_track(frames, fps, sent)
    pc.addTrack(track)
    channel = pc.createDataChannel("results")
    opened = asyncio.Event()
    got_video = asyncio.Event()
    kept: dict[str, Any] = {}

    @channel.on("open")
    def _open() -> None:
        opened.set()

    @channel.on("message")
    def _msg(m: Any) -> None:
        now = time.perf_counter()
        try:
            d = json.loads(m)
        except (TypeError, ValueError):
            return
        if "faces" not in d:
            return
        res.answered += 1
        res.faces_seen += len(d.get("faces") or [])
        res.last_message = d
        pts = d.get("pts")
        if pts is not None:
            t = sent.get(int(round(pts / step)))
            if t is not None and now >= t:
                res.rtt_ms.append((now - t) * 1000)

    async def drain(tr: Any) -> None:
        while True:
            try:
                f = await tr.recv()
            except MediaStreamError:
                return
            res.video_frames += 1
            if keep_video_frame and res.video_frames >= 3 and "frame" not in kept:
                kept["frame"] = f.to_ndarray(format="bgr24")
                got_video.set()

    tasks: list[asyncio.Task] = []

    @pc.on("track")
    def _track(tr: Any) -> None:
        if tr.kind == "video":
            tasks.append(asyncio.ensure_future(drain(tr)))

    try:
        await pc.setLocalDescription(await pc.createOffer())
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{url}/offer", json={"sdp": pc.localDescription.sdp,
                                                       "type": pc.localDescription.type}) as r:
                res.status = r.status
                body = await r.json(content_type=None)
        if res.status != 200:
            res.error = body.get("error") if isinstance(body, dict) else str(body)
            return res
        res.admitted = True
        await pc.setRemoteDescription(RTCSessionDescription(sdp=body["sdp"], type=body["type"]))
        await asyncio.wait_for(opened.wait(), connect_timeout_s)
        res.t_start = time.time()
        rx0, tx0 = dtls_bytes(pc)
        k0 = len(sent)
        await asyncio.sleep(duration_s)
        res.t_end = time.time()
        rx1, tx1 = dtls_bytes(pc)
        res.bytes_sent, res.bytes_received = tx1 - tx0, rx1 - rx0
        res.frames_sent = len(sent) - k0
        if keep_video_frame:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(got_video.wait(), 5)
            res.last_message = {**(res.last_message or {}), "_video_frame": kept.get("frame")}
        # answers for frames sent before streaming "began" count towards the window's total;
        # keep answered ≤ sent so the drop count stays meaningful
        res.answered = min(res.answered, res.frames_sent) if res.frames_sent else res.answered
    except Exception as e:  # a user that fails is a result, not a crash of the run
        res.error = f"{type(e).__name__}: {e}"
        log.warning("cloud user failed: %s", res.error)
    finally:
        for t in tasks:
            t.cancel()
        await pc.close()
    return res


# --------------------------------------------------------------------------------------------
# the hybrid user (HTTP fetches; the page then runs locally)


_SRC_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"'#?]+)""")


async def hybrid_user(url: str, duration_s: float, variant: str | None = None) -> UserResult:
    """One hybrid-mode user: fetch the page, its scripts, /config and the model, then idle.

    After the download the browser app infers locally and never calls the server again; the
    idle span is where the server's per-user cost (≈ nothing) is measured.
    """
    import aiohttp

    res = UserResult(admitted=False)
    t0 = time.perf_counter()
    nbytes = 0

    async def get(http: Any, path: str) -> bytes:
        nonlocal nbytes
        async with http.get(f"{url}{path}") as r:
            body = await r.read()
            nbytes += len(body) + sum(len(k) + len(v) + 4 for k, v in r.raw_headers) + 20
            nbytes += len(path) + 80  # the request line and headers, roughly
            if r.status >= 400:
                raise RuntimeError(f"GET {path} → {r.status}")
            res.status = r.status
            return body

    try:
        async with aiohttp.ClientSession() as http:
            page = (await get(http, "/")).decode("utf-8", "replace")
            for ref in _SRC_RE.findall(page):
                if ref.startswith(("http:", "https:", "//", "data:")):
                    continue
                await get(http, ref if ref.startswith("/") else "/" + ref)
            cfg = json.loads(await get(http, "/config"))
            base = _model_base(cfg, variant)
            manifest = json.loads(await get(http, f"{base}/model.json"))
            for group in manifest.get("weightsManifest", []):
                for p in group.get("paths", []):
                    await get(http, f"{base}/{p}")
        res.admitted = True
        res.setup_bytes = nbytes
        res.setup_s = time.perf_counter() - t0
        res.t_start = time.time()
        await asyncio.sleep(duration_s)  # inference happens in the user's browser now
        res.t_end = time.time()
    except Exception as e:
        res.error = f"{type(e).__name__}: {e}"
        log.warning("hybrid user failed: %s", res.error)
    return res


def _model_base(cfg: dict, variant: str | None) -> str:
    """Where the page would load its model from, read from ``/config`` (served by ``serve``)."""
    for key in ("model_url", "model"):
        v = cfg.get(key)
        if isinstance(v, str) and v.endswith("model.json"):
            return v.rsplit("/", 1)[0]
    variants = cfg.get("variants") or cfg.get("models") or []
    if isinstance(variants, dict):
        variants = list(variants)
    v = variant or cfg.get("default_variant") or cfg.get("variant") or (variants[0] if variants else "fp32")
    if isinstance(v, dict):
        v = v.get("name", "fp32")
    return f"/model/{v}"


# --------------------------------------------------------------------------------------------
# hybrid users as real Chromium pages (small N)

_PAGE_STATE = """() => ({frames: hlState.frames, error: hlState.error, backend: hlState.backend,
  bytes: performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize || 0), 0)
         + ((performance.getEntriesByType('navigation')[0] || {}).transferSize || 0)})"""


def _tree_cpu_s() -> float:
    """CPU-seconds so far of this process's children (Playwright's driver and Chromium)."""
    import psutil

    total = 0.0
    for q in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            c = q.cpu_times()
            total += c.user + c.system
    return total


def _browser_worker(url: str, n: int, duration_s: float, size: tuple[int, int], fps: int,
                    timeout_s: float = 180.0) -> list[dict]:
    """Runs in a worker process (Playwright's sync API cannot run inside a notebook's loop):
    ``n`` pages of the hybrid app in one headless Chromium, fake camera playing the face clip.

    The pages run the app (detect + classify every camera frame) for the whole window; what
    each costs the client is read twice, at the window's ends: the page's main-thread time
    from the DevTools protocol (``Performance.getMetrics``) and, for the browser as a whole,
    the CPU time of the Chromium process tree (shared equally among the pages).
    """
    import tempfile

    from . import browser, media

    logging.basicConfig(level=logging.WARNING)
    out: list[UserResult] = []
    with tempfile.TemporaryDirectory() as tmp:
        clip = media.make_y4m("astronaut", Path(tmp) / "clip.y4m", size=tuple(size), n_frames=2 * fps, fps=fps)
        with browser.launch(fake_video=clip) as ctx:
            t0 = time.perf_counter()
            pages, extra = [], []
            for i in range(n):
                # one context per user: no shared HTTP cache, each downloads page and model itself
                c = ctx if i == 0 else ctx.browser.new_context()
                if i:
                    extra.append(c)
                pg = c.new_page()
                pg.goto(f"{url}/")
                pages.append(pg)
            for pg in pages:
                pg.wait_for_function("() => window.hlState && (hlState.frames >= 3 || hlState.error)",
                                     timeout=timeout_s * 1000)
            setup_s = time.perf_counter() - t0
            sessions = [browser.page_metrics(pg)[1] for pg in pages]
            m0 = [browser.page_metrics(pg, cdp)[0] for pg, cdp in zip(pages, sessions)]
            before = [pg.evaluate(_PAGE_STATE) for pg in pages]
            cpu0 = _tree_cpu_s()
            t_start = time.time()
            time.sleep(duration_s)  # the pages detect and classify locally meanwhile
            t_end = time.time()
            cpu1 = _tree_cpu_s()
            after = [pg.evaluate(_PAGE_STATE) for pg in pages]
            m1 = [browser.page_metrics(pg, cdp)[0] for pg, cdp in zip(pages, sessions)]
            for b, st, a, z in zip(before, after, m0, m1):
                frames = int(st["frames"]) - int(b["frames"])
                out.append(UserResult(admitted=st["error"] is None, status=200, error=st["error"],
                                      frames_sent=frames, answered=frames, setup_bytes=int(b["bytes"]),
                                      setup_s=setup_s, t_start=t_start, t_end=t_end,
                                      bytes_sent=0, bytes_received=max(0, int(st["bytes"]) - int(b["bytes"])),
                                      client_task_s=z.get("TaskDuration", 0.0) - a.get("TaskDuration", 0.0),
                                      client_script_s=z.get("ScriptDuration", 0.0) - a.get("ScriptDuration", 0.0),
                                      client_proc_cpu_s=(cpu1 - cpu0) / n))
            for c in extra:
                c.close()
    return [asdict(r) for r in out]


def run_browser_users(url: str, users: int, duration_s: float, fps: int = 15,
                      size: tuple[int, int] = (640, 480)) -> list[UserResult]:
    """Hybrid users as real Chromium pages (blocking; one worker process)."""
    _check("hybrid", [users], duration_s, fps, size)
    _check_url(url)
    import multiprocessing as mp

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return [UserResult(**d) for d in
                ex.submit(_browser_worker, url, users, duration_s, tuple(size), fps).result(timeout=duration_s + 400)]


# --------------------------------------------------------------------------------------------
# worker processes


def _worker(mode: str, url: str, n: int, duration_s: float, fps: int, size: tuple[int, int],
            stagger_s: float) -> list[dict]:
    """Runs in a worker process: ``n`` users on one event loop."""
    logging.basicConfig(level=logging.WARNING)

    async def main() -> list[UserResult]:
        frames = make_clip(size, n_frames=2 * fps) if mode == "cloud" else []

        async def one(i: int) -> UserResult:
            await asyncio.sleep(i * stagger_s)
            extra = (n - 1 - i) * stagger_s  # everyone stops together
            if mode == "cloud":
                return await cloud_user(url, frames, fps, duration_s + extra)
            return await hybrid_user(url, duration_s + extra)

        return await asyncio.gather(*(one(i) for i in range(n)))

    out = []
    for r in asyncio.run(main()):
        d = asdict(r)
        d["last_message"] = None
        out.append(d)
    return out


def run_users(mode: str, url: str, users: int, duration_s: float, fps: int = 15,
              size: tuple[int, int] = (640, 480), users_per_worker: int = USERS_PER_WORKER,
              stagger_s: float = 0.2) -> list[UserResult]:
    """``users`` synthetic users in ⌈users / users_per_worker⌉ processes (blocking)."""
    _check(mode, [users], duration_s, fps, size)
    _check_url(url)
    n_workers = max(1, -(-users // users_per_worker))
    split = [users // n_workers + (1 if i < users % n_workers else 0) for i in range(n_workers)]
    import multiprocessing as mp

    with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn")) as ex:
        futs = [ex.submit(_worker, mode, url, k, duration_s, fps, tuple(size), stagger_s)
                for k in split if k]
        return [UserResult(**d) for f in futs for d in f.result(timeout=duration_s + 120)]


# --------------------------------------------------------------------------------------------
# the server process and its sampler


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    url: str
    mode: str
    pipeline: str

    def cpu_sample(self) -> tuple[float, float, float]:
        """(wall, CPU-seconds of the server and its children so far, RSS MB)."""
        import psutil

        t = time.time()
        try:
            p = psutil.Process(self.proc.pid)
            procs = [p] + p.children(recursive=True)
        except psutil.NoSuchProcess:
            return t, 0.0, 0.0
        cpu = rss = 0.0
        for q in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                c = q.cpu_times()
                cpu += c.user + c.system
                rss += q.memory_info().rss / 2 ** 20
        return t, cpu, rss

    def healthz(self) -> bool:
        """Whether the server answers ``GET /healthz`` with 200 now (and its process lives)."""
        import urllib.request

        if self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as r:
                return r.status == 200
        except Exception:  # noqa: BLE001 - any failure means "not up"
            return False

    def wait_idle(self, timeout_s: float = 60.0) -> float:
        """Wait until the server reports no open session (``/metrics`` ``sessions == 0``);
        returns the seconds waited. Why: a server that fell behind (the seed pipeline) keeps
        working off queued frames after its users left; the next step must not pay for them.
        A server too busy to answer ``/metrics`` is not idle: keep asking until the timeout."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout_s and self.proc.poll() is None:
            m = self._fetch_metrics(timeout_s=10)
            if m is not None and not m.get("sessions"):
                break
            time.sleep(0.25)
        return time.perf_counter() - t0

    def metrics(self, timeout_s: float = 30.0) -> dict:
        """The cloud provider's ``/metrics`` dict ({} when the server does not answer)."""
        return self._fetch_metrics(timeout_s) or {}

    def _fetch_metrics(self, timeout_s: float) -> dict | None:
        import urllib.request

        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=timeout_s) as r:
                d = json.loads(r.read())
        except Exception:
            return None
        # serve's /metrics may nest providers' dicts; find the cloud one
        if isinstance(d, dict) and "frames_dropped" not in d:
            for v in d.values():
                if isinstance(v, dict) and "frames_dropped" in v:
                    return v
        return d if isinstance(d, dict) else None


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _check_url(url: str) -> None:
    if not (url.startswith(f"http://{HOST}:") or url.startswith("http://localhost:")):
        raise InputError(f"load tests target loopback only (http://{HOST}:PORT), got {url!r}")


def _serve_cmd(mode: str, port: int, model_path: Path | None, max_sessions: int, pipeline: str,
               models_dir: Path | None) -> list[str]:
    try:
        import hybridlib.serve  # noqa: F401  (the real server, when the serve module exists)
        have_serve = True
    except ImportError:
        have_serve = False
    if have_serve:
        cmd = [sys.executable, "-m", "hybridlib.cli", "serve", "--mode", mode, "--host", HOST,
               "--port", str(port), "--max-sessions", str(max_sessions)]
        if model_path is not None:
            cmd += ["--model", str(model_path)]
        if models_dir is not None:
            cmd += ["--models-dir", str(models_dir)]
        if mode == "cloud":
            cmd += ["--pipeline", pipeline]
        return cmd
    if mode != "cloud":
        raise InputError("hybrid load needs hybridlib.serve (the hybrid app server)")
    return [sys.executable, "-m", "hybridlib.cloud", "--host", HOST, "--port", str(port),
            "--model", str(model_path), "--max-sessions", str(max_sessions), "--pipeline", pipeline]


@contextlib.contextmanager
def server(mode: str, model_path: str | Path | None = None, max_sessions: int = 8,
           pipeline: str = "ours", models_dir: str | Path | None = None,
           startup_timeout_s: float = 120.0, log_path: str | Path | None = None) -> Iterator[ServerProcess]:
    """Start ``hybridlib serve`` on a free loopback port as a separate process; stop it after."""
    import urllib.request

    port = _free_port()
    cmd = _serve_cmd(mode, port, Path(model_path) if model_path else None, max_sessions, pipeline,
                     Path(models_dir) if models_dir else None)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    logf = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
                            env=env)
    url = f"http://{HOST}:{port}"
    try:
        t_end = time.time() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with code {proc.returncode}: {' '.join(cmd)}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > t_end:
                raise RuntimeError(f"server did not answer /healthz in {startup_timeout_s}s")
            time.sleep(0.3)
        yield ServerProcess(proc, url, mode, pipeline)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if log_path:
            logf.close()


# --------------------------------------------------------------------------------------------
# a load run


def _check(mode: str, users: Sequence[int], duration_s: float, fps: int, size: Sequence[int]) -> None:
    if mode not in MODES:
        raise InputError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    if not users or any(not isinstance(u, (int, np.integer)) or u < 1 or u > MAX_USERS for u in users):
        raise InputError(f"users must be integers in 1..{MAX_USERS}, got {list(users)!r}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise InputError(f"duration must be in (0, {MAX_DURATION_S}] seconds, got {duration_s}")
    if not 1 <= fps <= 60:
        raise InputError(f"fps must be in 1..60, got {fps}")
    if len(size) != 2 or min(size) < 16 or any(int(v) % 2 for v in size) or max(size) > 1920:
        raise InputError(f"size must be WIDTHxHEIGHT, even, 16..1920 pixels, got {tuple(size)!r}")


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
    _check("cloud", out, 1, 15, (640, 480))
    return out


def parse_size(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*[xX×]\s*(\d+)\s*", str(text))
    if not m:
        raise InputError(f"--size {text!r}: give WIDTHxHEIGHT, e.g. 640x480")
    size = (int(m.group(1)), int(m.group(2)))
    _check("cloud", [1], 1, 15, size)
    return size


def run_load(mode: str, users: Sequence[int], duration_s: float, fps: int = 15,
             size: tuple[int, int] = (640, 480), pipeline: str = "ours",
             model_path: str | Path | None = None, max_sessions: int | None = None,
             models_dir: str | Path | None = None, settle_s: float = 1.0,
             progress: bool = True, log_path: str | Path | None = None,
             browser: bool = False, warmup_s: float = 0.0) -> list[StepResult]:
    """One server process, one step per entry of ``users``; returns a :class:`StepResult` each.

    ``max_sessions`` defaults to the largest step (nobody refused); pass a smaller cap to
    measure admission control. ``browser`` (hybrid only): users are real Chromium pages.
    ``warmup_s`` (cloud): one unmeasured user streams this long first, so one-off costs
    (codec set-up, the first inference calls, tracing) land outside every measured step.
    """
    if browser and mode != "hybrid":
        raise InputError("browser users exist for hybrid mode only")
    _check(mode, users, duration_s, fps, size)
    if mode == "cloud" and model_path is None:
        raise InputError("cloud mode load needs a model file (model_path)")
    cap = max_sessions or max(users)
    steps: list[StepResult] = []
    from tqdm.auto import tqdm

    with server(mode, model_path, cap, pipeline, models_dir, log_path=log_path) as srv:
        if warmup_s > 0 and mode == "cloud":
            w = run_users(mode, srv.url, 1, min(warmup_s, MAX_DURATION_S), fps, size)
            log.info("warm-up (%s): %d frames answered, not measured", pipeline, sum(r.answered for r in w))
            srv.wait_idle()  # its session must be gone before a capped server's first step
            time.sleep(settle_s)
        for n in tqdm(list(users), desc=f"load {mode}/{pipeline}", disable=not progress):
            m0 = srv.metrics()
            samples = [srv.cpu_sample()]
            stop = [False]

            import threading

            def sampler() -> None:
                while not stop[0]:
                    time.sleep(0.25)
                    samples.append(srv.cpu_sample())

            th = threading.Thread(target=sampler, daemon=True)
            th.start()
            try:
                results = (run_browser_users(srv.url, n, duration_s, fps, size) if browser
                           else run_users(mode, srv.url, n, duration_s, fps, size))
            finally:
                stop[0] = True
                th.join()
            samples.append(srv.cpu_sample())
            drain_s = srv.wait_idle()  # the seed's queued frames are counted when sessions close
            c_end = srv.cpu_sample()
            m1 = srv.metrics()
            st = summarize_step(mode, "chromium" if browser else pipeline, n, duration_s, fps, size,
                                results, samples, m0, m1)
            st.server_up = srv.healthz()
            st.drain_s = round(drain_s, 2)
            st.processed_per_cpu_s = _processed_per_cpu_s(m0, m1, c_end[1] - samples[0][1])
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


# --------------------------------------------------------------------------------------------
# the study (07_load) and its figures

#: seed 000's reported numbers (its text, section "Evaluation"): server with 4 cores / 8 logical
#: processors, 16 GB; cloud mode CPU 40% at 1 user → 82% at 5 users, crashed at 6; bandwidth
#: "linear in users" (no values given); hybrid CPU and bandwidth flat up to 10 users.
SEED_REPORTED = {
    "source": "seed 000 text (reported, not measured here)",
    "server": "4 cores / 8 logical processors, 2.4 GHz, 16 GB",
    "cloud_cpu_pct": {1: 40.0, 5: 82.0},
    "cloud_max_users": 5,
    "cloud_crashed_at": 6,
    "hybrid": "CPU and bandwidth flat up to 10 users",
}


#: the overload run offers this many times the measured capacity to a server capped at it
OVERLOAD_FACTOR = 4


@dataclass
class StudyPlan:
    """Which runs 07_load makes; sizes from the preset (``Preset.load_*``).

    Both cloud pipelines run at the SAME user counts (the efficiency ratio is taken per count);
    hybrid users are real Chromium pages running the app for the whole step.
    """

    users: tuple[int, ...]
    seed_users: tuple[int, ...]
    hybrid_users: tuple[int, ...]  # Chromium pages
    duration_s: float
    fps: int
    size: tuple[int, int]
    warmup_s: float = 2.0
    overload_factor: int = OVERLOAD_FACTOR

    @classmethod
    def from_preset(cls, preset: Any) -> StudyPlan:
        users = tuple(preset.load_users)
        # a real Chromium page per user costs the (shared) machine a lot: small N only
        hybrid_users = (1,) if preset.name == "smoke" else (2,) if preset.name == "quick" else (1, 2)
        return cls(users, users, hybrid_users, float(preset.load_duration_s), int(preset.load_fps),
                   tuple(preset.load_size), warmup_s=min(3.0, float(preset.load_duration_s)))


def run_study(plan: StudyPlan, model_path: str | Path, models_dir: str | Path | None,
              progress: bool = True) -> dict[str, Any]:
    """All runs of the load study: cloud ours and seed at the same user counts (each warmed up
    first), hybrid Chromium pages, then overload at ``plan.overload_factor``× capacity.

    A part that cannot run here (no Chromium, no hybrid server) is listed under ``"skipped"``
    with its reason, never dropped silently.
    """
    kw = dict(fps=plan.fps, size=plan.size, progress=progress)
    out: dict[str, Any] = {"skipped": {}}
    out["ours"] = run_load("cloud", plan.users, plan.duration_s, pipeline="ours", model_path=model_path,
                           warmup_s=plan.warmup_s, **kw)
    out["seed"] = run_load("cloud", plan.seed_users, plan.duration_s, pipeline="seed",
                           model_path=model_path, warmup_s=plan.warmup_s, **kw)
    out["hybrid"] = []
    try:
        from . import browser as _browser

        _browser.chromium_path()
        out["hybrid"] = run_load("hybrid", plan.hybrid_users, plan.duration_s, model_path=model_path,
                                 models_dir=models_dir, browser=True, **kw)
    except Exception as e:  # noqa: BLE001 - recorded as skipped with the reason, shown by 07
        log.warning("hybrid (Chromium pages) run skipped: %s", e)
        out["skipped"]["hybrid"] = f"{type(e).__name__}: {e}"
    cap = saturation_point(out["ours"], plan.fps) or 1
    cap = min(cap, max(1, MAX_USERS // plan.overload_factor))
    # the capacity step again, then k× it, back to back on one capped server: the baseline and
    # the overload see the same machine (other load on a shared box drifts between runs)
    over = run_load("cloud", [cap, plan.overload_factor * cap], plan.duration_s, pipeline="ours",
                    model_path=model_path, max_sessions=cap, warmup_s=plan.warmup_s, **kw)
    out["capacity"] = cap
    out["overload"] = over
    return out


def _step_dict(s: StepResult | dict) -> dict[str, Any]:
    return s.to_dict() if hasattr(s, "to_dict") else dict(s)


def cloud_ratio_table(ours: Sequence[StepResult | dict], seed: Sequence[StepResult | dict]) -> dict[str, Any]:
    """Answered frames per server CPU-second, ours ÷ seed pipeline, **per user count measured in
    both**; the headline is the minimum over those counts.

    Why per count: a median of ours over 1–6 users against the seed over 1–4 compares unlike
    loads (the batching pipeline gets cheaper per frame as users grow). Counts run by only one
    pipeline are listed under ``unmatched`` and never enter the headline; a count where either
    side answered nothing has no ratio. ``ratio`` uses what the users received within the step
    (``answered_per_cpu_s``); ``processed_ratio`` the server's own output per CPU-second until
    its sessions closed (``processed_per_cpu_s``), which a lagging server's late answers do
    not shrink — shown beside it, not pooled with it.
    """
    def by_users(steps: Sequence[StepResult | dict], name: str) -> dict[int, dict]:
        d: dict[int, dict] = {}
        for s in steps:
            x = _step_dict(s)
            if x["users"] in d:
                raise InputError(f"{name} steps: user count {x['users']} measured twice")
            d[int(x["users"])] = x
        return d

    o, sd = by_users(ours, "ours"), by_users(seed, "seed")
    rows = []
    for n in sorted(set(o) & set(sd)):
        a, b = o[n].get("answered_per_cpu_s"), sd[n].get("answered_per_cpu_s")
        pa, pb = o[n].get("processed_per_cpu_s"), sd[n].get("processed_per_cpu_s")
        rows.append({"users": n, "ours_admitted": o[n].get("admitted"), "seed_admitted": sd[n].get("admitted"),
                     "ours_answered_per_cpu_s": a, "seed_answered_per_cpu_s": b,
                     "ratio": round(a / b, 3) if a and b else None,
                     "ours_processed_per_cpu_s": pa, "seed_processed_per_cpu_s": pb,
                     "processed_ratio": round(pa / pb, 3) if pa and pb else None})
    rated = [r for r in rows if r["ratio"] is not None]
    worst = min(rated, key=lambda r: r["ratio"]) if rated else None
    prated = [r["processed_ratio"] for r in rows if r["processed_ratio"] is not None]
    return {"rows": rows,
            "min_ratio": worst["ratio"] if worst else None,
            "min_at_users": worst["users"] if worst else None,
            "min_processed_ratio": min(prated) if prated else None,
            "unmatched": {"ours": sorted(set(o) - set(sd)), "seed": sorted(set(sd) - set(o))}}


def overload_verdict(baseline: StepResult | dict, over: StepResult | dict, cap: int,
                     fps_factor: float = 0.5, p95_factor: float = 2.0,
                     p95_slack_ms: float = 100.0) -> dict[str, Any]:
    """Did admission control hold under overload? ``baseline`` = ``cap`` users on the capped
    server, ``over`` = the overload step right after it.

    Holds when exactly ``cap`` users were admitted, every other one got 503 (no errors), the
    admitted users kept their frame rate (≥ ``fps_factor`` × baseline) and round trip
    (p95 ≤ ``p95_factor`` × baseline + ``p95_slack_ms``), and the server still answered
    ``/healthz`` afterwards. The factors are generous on purpose: the clients share the
    machine with the server, so only a collapse (what the seed's server did) should fail it.
    """
    b, o = _step_dict(baseline), _step_dict(over)
    checks = {
        "admitted_is_capacity": o["admitted"] == cap,
        "rest_refused_503": o["refused"] == o["users"] - cap and o["errors"] == 0,
        "fps_kept": bool(b["fps_per_user"]) and o["fps_per_user"] >= fps_factor * b["fps_per_user"],
        "p95_kept": b.get("rtt_p95_ms") is not None and o.get("rtt_p95_ms") is not None
        and o["rtt_p95_ms"] <= p95_factor * b["rtt_p95_ms"] + p95_slack_ms,
        "server_up": o.get("server_up") is True,
    }
    return {"users": o["users"], "max_sessions": cap, "factor": round(o["users"] / cap, 2),
            "admitted": o["admitted"], "refused": o["refused"], "errors": o["errors"],
            "fps_per_user": o["fps_per_user"], "rtt_p95_ms": o.get("rtt_p95_ms"),
            "baseline_fps_per_user": b["fps_per_user"], "baseline_rtt_p95_ms": b.get("rtt_p95_ms"),
            "server_up": o.get("server_up"),
            "limits": {"fps_factor": fps_factor, "p95_factor": p95_factor, "p95_slack_ms": p95_slack_ms},
            "checks": checks, "holds": all(checks.values())}


def hybrid_claim(hybrid: Sequence[StepResult | dict], cloud: Sequence[StepResult | dict],
                 limit: float = 0.01) -> dict[str, Any] | None:
    """Seed 000's hybrid argument as a check that can fail: the server's CPU per user-minute
    with hybrid users (real pages running the app) is ≤ ``limit`` of cloud mode's, measured
    here, *and* the pages did process frames (the work moved to the client, it did not vanish).
    None without both series."""
    h = [_step_dict(s) for s in hybrid if _step_dict(s)["admitted"] > 0]
    c = [_step_dict(s) for s in cloud if _step_dict(s)["admitted"] > 0]
    if not h or not c:
        return None
    h_cpu = float(np.mean([s["cpu_s_per_user_min"] for s in h]))
    c_cpu = float(np.mean([s["cpu_s_per_user_min"] for s in c]))
    frames = int(sum(s["answered"] for s in h))
    ratio = h_cpu / c_cpu if c_cpu > 0 else None
    return {"hybrid_server_cpu_s_per_user_min": round(h_cpu, 5), "cloud_server_cpu_s_per_user_min": round(c_cpu, 4),
            "ratio": None if ratio is None else round(ratio, 6), "limit": limit,
            "client_frames": frames,
            "client_ms_per_frame": [s.get("client_ms_per_frame") for s in h],
            "holds": ratio is not None and ratio <= limit and frames > 0}


def steps_frame(study: dict[str, Any]) -> Any:
    """One tidy table of every step of every run (``series`` = cloud · ours, cloud · seed
    pipeline, hybrid — the last being real Chromium pages)."""
    import pandas as pd

    rows = []
    for key, label in (("ours", "cloud · ours"), ("seed", "cloud · seed pipeline"), ("hybrid", "hybrid")):
        for s in study.get(key, []):
            d = _step_dict(s)
            d.pop("server_metrics", None)
            rows.append({"series": label, **d})
    return pd.DataFrame(rows)


def per_user_minute(df: Any) -> Any:
    """CPU-seconds and MB per user-minute for each series (mean over its steps)."""
    g = df[df.admitted > 0].groupby("series")
    return g.agg(cpu_s_per_user_min=("cpu_s_per_user_min", "mean"),
                 mb_per_user_min=("bytes_per_user_min", lambda v: v.mean() / 1e6),
                 setup_mb_per_user=("setup_bytes_per_user", lambda v: v.mean() / 1e6)).reset_index()


def summarize_study(study: dict[str, Any], plan: StudyPlan) -> dict[str, Any]:
    """The numbers 07_load records (and its tests read back)."""
    df = steps_frame(study)
    pum = per_user_minute(df) if len(df) else df
    cap = study["capacity"]
    over = study["overload"]
    verdict = overload_verdict(over[0], over[-1], cap) if len(over) > 1 else None
    claim = hybrid_claim(study.get("hybrid", []), study["ours"])
    return {
        "plan": asdict(plan),
        "cpu_count": os.cpu_count(),
        "steps": df.to_dict(orient="records"),
        "per_user_minute": pum.to_dict(orient="records"),
        "cloud_ratio": cloud_ratio_table(study["ours"], study["seed"]),
        "seed_pipeline_frames": [{"users": s.users, "frames_queued": s.server_metrics.get("frames_queued"),
                                  "frames_dropped": s.server_metrics.get("frames_dropped"),
                                  "frames_lost": s.server_metrics.get("frames_lost"),
                                  "backlog_max": s.server_metrics.get("backlog_max")}
                                 for s in study["seed"]],
        "hybrid_vs_cloud_cpu_ratio": claim["ratio"] if claim else None,
        "hybrid_claim": claim,
        "hybrid": [{"users": s.users, "admitted": s.admitted, "errors": s.errors,
                    "frames": s.answered, "local_fps_per_user": s.fps_per_user,
                    "client_ms_per_frame": s.client_ms_per_frame,
                    "client_script_ms_per_frame": s.client_script_ms_per_frame,
                    "client_proc_ms_per_frame": s.client_proc_ms_per_frame,
                    "server_ms_per_frame": s.server_ms_per_frame,
                    "server_cpu_s_per_user_min": s.cpu_s_per_user_min,
                    "setup_mb_per_user": round(s.setup_bytes_per_user / 1e6, 3)}
                   for s in study.get("hybrid", [])],
        "cloud_server_ms_per_frame": {str(s.users): s.server_ms_per_frame for s in study["ours"]},
        "skipped": dict(study.get("skipped") or {}),
        "saturation_users": {"ours": saturation_point(study["ours"], plan.fps),
                             "seed": saturation_point(study["seed"], plan.fps),
                             "hybrid": saturation_point(study["hybrid"], plan.fps) if study.get("hybrid") else None},
        "capacity": cap,
        "overload": verdict,
        "seed_reported": {**SEED_REPORTED,
                          "cloud_cpu_pct": {str(k): v for k, v in SEED_REPORTED["cloud_cpu_pct"].items()}},
    }


def plot_cpu_bandwidth(df: Any, title_suffix: str = "") -> Any:
    """Seed figures 11 and 12 side by side: server CPU and bandwidth vs users, all series."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    sns.lineplot(data=df, x="users", y="cpu_pct_machine", hue="series", marker="o", ax=axes[0])
    seed = SEED_REPORTED["cloud_cpu_pct"]
    axes[0].plot(list(seed), list(seed.values()), "k^--", label="seed 000 cloud (reported; 8 threads)")
    axes[0].axvline(SEED_REPORTED["cloud_crashed_at"], color="k", ls=":", lw=1)
    axes[0].text(SEED_REPORTED["cloud_crashed_at"], 5, " seed crashed", fontsize=8)
    axes[0].set(ylabel=f"server CPU, % of all {os.cpu_count()} CPUs", xlabel="users",
                title="Fig. 11 analogue: server CPU vs users" + title_suffix)
    axes[0].legend(fontsize=8)
    d = df.assign(mbps=(df.bytes_in_per_s + df.bytes_out_per_s) * 8 / 1e6)
    sns.lineplot(data=d, x="users", y="mbps", hue="series", marker="o", ax=axes[1])
    axes[1].set(ylabel="server bandwidth in+out, Mbit/s (steady state)", xlabel="users",
                title="Fig. 12 analogue: bandwidth vs users" + title_suffix)
    axes[1].legend(fontsize=8)
    _integer_x(axes)
    fig.tight_layout()
    return fig


def plot_latency(df: Any) -> Any:
    """Round trip p50/p95 and answered fps per user vs users (cloud series)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    c = df[df.series.str.startswith("cloud")]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    long = c.melt(id_vars=["series", "users"], value_vars=["rtt_p50_ms", "rtt_p95_ms"],
                  var_name="stat", value_name="ms").dropna()
    sns.lineplot(data=long, x="users", y="ms", hue="series", style="stat", marker="o", ax=axes[0])
    axes[0].set_yscale("log")
    axes[0].axhline(250, color="r", ls=":", lw=1)
    axes[0].set(title="Frame round trip vs users (loopback)", ylabel="ms (log)")
    sns.lineplot(data=c, x="users", y="fps_per_user", hue="series", marker="o", ax=axes[1])
    axes[1].axhline(float(c.fps.max()), color="0.5", ls=":", lw=1)
    axes[1].set(title="Answered frames per second per user", ylabel="fps")
    for ax in axes:
        ax.legend(fontsize=8)
    _integer_x(axes)
    fig.tight_layout()
    return fig


def _integer_x(axes: Any) -> None:
    from matplotlib.ticker import MaxNLocator

    for ax in axes:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def plot_costs(pum: Any, summary: dict[str, Any]) -> Any:
    """CPU-seconds and MB per user-minute per mode; the overload run next to the capacity step."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    d = pum.assign(cpu=pum.cpu_s_per_user_min.clip(lower=1e-3))
    sns.barplot(data=d, x="series", y="cpu", hue="series", legend=False, ax=axes[0])
    axes[0].set(title="Server CPU-seconds per user-minute", xlabel="", ylabel="CPU-s (log)", yscale="log")
    sns.barplot(data=pum, x="series", y="mb_per_user_min", hue="series", legend=False, ax=axes[1])
    setup = dict(zip(pum.series, pum.setup_mb_per_user)).get("hybrid")
    axes[1].set(title="Server MB per user-minute, streaming"
                      + (f"\n(hybrid: {setup:.1f} MB once, page + model download)" if setup else ""),
                xlabel="", ylabel="MB")
    if (pum.cpu_s_per_user_min < 1e-3).any():  # the log axis cannot show 0: say what is drawn
        axes[0].set_title("Server CPU-seconds per user-minute\n(values below 0.001, e.g. 0 measured, "
                          "drawn at 0.001)", fontsize=10)
    for i, ax in enumerate(axes[:2]):
        ax.tick_params(axis="x", labelsize=8)
        one_per_series = len(ax.containers) == len(pum) and all(len(c) == 1 for c in ax.containers)
        for k, cont in enumerate(ax.containers):
            if i == 0 and one_per_series:  # the measured value, not the clipped bar height
                ax.bar_label(cont, labels=[f"{float(pum.cpu_s_per_user_min.iloc[k]):.3g}"], fontsize=8)
            else:
                ax.bar_label(cont, fmt="%.3g", fontsize=8)
    o = summary.get("overload")
    if o:
        labels = [f"{o['max_sessions']} users\n(at capacity)",
                  f"{o['admitted']} admitted of {o['users']}\n({o['factor']:g}× overload)"]
        p95 = [o["baseline_rtt_p95_ms"] or 0, o["rtt_p95_ms"] or 0]
        fps = [o["baseline_fps_per_user"] or 0, o["fps_per_user"] or 0]
        bars = axes[2].bar(labels, p95, color=["tab:blue", "tab:green"])
        for b, f in zip(bars, fps):
            axes[2].text(b.get_x() + b.get_width() / 2, b.get_height(), f"{f:.1f} fps", ha="center",
                         va="bottom", fontsize=9)
        axes[2].axhline(250, color="r", ls=":", lw=1)
        axes[2].set(ylabel="round trip p95, ms",
                    title=f"Overload: {o['refused']} of {o['users']} users refused (503);\n"
                          + ("admitted users kept their p95 and fps" if o["holds"]
                             else "admission control did NOT hold: " + ", ".join(
                                 k for k, v in o["checks"].items() if not v)))
    fig.tight_layout()
    return fig
