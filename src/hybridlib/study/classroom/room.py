"""The classroom runs end to end: a real server process, the shared link, the phones, the numbers.

:func:`hybrid_room`: N phones (a few real Chromium pages at DevTools CPU ×4, lightweight clients
for the rest) join a hybrid-mode server within ``window_s`` over one shaped link.
:func:`cloud_room`: N aiortc phones ask a cloud-mode server with an admission cap.
Both return JSON-ready dicts (per-phone records + summary) stamped with the load average.
"""
from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from hybridlib.study.classroom import cloud, hybrid
from hybridlib.study.classroom.link import SharedLink, running
from hybridlib.study.load.server_process import server
from hybridlib.utils import InputError

log = logging.getLogger(__name__)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def page_slots(n: int, pages: int) -> list[int]:
    """Which of the n phones (in join order) are real pages: spread evenly, first and last included."""
    if not 0 <= pages <= n:
        raise InputError(f"pages must be in 0..{n}, got {pages}")
    if pages == 0:
        return []
    if pages == 1:
        return [n // 2]
    return sorted({round(i * (n - 1) / (pages - 1)) for i in range(pages)})


def hybrid_room(model_path: str | Path, models_dir: str | Path, fake_video: str | Path, phones: int = 30,
                pages: int = 2, window_s: float = 10.0, mbps: float = 50.0, rtt_ms: float = 20.0,
                variant: str = "uint8", seed: int = 0, query: str = "", identity: bool = False,
                binary: str = "threaded-simd", lead_s: float = 6.0, timeout_s: float = 180.0) -> dict[str, Any]:
    """Hybrid mode, ``phones`` joining within ``window_s`` over a ``mbps``/``rtt_ms`` shared link.

    ``query``: extra page URL parameters (e.g. ``eager=0``); ``identity``: the lightweight
    clients refuse gzip (the uncompressed bytes); ``binary``: the wasm file they fetch (the one
    the real page reports running). ``lead_s``: set-up time before the first join (Chromium starts).
    """
    joins = hybrid.join_times(phones, window_s, seed)
    slots = set(page_slots(phones, pages))
    page_joins = [j for i, j in enumerate(joins) if i in slots]
    light_joins = [j for i, j in enumerate(joins) if i not in slots]
    load0 = _load()
    with server("hybrid", model_path, models_dir=models_dir) as srv:
        u = urlparse(srv.url)
        link = SharedLink(u.hostname or "127.0.0.1", u.port or 80, mbps, rtt_ms)
        with running(link) as lurl, hybrid.CpuSampler(srv.cpu_sample) as cpu:
            t0 = time.perf_counter() + lead_s
            got: dict[str, Any] = {}

            def _pages() -> None:
                try:
                    got["pages"] = hybrid.run_pages(lurl, t0, page_joins, fake_video,
                                                    f"variant={variant}&{query}", timeout_s=timeout_s)
                except Exception as e:  # noqa: BLE001 - reported with the results
                    got["pages_error"] = f"{type(e).__name__}: {e}"

            th = threading.Thread(target=_pages, name="classroom-pages", daemon=True)
            th.start()
            lights = asyncio.run(hybrid.light_clients(lurl, t0, light_joins, variant, binary, identity))
            th.join(lead_s + window_s + timeout_s + 60)
        pages_out: list[hybrid.Phone] = got.get("pages", [])
        tail = hybrid.compute_tail_s(pages_out)
        for p in lights:
            if p.done_s is not None and tail is not None and p.error is None:
                p.first_s = p.done_s + tail
        everyone = sorted(pages_out + lights, key=lambda p: p.join_s)
        summary = hybrid.summarize(everyone, {**cpu.summary(), "pid_cpu": "hybridlib serve + children"},
                                   link.snapshot())
    summary.update({"compute_tail_s": None if tail is None else round(tail, 3), "variant": variant,
                    "window_s": window_s, "seed": seed, "query": query, "identity": identity,
                    "pages_error": got.get("pages_error"), "load_average": [load0, _load()],
                    "page_wasm": [p.detail.get("wasm") for p in pages_out]})
    return {"summary": summary, "phones": hybrid.as_records(everyone)}


def cloud_room(model_path: str | Path, phones: int = 30, window_s: float = 10.0, stream_s: float = 20.0,
               max_sessions: int = 4, fps: int = 15, size: tuple[int, int] = (640, 480), seed: int = 0,
               workers: int = 4, pipeline: str = "ours") -> dict[str, Any]:
    """Cloud mode: ``phones`` aiortc peers ask within ``window_s``, stream until ``stream_s``
    after the first join; the server admits ``max_sessions``."""
    joins = hybrid.join_times(phones, window_s, seed)
    if stream_s <= window_s:
        raise InputError(f"stream_s ({stream_s}) must outlast the join window ({window_s})")
    load0 = _load()
    with server("cloud", model_path, max_sessions=max_sessions, pipeline=pipeline) as srv:
        with hybrid.CpuSampler(srv.cpu_sample) as cpu:
            recs = cloud.run_phones(srv.url, joins, fps, size, stream_s, workers)
        srv.end_sessions()
    rows = [cloud.phone_row(d, fps) for d in recs]
    summary = cloud.summarize(rows, fps, max_sessions, cpu.summary())
    summary.update({"window_s": window_s, "stream_s": stream_s, "seed": seed, "pipeline": pipeline,
                    "size": list(size), "load_average": [load0, _load()]})
    return {"summary": summary, "phones": rows}
