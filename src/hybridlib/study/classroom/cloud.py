"""Cloud mode in a classroom: N phones ask to stream within a few seconds; the server admits
``max_sessions`` and answers the rest 503 (admission control, :mod:`hybridlib.serving.cloud`).

Decision (docs/CLASSROOM.md): beyond the cap a phone gets a 503 and the page says, in words, that
the server is full, how many cameras it serves and that it retries every 10 s — rather than
admitting everyone at a lower frame rate. Why: the cloud pipeline's cost grows with every
stream (decode + detect + classify per frame); past the cap every admitted phone falls below
15 fps and round trips grow (the load study's saturation), while the cap keeps the admitted ones
at full speed and tells the others plainly. Hybrid mode is the answer for a whole room.

The phones are real aiortc peers (:func:`hybridlib.study.load.users.cloud_user`) streaming a face
clip at ``fps`` from worker processes, joining at seeded random times within the window; the
server is the real ``hybridlib serve --mode cloud`` in its own process, its CPU sampled.
Media go straight over loopback UDP (WebRTC); the shared-link proxy carries TCP only, so this
run does not shape the video — the summary gives the uplink each stream needed instead.
"""
from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from typing import Any

import numpy as np

from hybridlib.study.load.results import UserResult
from hybridlib.study.load.users import cloud_user, make_clip

log = logging.getLogger(__name__)

#: a phone "gets 15 fps" when it is answered at ≥ this share of the sent rate with p95 ≤ SLO
MIN_FPS_FRACTION = 0.9
SLO_P95_MS = 250.0


def _worker(url: str, t0_wall: float, joins: list[float], fps: int, size: tuple[int, int],
            stream_s: float) -> list[dict[str, Any]]:
    """Runs in a worker process: its share of the phones, each starting at ``t0_wall + join``;
    everyone hangs up together at ``t0_wall + max(join) + stream_s``."""
    logging.basicConfig(level=logging.WARNING)

    async def main() -> list[dict[str, Any]]:
        frames = make_clip(size, n_frames=2 * fps)
        end = t0_wall + stream_s

        async def one(j: float) -> dict[str, Any]:
            await asyncio.sleep(max(0.0, t0_wall + j - time.time()))
            asked = time.time() - t0_wall
            r: UserResult = await cloud_user(url, frames, fps, max(1.0, end - time.time()))
            d = asdict(r)
            d["last_message"] = None
            return {"join_s": j, "asked_s": round(asked, 3), **d}

        return list(await asyncio.gather(*(one(j) for j in joins)))

    return asyncio.run(main())


def run_phones(url: str, joins: list[float], fps: int = 15, size: tuple[int, int] = (640, 480),
               stream_s: float = 20.0, workers: int = 4, lead_s: float = 3.0) -> list[dict[str, Any]]:
    """All phones over ``workers`` processes (blocking); one record per phone, join order."""
    t0 = time.time() + lead_s  # the workers' start-up (spawn, aiortc import) happens before t0
    groups = [joins[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as ex:
        futs = [ex.submit(_worker, url, t0, g, fps, tuple(size), stream_s) for g in groups if g]
        out = [d for f in futs for d in f.result(timeout=lead_s + stream_s + 180)]
    return sorted(out, key=lambda d: d["join_s"])


def phone_row(d: dict[str, Any], fps: int) -> dict[str, Any]:
    """One phone's verdict: admitted?, answered fps, p95 round trip, bytes/s it sent."""
    span = (d["t_end"] - d["t_start"]) if d.get("t_end") and d.get("t_start") else 0.0
    got = d["answered"] / span if span > 0 else 0.0
    rtt = d.get("rtt_ms") or []
    p95 = float(np.percentile(rtt, 95)) if rtt else None
    ok = bool(d["admitted"] and got >= MIN_FPS_FRACTION * fps and p95 is not None and p95 <= SLO_P95_MS)
    sent = d.get("frames_sent", 0) / span if span > 0 else 0.0  # did the phone itself keep up?
    return {"join_s": d["join_s"], "status": d["status"], "admitted": d["admitted"], "fps": round(got, 2),
            "sent_fps": round(sent, 2),
            "p95_ms": None if p95 is None else round(p95, 1), "full_speed": ok,
            "uplink_mbps": round(8 * d["bytes_sent"] / span / 1e6, 3) if span > 0 else None,
            "error": d.get("error")}


def summarize(rows: list[dict[str, Any]], fps: int, max_sessions: int, server: dict[str, Any]) -> dict[str, Any]:
    """How many got ``fps`` at the SLO, what the rest got (status and message), the server's CPU."""
    adm = [r for r in rows if r["admitted"]]
    refused = [r for r in rows if r["status"] == 503]
    up = [r["uplink_mbps"] for r in adm if r["uplink_mbps"]]
    return {"phones": len(rows), "max_sessions": max_sessions, "admitted": len(adm),
            "full_speed": sum(r["full_speed"] for r in rows), "refused_503": len(refused),
            "other_errors": sum(1 for r in rows if not r["admitted"] and r["status"] != 503),
            "refusal_message": refused[0]["error"] if refused else None,
            "admitted_fps": [r["fps"] for r in adm], "admitted_sent_fps": [r["sent_fps"] for r in adm],
            "admitted_p95_ms": [r["p95_ms"] for r in adm],
            "uplink_mbps_per_stream": round(float(np.median(up)), 3) if up else None,
            "fps_target": fps, "slo_p95_ms": SLO_P95_MS, "server": server}
