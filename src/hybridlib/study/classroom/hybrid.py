"""Hybrid mode in a classroom: N phones join within a few seconds over one shared link; how long
until each shows its first prediction, and what the server pays.

Two kinds of phone, both through the same :class:`~hybridlib.study.classroom.link.SharedLink`:

* **real pages** — headless Chromium, fake camera, DevTools CPU ×4 (a phone-class page), the
  real app; their first prediction is the page's own ``hlState.first_prediction_ms``;
* **lightweight clients** — one asyncio process that downloads exactly what the page downloads
  (the html, its scripts, ``/config``, the wasm binary, the detector's weights, the model files),
  six connections at a time like a browser, gzip accepted like a browser. Their first prediction
  is their measured download time plus the real pages' median *compute tail* (first prediction
  minus the moment the page's last asset arrived) — measured in the same run, labelled as such.

The server is the real ``hybridlib serve --mode hybrid`` in its own process; its CPU is sampled
with psutil over the run (after the downloads a hybrid server has nothing left to do).
"""
from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Self

import aiohttp
import numpy as np

from hybridlib import browser
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

#: the page's own files, fetched as soon as the html is in (index.html's links + app.js' import)
PAGE_FILES = ("/style.css", "/app.js", "/track.js", "/vendor/face-api/face-api.js")
DETECTOR_FILES = ("/vendor/face-api-model/tiny_face_detector_model-weights_manifest.json",
                  "/vendor/face-api-model/tiny_face_detector_model.bin")
WASM_FILES = {"threaded-simd": "tfjs-backend-wasm-threaded-simd.wasm", "simd": "tfjs-backend-wasm-simd.wasm",
              "plain": "tfjs-backend-wasm.wasm"}
#: a browser's connections per host over HTTP/1.1
CONNECTIONS = 6
MAX_PHONES = 64


@dataclass
class Phone:
    """One phone's join and what it saw (times in seconds from the room's start)."""

    kind: str  # "page" | "light"
    join_s: float
    done_s: float | None = None  # last asset arrived
    first_s: float | None = None  # first prediction (page: measured; light: done + tail)
    bytes: int = 0  # on the wire (compressed where the server compressed)
    requests: int = 0
    error: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def join_times(n: int, window_s: float, seed: int = 0) -> list[float]:
    """``n`` join times, uniformly at random within ``window_s`` (seeded), sorted; the first at 0."""
    if not 1 <= n <= MAX_PHONES:
        raise InputError(f"phones must be in 1..{MAX_PHONES}, got {n}")
    if not 0 <= window_s <= 120:
        raise InputError(f"join window must be in [0, 120] s, got {window_s}")
    t = np.sort(np.random.default_rng(seed).uniform(0, window_s, n))
    return [0.0] + [float(x) for x in t[1:]] if n else []


async def light_client(url: str, t0: float, join_s: float, variant: str, binary: str,
                       identity: bool = False) -> Phone:
    """Download what the page downloads, in the page's order, starting at ``t0 + join_s``
    (``time.perf_counter`` clock). ``identity``: refuse compression (the before-gzip bytes)."""
    ph = Phone("light", join_s)
    await asyncio.sleep(max(0.0, t0 + join_s - time.perf_counter()))
    headers = {"Accept-Encoding": "identity" if identity else "gzip, deflate"}
    conn = aiohttp.TCPConnector(limit_per_host=CONNECTIONS, force_close=False)

    async def get(http: aiohttp.ClientSession, path: str) -> bytes:
        async with http.get(url + path, headers=headers) as r:
            body = await r.read()
            if r.status != 200:
                raise RuntimeError(f"GET {path} → {r.status}")
            ph.bytes += int(r.headers.get("Content-Length") or len(body))
            ph.requests += 1
            return body

    try:
        async with aiohttp.ClientSession(connector=conn, auto_decompress=True) as http:
            await get(http, "/")
            cfg_task = asyncio.ensure_future(get(http, "/config"))
            files = [asyncio.ensure_future(get(http, p)) for p in PAGE_FILES]
            cfg = json.loads(await cfg_task)
            files += [asyncio.ensure_future(get(http, p)) for p in DETECTOR_FILES]
            files.append(asyncio.ensure_future(get(http, f"/vendor/tfjs-backend-wasm/{WASM_FILES[binary]}")))
            names = [v["name"] for v in cfg.get("variants", [])]
            if variant not in names:
                raise RuntimeError(f"variant {variant!r} not on the server ({names})")
            base = f"/model/{variant}"
            mj = json.loads(await get(http, f"{base}/model.json"))
            files += [asyncio.ensure_future(get(http, f"{base}/{p}"))
                      for g in mj.get("weightsManifest", []) for p in g["paths"]]
            await asyncio.gather(*files)
        ph.done_s = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - a phone that fails is a result
        ph.error = f"{type(e).__name__}: {e}"
    return ph


async def light_clients(url: str, t0: float, joins: list[float], variant: str, binary: str,
                        identity: bool = False) -> list[Phone]:
    return list(await asyncio.gather(*(light_client(url, t0, j, variant, binary, identity) for j in joins)))


_PAGE_READ = """() => {
  const res = performance.getEntriesByType('resource');
  const nav = performance.getEntriesByType('navigation')[0] || {};
  return {first: hlState.first_prediction_ms, err: hlState.error, wasm: hlState.wasm, backend: hlState.backend,
    last_byte: Math.max(nav.responseEnd || 0, ...res.map((e) => e.responseEnd)),
    bytes: res.reduce((a, e) => a + (e.transferSize || 0), 0) + (nav.transferSize || 0),
    requests: res.length + 1, timeline: hlState.timeline};
}"""


def run_pages(url: str, t0: float, joins: list[float], fake_video: Any, query: str = "",
              cpu_throttle: float = 4.0, timeout_s: float = 120.0) -> list[Phone]:
    """Real pages (one Chromium, a context each), opened at their join times; waits for each
    page's first prediction (or error, or ``timeout_s`` after the last join)."""
    return browser.run_sync(_run_pages, url, t0, joins, fake_video, query, cpu_throttle, timeout_s)


def _run_pages(url: str, t0: float, joins: list[float], fake_video: Any, query: str, cpu_throttle: float,
               timeout_s: float) -> list[Phone]:
    out: list[Phone] = []
    with browser.launch(fake_video=fake_video) as ctx0:
        opened = []
        for j in joins:
            time.sleep(max(0.0, t0 + j - time.perf_counter()))
            ctx = ctx0.browser.new_context(viewport={"width": 800, "height": 600})
            page = ctx.new_page()
            if cpu_throttle != 1.0:
                ctx.new_cdp_session(page).send("Emulation.setCPUThrottlingRate", {"rate": float(cpu_throttle)})
            nav_s = time.perf_counter() - t0
            page.goto(f"{url}/?{query}", wait_until="commit")
            opened.append((j, nav_s, ctx, page))
        deadline = time.perf_counter() + timeout_s
        for j, nav_s, ctx, page in opened:
            ph = Phone("page", j)
            try:
                left = max(1.0, deadline - time.perf_counter()) * 1000
                page.wait_for_function("() => window.hlState && (hlState.first_prediction_ms || hlState.error)",
                                       timeout=left)
                r = page.evaluate(_PAGE_READ)
                ph.error = r["err"]
                ph.bytes, ph.requests = int(r["bytes"]), int(r["requests"])
                # the page's clock starts at its navigation; nav_s is when we asked for it
                ph.done_s = nav_s + r["last_byte"] / 1000
                ph.first_s = nav_s + r["first"] / 1000 if r["first"] else None
                ph.detail = {"wasm": r["wasm"], "backend": r["backend"], "timeline": r["timeline"],
                             "first_ms": r["first"], "last_byte_ms": r["last_byte"]}
            except Exception as e:  # noqa: BLE001 - a page that fails is a result
                ph.error = f"{type(e).__name__}: {e}"
            out.append(ph)
            ctx.close()
    return out


def compute_tail_s(pages: list[Phone]) -> float | None:
    """Median over the real pages of first prediction − last asset arrived (the page's CPU
    work that no download hides), or None when no page predicted."""
    tails = [p.first_s - p.done_s for p in pages if p.first_s is not None and p.done_s is not None]
    return float(np.median(tails)) if tails else None


def summarize(phones: list[Phone], server: dict[str, Any], link: dict[str, Any]) -> dict[str, Any]:
    """The room in numbers: first prediction after joining (p50/p95/max, per kind), bytes per
    phone, the server's CPU, the link's use."""
    def stats(xs: list[float]) -> dict[str, float | None]:
        if not xs:
            return {"n": 0, "p50": None, "p95": None, "max": None}
        a = np.asarray(xs)
        return {"n": len(xs), "p50": round(float(np.percentile(a, 50)), 3),
                "p95": round(float(np.percentile(a, 95)), 3), "max": round(float(a.max()), 3)}

    wait = {k: [p.first_s - p.join_s for p in phones if p.kind == k and p.first_s is not None]
            for k in ("page", "light")}
    dl = [p.done_s - p.join_s for p in phones if p.done_s is not None]
    return {"phones": len(phones), "failed": sum(p.error is not None for p in phones),
            "no_prediction": sum(p.error is None and p.first_s is None for p in phones),
            "first_prediction_s": {"all": stats(wait["page"] + wait["light"]), "pages": stats(wait["page"]),
                                   "light": stats(wait["light"])},
            "download_s": stats(dl),
            "bytes_per_phone": int(np.median([p.bytes for p in phones if p.bytes])) if any(p.bytes for p in phones) else 0,
            "server": server, "link": link}


def as_records(phones: list[Phone]) -> list[dict[str, Any]]:
    return [asdict(p) for p in phones]


class CpuSampler:
    """Samples a server process's CPU-seconds every ``every_s`` in a thread (peak and mean %)."""

    def __init__(self, sample: Any, every_s: float = 0.5) -> None:
        self.sample, self.every_s = sample, every_s
        self.points: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name="classroom-cpu", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            t, cpu, _ = self.sample()
            self.points.append((t, cpu))
            self._stop.wait(self.every_s)

    def __enter__(self) -> Self:
        self._t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._t.join(10)
        t, cpu, _ = self.sample()
        self.points.append((t, cpu))

    def summary(self) -> dict[str, float | None]:
        """CPU-seconds used, mean and peak % of one core (peak over ``every_s`` windows)."""
        if len(self.points) < 2:
            return {"cpu_s": None, "mean_pct": None, "peak_pct": None}
        (ta, ca), (tb, cb) = self.points[0], self.points[-1]
        rates = [100 * (c2 - c1) / (t2 - t1) for (t1, c1), (t2, c2) in zip(self.points, self.points[1:]) if t2 > t1]
        return {"cpu_s": round(cb - ca, 3), "mean_pct": round(100 * (cb - ca) / max(tb - ta, 1e-9), 1),
                "peak_pct": round(max(rates), 1) if rates else None, "window_s": round(tb - ta, 2)}
