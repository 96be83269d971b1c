"""The aiohttp server: the browser app, TF.js models, ``/split`` tails, health and metrics.

One short file in the spirit of aiortc's ``examples/server/server.py`` (docs/ARCHITECTURE.md, Conventions):
:func:`make_app` lists every route. Two modes share it (docs/ARCHITECTURE.md, Serving contract):

* **hybrid** — the server sends the page, TF.js, the face detector and the model once;
  the browser does all per-frame work. ``POST /split/<k>`` additionally runs the tail of
  the CNN from layer ``k`` on a tensor the browser (or a partition experiment) posts.
* **split** — the page probes the link, asks ``POST /plan`` for the cut, runs the head
  (``GET /head/<k>/…``) and posts its tensor to ``/split/<k>``: :mod:`hybridlib.serving.splitmode`.
* **exit** — the page runs the edge model (branch + converter), exits when its entropy is
  below the threshold, else posts the quantised code to ``/split/conv_encC``: :mod:`hybridlib.serving.exitmode`.
* **cloud** — the same page streams the camera over WebRTC; ``hybridlib.serving.cloud.setup_cloud``
  (imported lazily) adds ``POST /offer``, its metrics and its shutdown hooks.

Routes: ``GET /`` (app), ``GET /app.js|style.css|cloud.js|…`` (files in ``web/``),
``GET /config`` (mode, model variants, class names, input convention), ``GET /vendor/…``
(only whitelisted files from ``node_modules``: see :data:`hybridlib.browser.VENDOR`),
``GET /model/<variant>/<file>``, ``GET /healthz``, ``GET /metrics``, ``POST /split/<k>``.

Bad input never gives a 500: :func:`error_middleware` turns every HTTP error into JSON
``{"error": …}`` and :class:`~hybridlib.utils.InputError` into a 400 (413 for a ``/split``
body that is, or decompresses to, more than its declared tensor: :mod:`hybridlib.wire`).
Every route that serves a file goes through :func:`safe_file` (resolve, then check the
result is inside the route's folder), so ``..`` in any encoding and symlinks out are 404. Inference runs on a
one-thread executor (TF is not re-entrant and the event loop must stay free).
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import time
import warnings
from collections import Counter, deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import psutil
from aiohttp import web

from hybridlib import browser, wire
from hybridlib.browser import VENDOR, node_modules, vendor_file
from hybridlib.data.fer import CLASS_NAMES
from hybridlib.profiling import devices
from hybridlib.serving import cloud, exitmode, ray_media, splitmode
from hybridlib.serving.http import (
    GZIP_CACHE,
    MAX_SPLIT_BODY,
    decode_tensor,
    error_middleware_factory,
    json_error,
    safe_file,
    static_response,
)
from hybridlib.serving.options import DEFAULT_MAX_SESSIONS, MODES, check_max_sessions, check_pipeline
from hybridlib.serving.tails import TailRunner
from hybridlib.utils import InputError, atomic_path, loop_thread, percentile

log = logging.getLogger(__name__)

WEB_DIR = Path(__file__).resolve().parent / "web"
CODECS = wire.CODECS
DTYPES = {k: v.type for k, v in wire.DTYPES.items()}  # the element types the wire carries
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")


# ----------------------------------------------------------------------------- models


def list_variants(models_dir: Path | None) -> list[dict[str, Any]]:
    """TF.js model variants under ``models_dir`` (each ``<variant>/model.json``), fp32 first."""
    if models_dir is None or not models_dir.is_dir():
        return []
    order = {"fp32": 0, "float16": 1, "uint8": 2}
    out = []
    for d in sorted(models_dir.iterdir(), key=lambda p: (order.get(p.name, 9), p.name)):
        if (d / "model.json").is_file() and _SAFE_NAME.match(d.name):
            size = sum(p.stat().st_size for p in d.iterdir() if p.is_file() and p.name != "manifest.json")
            out.append({"name": d.name, "url": f"/model/{d.name}/model.json", "bytes": size})
    return out


# ----------------------------------------------------------------------------- split payloads


# ----------------------------------------------------------------------------- static files


# ----------------------------------------------------------------------------- handlers


#: Cache-Control per kind of file (all carry an ETag, so ``no-cache`` = one 304 round trip on a
#: revisit). The app's own files and the models may change under the same name (an edit, a
#: re-export): revalidate. The npm assets only change with package.json: a day, then revalidate.
CACHE_APP = "no-cache"
CACHE_MODEL = "no-cache"
CACHE_VENDOR = "public, max-age=86400"


async def index(request: web.Request) -> web.StreamResponse:
    p = safe_file(request.app["web_dir"], "index.html")
    if p is None:
        raise json_error(404, "no app page on this server")
    # the page's mode in the html (not only in /config): hybrid pages start the detector's
    # script at once instead of one /config round trip later; cloud pages skip it
    html = p.read_text(encoding="utf-8").replace('data-mode=""', f'data-mode="{request.app["mode"]}"', 1)
    if request.app["mode"] == "cloud":  # the server detects: no 1.3 MB detector script per phone
        html = html.replace('<link rel="preload" as="script" href="/vendor/face-api/face-api.js">', "", 1)
    return web.Response(text=html, content_type="text/html", headers={"Cache-Control": "no-store"})


async def web_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    p = safe_file(request.app["web_dir"], name) if _SAFE_NAME.match(name) else None
    if p is None:
        raise json_error(404, f"no such file: /{name[:100]}")
    return await static_response(request, p, CACHE_APP)


async def vendor(request: web.Request) -> web.StreamResponse:
    rel = request.match_info["path"]
    prefix, _, name = rel.partition("/")
    p = vendor_file(rel)  # the whitelist; then the same containment check as every file route
    if p is not None:
        p = safe_file(node_modules() / VENDOR[prefix][0], *name.split("/"))
    if p is None:
        raise json_error(404, f"no such vendor file: {rel[:100]} (only the app's npm assets are served)")
    return await static_response(request, p, CACHE_VENDOR)


async def model_file(request: web.Request) -> web.StreamResponse:
    variant, name = request.match_info["variant"], request.match_info["name"]
    models_dir: Path | None = request.app["models_dir"]
    ok = models_dir is not None and _SAFE_NAME.match(variant) and _SAFE_NAME.match(name)
    p = safe_file(models_dir, variant, name) if ok else None  # type: ignore[arg-type]
    if p is None:
        raise json_error(404, f"model file {variant[:100]}/{name[:100]} not found on the server")
    return await static_response(request, p, CACHE_MODEL)


#: face-api's tiny face detector at inputSize 320: on the astronaut clip 224 adds a second,
#: false box (score ≤ 0.6) in most frames, 320 finds exactly the face (0.85+) and nothing on
#: coffee/chelsea; 416 costs more and sees a 0.32 box on coffee (measured in Chromium, wasm).
DETECTOR = {"name": "face-api tiny_face_detector", "input_size": 320, "score_threshold": 0.5,
            "weights": "/vendor/face-api-model/"}


#: the npm files the app page downloads (compressed once at start-up: :func:`make_app`)
PAGE_ASSETS = ("face-api/face-api.js", "tfjs-backend-wasm/tfjs-backend-wasm-threaded-simd.wasm",
               "tfjs-backend-wasm/tfjs-backend-wasm-simd.wasm",
               "face-api-model/tiny_face_detector_model-weights_manifest.json",
               "face-api-model/tiny_face_detector_model.bin")


async def config_handler(request: web.Request) -> web.Response:
    app = request.app
    variants = list_variants(app["models_dir"])
    return web.json_response({
        "mode": app["mode"], "pipeline": app["pipeline"], "max_sessions": app["max_sessions"],
        "variants": variants, "default_variant": variants[0]["name"] if variants else None,
        "class_names": list(CLASS_NAMES),
        "input": {"shape": [48, 48, 1], "dtype": "float32", "scale": "gray / 255",
                  "gray": "0.299 R + 0.587 G + 0.114 B", "layout": "NHWC"},
        "detector": DETECTOR,
        "backend": "wasm",
        "split": app["model_path"] is not None,
        "exit": app.get("exit_config"),
    })


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"ok": True, "mode": request.app["mode"]})


async def metrics(request: web.Request) -> web.Response:
    app = request.app
    st = app["stats"]
    out: dict[str, Any] = {
        "mode": app["mode"], "uptime_s": round(time.monotonic() - st["t0"], 3),
        "sessions": 0, "split_requests": st["split_requests"], "split_errors": st["split_errors"],
        "split_ms_p50": percentile(st["split_ms"], 50, digits=3),
        "split_ms_p95": percentile(st["split_ms"], 95, digits=3),
        "bytes_in": st["bytes_in"], "bytes_out": st["bytes_out"],
        "split_layers": dict(st["split_layers"]),
        "process_cpu_percent": _cpu_percent(app),
    }
    for provider in app["metrics_providers"]:
        try:
            out.update(provider())
        except Exception:  # noqa: BLE001 - one broken provider must not hide the rest
            log.exception("metrics provider %r failed", provider)
    return web.json_response(out)


def _cpu_percent(app: web.Application) -> float | None:
    try:
        proc = app.get("psutil_proc")
        if proc is None:
            proc = psutil.Process()
            proc.cpu_percent(None)
            app["psutil_proc"] = proc
            return 0.0
        return float(proc.cpu_percent(None))
    except Exception:  # noqa: BLE001
        return None


async def split_handler(request: web.Request) -> web.Response:
    app = request.app
    st = app["stats"]
    st["split_requests"] += 1
    try:
        layer = request.match_info["layer"]
        runner: TailRunner = app["tail_runner"]
        loop = asyncio.get_running_loop()
        if request.content_length is not None and request.content_length > MAX_SPLIT_BODY:
            raise json_error(413, f"body of {request.content_length} bytes exceeds {MAX_SPLIT_BODY}")
        body = await request.read()
        st["bytes_in"] += len(body)
        sp = await loop.run_in_executor(app["executor"], runner.split, layer)
        if sp.n_tensors != 1:
            raise InputError(f"a cut after {sp.layer!r} needs {sp.n_tensors} tensors "
                             f"({', '.join(sp.cut)}); /split takes one — choose a chain cut point")
        x = decode_tensor(body, request.headers, sp.shapes[0])
        t0 = time.perf_counter()
        probs, name = await loop.run_in_executor(app["executor"], runner.run, layer, x)
        ms = (time.perf_counter() - t0) * 1000
        st["split_ms"].append(ms)
        if probs.shape[-1] == len(CLASS_NAMES):
            rows = [{"probs": {c: float(p) for c, p in zip(CLASS_NAMES, row)},
                     "emotion": CLASS_NAMES[int(np.argmax(row))]} for row in probs]
        else:  # another classifier (e.g. AlexNet's 1000 classes): probabilities as a list
            rows = [{"probs": [float(p) for p in row], "emotion": None, "top1": int(np.argmax(row))}
                    for row in probs]
        st["split_layers"][name] += 1
        for observe in app.get("split_observers", ()):  # e.g. split mode's load signal
            observe(name, ms, len(rows))
        out = {**rows[0], "layer": name, "server_ms": round(ms, 3)}
        if len(rows) > 1:
            out["batch"] = rows
        resp = web.json_response(out)
        st["bytes_out"] += len(resp.body)
        return resp
    except (InputError, web.HTTPException):
        st["split_errors"] += 1
        raise


# ----------------------------------------------------------------------------- app


#: Cross-origin isolation: with these on every response (page, scripts, wasm, models, errors)
#: the page is ``crossOriginIsolated``, which SharedArrayBuffer — and so TF.js' multi-threaded
#: wasm binary — requires. Everything the page loads is served from this origin, so
#: ``require-corp`` blocks nothing of ours.
ISOLATION_HEADERS = {"Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp",
                     "Cross-Origin-Resource-Policy": "same-origin"}


async def add_isolation_headers(request: web.Request, response: web.StreamResponse) -> None:
    for k, v in ISOLATION_HEADERS.items():
        response.headers.setdefault(k, v)


def make_app(mode: str = "hybrid", model_path: str | os.PathLike[str] | None = None,
             models_dir: str | os.PathLike[str] | None = None, max_sessions: int = DEFAULT_MAX_SESSIONS,
             pipeline: str = "ours", web_dir: str | os.PathLike[str] | None = None,
             heads_dir: str | os.PathLike[str] | None = None,
             split_profile: str | os.PathLike[str] | None = None, split_wire: str = "float32",
             exit_bundle: str | os.PathLike[str] | None = None, exit_threshold: float | None = None,
             isolated: bool = True, **cloud_options: Any) -> web.Application:
    """Build the aiohttp application (see module doc for routes).

    ``model_path``: the tf_keras ``.h5`` (``/split`` tails; the cloud classifier).
    ``models_dir``: folder of TF.js variants (``<variant>/model.json``) served to the page;
    the page reports "model failed to load" when it is empty or a file is missing.
    ``web_dir``: the app's files (default: the packaged ``web/``; tests pass a copy).
    ``exit_bundle``/``exit_threshold``: exit mode's bundle and threshold (:mod:`.exitmode`).
    ``isolated``: send the cross-origin isolation headers (:data:`ISOLATION_HEADERS`) on every
    response, so the page may use TF.js' threaded wasm; ``False`` only to measure without them.
    """
    if mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}; got {mode!r}")
    check_pipeline(pipeline)
    check_max_sessions(max_sessions)
    mp = Path(model_path) if model_path else None
    if mp is not None and not mp.is_file():
        raise InputError(f"model file {mp} does not exist")
    md = Path(models_dir) if models_dir else None
    if md is not None and not md.is_dir():
        raise InputError(f"models directory {md} does not exist")

    app = web.Application(middlewares=[error_middleware_factory()], client_max_size=MAX_SPLIT_BODY)
    if isolated:
        app.on_response_prepare.append(add_isolation_headers)
    # String keys are the contract other modules use (app["metrics_providers"]); silence
    # aiohttp's AppKey recommendation rather than break them.
    warnings.filterwarnings("ignore", category=getattr(web, "NotAppKeyWarning", UserWarning),
                            module=__name__)
    app["mode"], app["pipeline"], app["max_sessions"] = mode, pipeline, max_sessions
    app["model_path"], app["models_dir"] = mp, md
    app["web_dir"] = Path(web_dir) if web_dir else WEB_DIR
    app["metrics_providers"] = []
    app["stats"] = {"t0": time.monotonic(), "split_requests": 0, "split_errors": 0,
                    "split_ms": deque(maxlen=1000), "bytes_in": 0, "bytes_out": 0,
                    "split_layers": Counter()}
    app["tail_runner"] = TailRunner(mp)
    app["executor"] = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hl-split")

    r = app.router
    r.add_get("/", index)
    r.add_get("/config", config_handler)
    r.add_get("/healthz", healthz)
    r.add_get("/metrics", metrics)
    r.add_get("/vendor/{path:.+}", vendor)
    r.add_get("/model/{variant}/{name}", model_file)
    r.add_post("/split/{layer}", split_handler)
    r.add_get("/{name}", web_file)

    async def _close_executor(app: web.Application) -> None:
        app["executor"].shutdown(wait=False, cancel_futures=True)

    async def _warm_gzip(app: web.Application) -> None:
        # the page's compressible assets, compressed in the background at start-up
        files = [vendor_file(rel) for rel in PAGE_ASSETS]
        files += [p for v in list_variants(app["models_dir"]) for p in (app["models_dir"] / v["name"]).iterdir()]
        fut = asyncio.get_running_loop().run_in_executor(None, GZIP_CACHE.warm, [f for f in files if f])
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # never an unretrieved error

    # a cloud page downloads none of these (no detector, wasm or model: the server detects and
    # classifies), and a cloud server's CPU is what the load study measures: no start-up work there
    if mode != "cloud":
        app.on_startup.append(_warm_gzip)
    app.on_cleanup.append(_close_executor)
    if mode == "cloud":
        if cloud_options.get("media_workers"):  # --max-sessions is per worker: the cluster admits workers × that
            cfg = cloud.CloudConfig(max_sessions=max_sessions, pipeline=pipeline, **cloud_options)
            ray_media.setup_ray_media(app, mp, cfg.media_workers, cfg.max_sessions, cfg.ray_address,
                                      model_tier=cfg.backend == "ray", answer_timeout_s=cfg.answer_timeout_s)
        else:
            cloud.setup_cloud(app, model_path=mp, max_sessions=max_sessions, pipeline=pipeline, **cloud_options)
    elif mode == "split":
        splitmode.setup_split(app, heads_dir=heads_dir, profile_path=split_profile, wire=split_wire)
    elif mode == "exit":
        exitmode.setup_exit(app, exit_bundle, exit_threshold)
    return app


@contextlib.contextmanager
def run_in_thread(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Run ``app`` on its own event loop in a background thread; yield ``http://host:port``.

    For tests, notebooks and benchmarks that need a real server beside synchronous code
    (Playwright's sync API). Port 0 picks a free port.
    """
    async def _start() -> tuple[int, Any]:
        runner = web.AppRunner(app, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        return runner.addresses[0][1], runner.cleanup

    with loop_thread(_start, host, name="hybridlib-serve") as url:
        yield url


def measure_app(url: str, fake_video: str | os.PathLike[str], variants: list[str],
                frames: int = 15, screenshot: str | os.PathLike[str] | None = None,
                screenshot_variant: str | None = None, timeout_s: float = 180,
                cpu_throttle: float = 1.0, query: str = "") -> list[dict[str, Any]]:
    """Open the running app in headless Chromium (fake camera = ``fake_video``) once per variant,
    each in a fresh browser context (empty cache), and read back what the page measured:

    ``ttfp_ms`` (model download + warm-up), ``first_prediction_ms`` (navigation start → first
    classified face), and the median per-stage ms (detect, crop, cnn, total) and FPS over
    ``frames`` frames. Saves a PNG screenshot of ``screenshot_variant`` (default: the first).
    ``cpu_throttle``: DevTools CPU throttling of the page (4 = Lighthouse's phone); ``query``:
    extra URL parameters (e.g. ``"&threads=1"``). Rows carry what wasm ran (binary, threads).
    """

    return browser.run_sync(_measure_app, url, fake_video, variants, frames, screenshot,
                            screenshot_variant, timeout_s, cpu_throttle, query)


def _measure_app(url: str, fake_video: Any, variants: list[str], frames: int, screenshot: Any,
                 screenshot_variant: str | None, timeout_s: float, cpu_throttle: float = 1.0,
                 query: str = "") -> list[dict[str, Any]]:
    rows = []
    shot_v = screenshot_variant or variants[0]
    with browser.launch(fake_video=fake_video) as ctx0:
        for v in variants:
            ctx = ctx0.browser.new_context(viewport={"width": 1280, "height": 860})
            try:
                page = ctx.new_page()
                page.set_default_timeout(timeout_s * 1000)
                if cpu_throttle != 1.0:  # the one device-emulation helper (checks the rate, keeps the session)
                    devices.set_cpu_throttle(page, cpu_throttle)
                page.goto(f"{url}/?variant={v}{query}")
                page.wait_for_function("() => window.hlState && (hlState.ready || hlState.error)")
                st = page.evaluate("() => hlState")
                if st.get("error"):
                    rows.append({"variant": v, "error": st["error"]})
                    continue
                samples = []
                last = page.evaluate("() => hlState.frames")
                for _ in range(frames):
                    page.wait_for_function(f"() => hlState.frames > {last}")
                    s = page.evaluate("() => ({f: hlState.frames, st: hlState.stages, n: hlState.faces.length,"
                                      " fps: hlState.fps})")
                    last = s["f"]
                    samples.append(s)
                st = page.evaluate("() => hlState")
                # with tracking, detection runs every k-th frame: its per-frame ms is 0 in between,
                # so the detector's own cost is ``detect_every`` (median over frames that detected)
                med = {k: float(np.median([s["st"].get(k) or 0.0 for s in samples]))
                       for k in ("detect", "crop", "cnn", "total")}
                every = [s["st"].get("detect_every") for s in samples if s["st"].get("detect_every")]
                med["detect_every"] = float(np.median(every)) if every else med["detect"]
                rows.append({"variant": v, "backend": st["backend"], **{f"{k}_ms": m for k, m in med.items()},
                             "fps": float(samples[-1]["fps"]), "faces_per_frame": float(np.mean([s["n"] for s in samples])),
                             "ttfp_ms": st["ttfp_ms"][v]["total_ms"], "model_load_ms": st["ttfp_ms"][v]["load_ms"],
                             "warmup_ms": st["ttfp_ms"][v]["warmup_ms"],
                             "first_prediction_ms": st.get("first_prediction_ms"),
                             "label": st.get("label"), "video": st.get("video"), "wasm": st.get("wasm"),
                             "cpu_throttle": float(cpu_throttle)})
                if screenshot and v == shot_v:
                    with atomic_path(screenshot) as tmp:
                        page.screenshot(path=str(tmp.with_suffix(".png")))
                        tmp.with_suffix(".png").replace(tmp)
            finally:
                ctx.close()
    return rows
