"""Synthetic users: real aiortc peers streaming a face clip (cloud mode), HTTP downloads or real
Chromium pages (hybrid mode), spread over worker processes.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import multiprocessing as mp
import re
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import psutil

from hybridlib import browser
from hybridlib.serving import media
from hybridlib.serving.backends import ensure_ray
from hybridlib.serving.options import VIDEO_CLOCK
from hybridlib.serving.sessions import dtls_bytes
from hybridlib.study.load.limits import USERS_PER_WORKER, check_args, check_url
from hybridlib.study.load.results import UserResult

log = logging.getLogger(__name__)


def make_clip(size: tuple[int, int] = (640, 480), n_frames: int = 30) -> list[np.ndarray]:
    """BGR frames of a real face photo drifting a little (``hybridlib.serving.media``)."""

    return media.face_clip("astronaut", size=tuple(size), n_frames=n_frames)


def _clip_track(frames: list[np.ndarray], fps: int, sent: dict[int, float]) -> Any:
    import av
    from aiortc import VideoStreamTrack

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
    closed = asyncio.Event()
    hanging_up = [False]
    got_video = asyncio.Event()
    kept: dict[str, Any] = {}
    window_over = False  # set once the kept video frame joins last_message

    @channel.on("open")
    def _open() -> None:
        opened.set()

    @channel.on("close")
    def _close() -> None:
        if not hanging_up[0]:
            res.closed_by_server = True
        closed.set()

    @channel.on("message")
    def _msg(m: Any) -> None:
        now = time.perf_counter()
        try:
            d = json.loads(m)
        except (TypeError, ValueError):
            return
        if isinstance(d, dict) and "error" in d and res.server_error is None:
            res.server_error = str(d["error"])
        if "faces" not in d:
            return
        res.answered += 1
        res.faces_seen += len(d.get("faces") or [])
        if not window_over:  # answers still in flight after the window must not replace the kept one
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
        with contextlib.suppress(asyncio.TimeoutError):  # the server may end the session first
            await asyncio.wait_for(closed.wait(), duration_s)
        res.t_end = time.time()
        rx1, tx1 = dtls_bytes(pc)
        res.bytes_sent, res.bytes_received = tx1 - tx0, rx1 - rx0
        res.frames_sent = len(sent) - k0
        if keep_video_frame:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(got_video.wait(), 5)
            window_over = True
            res.last_message = {**(res.last_message or {}), "_video_frame": kept.get("frame")}
        # answers for frames sent before streaming "began" count towards the window's total;
        # keep answered ≤ sent so the drop count stays meaningful
        res.answered = min(res.answered, res.frames_sent) if res.frames_sent else res.answered
    except Exception as e:  # a user that fails is a result, not a crash of the run
        res.error = f"{type(e).__name__}: {e}"
        log.warning("cloud user failed: %s", res.error)
    finally:
        hanging_up[0] = True
        for t in tasks:
            t.cancel()
        await pc.close()
    return res




_SRC_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"'#?]+)""")


async def hybrid_user(url: str, duration_s: float, variant: str | None = None) -> UserResult:
    """One hybrid-mode user: fetch the page, its scripts, /config and the model, then idle.

    After the download the browser app infers locally and never calls the server again; the
    idle span is where the server's per-user cost (≈ nothing) is measured.
    """

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



_PAGE_STATE = """() => ({frames: hlState.frames, error: hlState.error, backend: hlState.backend,
  bytes: performance.getEntriesByType('resource').reduce((a, e) => a + (e.transferSize || 0), 0)
         + ((performance.getEntriesByType('navigation')[0] || {}).transferSize || 0)})"""


def _tree_cpu_s() -> float:
    """CPU-seconds so far of this process's children (Playwright's driver and Chromium)."""

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
    check_args("hybrid", [users], duration_s, fps, size)
    check_url(url)

    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        return [UserResult(**d) for d in
                ex.submit(_browser_worker, url, users, duration_s, tuple(size), fps).result(timeout=duration_s + 400)]




def user_worker(mode: str, url: str, n: int, duration_s: float, fps: int, size: tuple[int, int],
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
              stagger_s: float = 0.2, ray_address: str | None = None) -> list[UserResult]:
    """``users`` synthetic users in ⌈users / users_per_worker⌉ processes (blocking).

    ``ray_address``: the worker processes are Ray tasks spread over that cluster's nodes
    (``"local"``: a small local Ray), so the load can outgrow the machine that drives it; their
    results merge into the same records. Still loopback only: nodes reach the server on 127.0.0.1.
    """
    check_args(mode, [users], duration_s, fps, size)
    check_url(url)
    n_workers = max(1, -(-users // users_per_worker))
    split = [users // n_workers + (1 if i < users % n_workers else 0) for i in range(n_workers)]
    if ray_address:
        return _run_users_ray(ray_address, mode, url, [k for k in split if k], duration_s, fps, size, stagger_s)

    with ProcessPoolExecutor(n_workers, mp_context=mp.get_context("spawn")) as ex:
        futs = [ex.submit(user_worker, mode, url, k, duration_s, fps, tuple(size), stagger_s)
                for k in split if k]
        return [UserResult(**d) for f in futs for d in f.result(timeout=duration_s + 120)]


def _run_users_ray(address: str, mode: str, url: str, split: list[int], duration_s: float, fps: int,
                   size: tuple[int, int], stagger_s: float) -> list[UserResult]:
    """:func:`user_worker` as Ray tasks (``SPREAD`` over the nodes), one per group of users."""

    ensure_ray(None if address == "local" else address)
    import ray

    task = ray.remote(num_cpus=0.25, max_retries=0, scheduling_strategy="SPREAD")(_user_task)
    refs = [task.remote(mode, url, k, duration_s, fps, tuple(size), stagger_s) for k in split]
    out = ray.get(refs, timeout=duration_s + 180)
    return [UserResult(**d) for group in out for d in group["users"]]


def _user_task(mode: str, url: str, n: int, duration_s: float, fps: int, size: tuple[int, int],
               stagger_s: float) -> dict[str, Any]:
    """One Ray task's users, tagged with the node they ran on (logged)."""
    import ray

    node = ray.get_runtime_context().get_node_id()
    users = user_worker(mode, url, n, duration_s, fps, size, stagger_s)
    log.info("%d load user(s) ran on node %s", n, node[:12])
    return {"node": node, "users": users}
