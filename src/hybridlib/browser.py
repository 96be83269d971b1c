"""Headless Chromium for tests and measurements: launch it right, serve it files, run TF.js.

Why a module: three parts of the study run real browser code (parity of the TF.js export,
the hybrid app's integration tests, per-layer TF.js profiling) and every one of them trips
over the same things on these offline machines (docs/ARCHITECTURE.md, Pitfalls):

* Debian's ``/usr/bin/chromium`` is used through Playwright's ``executable_path``; never
  ``playwright install``.
* Without ``--disable-background-networking`` & co. the closed network refuses Chromium's
  own connections, many at a time, and pages stall.
* Playwright refuses ``--user-data-dir`` in ``args``: a plain ``launch()`` already uses a
  fresh temporary profile, so that is what :func:`launch` does.
* TF.js defaults to ``webgl`` on SwiftShader in headless Chromium (~15× slower than
  ``wasm``): pick the backend explicitly and record it with every timing.

The small API:

``chromium_path()``
    the browser binary (``$HYBRIDLIB_CHROMIUM`` overrides).
``CHROMIUM_FLAGS``, ``FAKE_CAMERA_FLAGS``
    the flag lists.
``launch(fake_video=None, headless=True, camera=True)``
    context manager → a Playwright ``BrowserContext`` (sync API); ``ctx.browser`` is the browser.
``serve_static({"/": dir, "/vendor/": ...})``
    context manager → base URL of a threaded HTTP server on a free 127.0.0.1 port.
``tfjs_page(context, base_url, backend="wasm")``
    opens the TF.js harness page (served by :func:`tfjs_routes`) with the backend set, so
    ``page.evaluate`` can call ``window.hl.*`` (see ``serving/web/harness/harness.js``) or plain ``tf``.
``tfjs_session(models={"full": dir}, backend="wasm")``
    all of the above in one ``with`` → ``(page, base_url)``.
``run_sync(fn, *args)`` / ``@off_loop``
    Playwright's sync API refuses to run in a thread with a running asyncio loop — which is
    every Jupyter kernel's main thread. Wrap the whole browser job (launch → results) in
    ``run_sync`` or decorate it with ``@off_loop``: it then runs in a worker thread.
"""
from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import http.server
import json
import logging
import mimetypes
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import numpy as np

from hybridlib.utils import HybridlibError, InputError, project_root

log = logging.getLogger(__name__)

#: docs/ARCHITECTURE.md, Pitfalls: the flags that make Chromium behave on a closed network.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
)
#: a camera that exists and is granted without a prompt
FAKE_CAMERA_FLAGS: tuple[str, ...] = (
    "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
)

#: URL prefix under /vendor/ → (npm package dist folder, allowed file names). Only these files
#: are ever served from node_modules: read-only, no listing, no traversal.
VENDOR: dict[str, tuple[str, tuple[str, ...]]] = {
    "tfjs": ("@tensorflow/tfjs/dist", ("tf.min.js", "tf.min.js.map", "tf.js")),
    "tfjs-backend-wasm": ("@tensorflow/tfjs-backend-wasm/dist", (
        "tf-backend-wasm.min.js", "tf-backend-wasm.min.js.map", "tf-backend-wasm.js",
        "tfjs-backend-wasm.wasm", "tfjs-backend-wasm-simd.wasm",
        "tfjs-backend-wasm-threaded-simd.wasm")),
    "face-api": ("@vladmandic/face-api/dist", ("face-api.js", "face-api.esm.js")),
    "face-api-model": ("@vladmandic/face-api/model", (
        "tiny_face_detector_model-weights_manifest.json", "tiny_face_detector_model.bin")),
}

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("application/json", ".map")


def chromium_path() -> str:
    """Path of the Chromium binary: ``$HYBRIDLIB_CHROMIUM``, ``/usr/bin/chromium``, or PATH."""
    env = os.environ.get("HYBRIDLIB_CHROMIUM")
    cands = [env] if env else []
    cands += ["/usr/bin/chromium", shutil.which("chromium") or "", shutil.which("chromium-browser") or ""]
    for c in cands:
        if c and os.access(c, os.X_OK):
            return c
    raise HybridlibError("Chromium not found: install Debian's `chromium` (apt-get install chromium) "
                         "or set HYBRIDLIB_CHROMIUM; never `playwright install`")


def have_chromium() -> bool:
    try:
        chromium_path()
        return True
    except HybridlibError:
        return False


def node_modules() -> Path:
    """The checkout's ``node_modules`` (``$HYBRIDLIB_NODE_MODULES`` overrides)."""
    env = os.environ.get("HYBRIDLIB_NODE_MODULES")
    return Path(env) if env else project_root() / "node_modules"


def vendor_file(relpath: str) -> Path | None:
    """Map ``"<prefix>/<file>"`` (the part after ``/vendor/``) to a file, or None if not allowed.

    Only names in :data:`VENDOR` pass, so ``..``, absolute paths and listings cannot escape.
    """
    prefix, _, name = relpath.partition("/")
    entry = VENDOR.get(prefix)
    if entry is None or name not in entry[1]:
        return None
    base = node_modules() / entry[0]
    try:  # resolve, then check containment: a whitelisted name may still be a link out
        root, p = base.resolve(strict=True), (base / name).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return p if p.is_relative_to(root) and p.is_file() else None


def missing_vendor_files() -> list[str]:
    """Allowed vendor files that are absent (``npm ci`` not run); maps excluded."""
    out = []
    for prefix, (_, names) in VENDOR.items():
        for n in names:
            if not n.endswith(".map") and n != "tf.js" and n != "tf-backend-wasm.js" \
                    and vendor_file(f"{prefix}/{n}") is None:
                out.append(f"{prefix}/{n}")
    return out


# ----------------------------------------------------------------------------- event loops


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
        return True
    except RuntimeError:
        return False


def run_sync(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)``; in a worker thread if this thread runs an asyncio loop
    (Jupyter), so Playwright's sync API works from notebooks. Exceptions propagate."""
    if not _loop_running():
        return fn(*args, **kwargs)

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hl-playwright") as ex:
        return ex.submit(fn, *args, **kwargs).result()


def off_loop(fn: Any) -> Any:
    """Decorator form of :func:`run_sync` for whole browser jobs."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run_sync(fn, *args, **kwargs)

    return wrapper


# ----------------------------------------------------------------------------- launch


@contextlib.contextmanager
def launch(fake_video: str | os.PathLike[str] | None = None, headless: bool = True,
           camera: bool = True, extra_args: tuple[str, ...] = (),
           viewport: tuple[int, int] = (1280, 860), deny_camera: bool = False) -> Iterator[Any]:
    """Start Chromium and yield a fresh Playwright ``BrowserContext`` (sync API).

    ``camera``: add the fake camera flags (granted without prompt); with ``fake_video`` the
    camera plays that y4m file in a loop, else Chromium's synthetic pattern. ``camera=False``
    gives a browser without any camera (getUserMedia → NotFoundError), which tests use for
    the "no camera" message; ``deny_camera=True`` keeps the camera but answers the permission
    prompt with "deny" (the "camera denied" message). The profile is a fresh temporary one
    (plain ``launch()``).
    """
    from playwright.sync_api import sync_playwright

    args = [a for a in CHROMIUM_FLAGS if a != "--headless" or headless]
    if camera and deny_camera:
        args += ["--use-fake-device-for-media-stream", "--deny-permission-prompts"]
    elif camera:
        args += list(FAKE_CAMERA_FLAGS)
        if fake_video is not None:
            fv = Path(fake_video)
            if not fv.is_file():
                raise InputError(f"fake video {fv} does not exist")
            args.append(f"--use-file-for-fake-video-capture={fv.resolve()}")
    args += list(extra_args)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=headless, args=args)
        try:
            ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            try:
                yield ctx
            finally:
                ctx.close()
        finally:
            browser.close()


# ----------------------------------------------------------------------------- static server


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free right now on ``host`` (tiny race window; fine for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class _Handler(http.server.BaseHTTPRequestHandler):
    # HTTP/1.1 keeps connections alive: a TF.js model in many weight shards is fetched over
    # the page's six connections per host in turn (with HTTP/1.0 a model of more than six
    # shards never finished loading here)
    protocol_version = "HTTP/1.1"
    routes: list[tuple[str, Path | Any]] = []
    headers_extra: dict[str, str] = {}

    def log_message(self, fmt: str, *a: Any) -> None:  # quiet; debug only
        log.debug("static: " + fmt, *a)

    def do_GET(self) -> None:  # noqa: N802
        path = unquote(urlsplit(self.path).path)
        for prefix, target in self.routes:
            if not path.startswith(prefix):
                continue
            rest = path[len(prefix):]
            if callable(target):
                f = target(rest)
            else:
                base = Path(target).resolve()
                f = (base / (rest or "index.html")).resolve()
                if base != f and base not in f.parents:
                    f = None
            if f is not None and Path(f).is_file():
                data = Path(f).read_bytes()
                self.send_response(200)
                ctype = mimetypes.guess_type(str(f))[0] or "application/octet-stream"
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                for k, v in self.headers_extra.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                return
        body = json.dumps({"error": f"not found: {path[:200]}"}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _StaticServer(http.server.ThreadingHTTPServer):
    request_queue_size = 64  # a page opens many connections at once: a deeper listen backlog
    daemon_threads = True


@contextlib.contextmanager
def serve_static(routes: Mapping[str, str | os.PathLike[str] | Any],
                 headers: Mapping[str, str] | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve directories on a free ``host`` port in a background thread; yield the base URL.

    ``routes`` maps URL prefixes (longest match first, e.g. ``"/model/full/"``, ``"/"``) to a
    directory, or to a callable ``rest -> Path | None`` (how ``/vendor/`` is served from the
    whitelist). Paths cannot leave their directory. ``headers`` are added to every answer
    (e.g. COOP/COEP for threaded wasm).
    """
    ordered = sorted(((p if p.endswith("/") else p + "/", t) for p, t in routes.items()),
                     key=lambda kv: -len(kv[0]))
    handler = type("Handler", (_Handler,), {"routes": ordered, "headers_extra": dict(headers or {})})
    server = _StaticServer((host, 0), handler)
    server.daemon_threads = True
    t = threading.Thread(target=server.serve_forever, name="hybridlib-static", daemon=True)
    t.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# ----------------------------------------------------------------------------- TF.js harness

#: page files (HTML and JavaScript) live in the web folder, never in Python strings
WEB_DIR = Path(__file__).resolve().parent / "serving" / "web"


def page_file(name: str) -> str:
    """The text of a page file under :data:`WEB_DIR` (e.g. ``"harness/harness.js"``): what a
    Playwright page evaluates or a static route serves."""
    p = (WEB_DIR / name).resolve()
    if not p.is_relative_to(WEB_DIR) or not p.is_file():
        raise InputError(f"no page file {name!r} under {WEB_DIR}")
    return p.read_text()


def tfjs_routes(models: Mapping[str, str | os.PathLike[str]] | None = None,
                extra: Mapping[str, Any] | None = None, workdir: str | os.PathLike[str] | None = None
                ) -> dict[str, Any]:
    """Routes for :func:`serve_static`: harness page at ``/``, ``/vendor/``, ``/model/<name>/``."""

    wd = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix="hl-harness-"))
    (wd / "index.html").write_text(page_file("harness/index.html"))
    (wd / "harness.js").write_text(page_file("harness/harness.js"))
    routes: dict[str, Any] = {"/": wd, "/vendor/": vendor_file}
    for name, d in (models or {}).items():
        if not (Path(d) / "model.json").is_file():
            raise InputError(f"model {name!r}: {d}/model.json does not exist")
        routes[f"/model/{name}/"] = Path(d)
    routes.update(extra or {})
    return routes


def tfjs_page(context: Any, base_url: str, backend: str = "wasm", timeout_s: float = 60) -> Any:
    """Open the harness page in ``context`` and switch TF.js to ``backend`` (wasm|webgl|cpu)."""
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    page.on("pageerror", lambda e: log.warning("page error: %s", e))
    page.goto(base_url + "/")
    page.wait_for_function("() => window.tf && window.hl")
    got = page.evaluate("b => hl.setBackend(b)", backend)
    log.info("tfjs backend %s", got)
    return page


@contextlib.contextmanager
def tfjs_session(models: Mapping[str, str | os.PathLike[str]] | None = None, backend: str = "wasm",
                 timeout_s: float = 120) -> Iterator[tuple[Any, str]]:
    """Serve the harness + ``models`` (name → TF.js dir), start Chromium, yield ``(page, base_url)``.

    Example::

        with tfjs_session({"full": out_dir}) as (page, url):
            page.evaluate("n => hl.load(n)", "full")
            res = page.evaluate("([n, x, s]) => hl.predict(n, x, s)", ["full", b64, [1, 48, 48, 1]])
            probs = f32_from_b64(res[0]["b64"]).reshape(res[0]["shape"])
    """

    missing = missing_vendor_files()
    if missing:
        raise HybridlibError(f"npm assets missing under {node_modules()}: {', '.join(missing)} (run `npm ci`)")
    with tempfile.TemporaryDirectory(prefix="hl-harness-") as wd, \
            serve_static(tfjs_routes(models, workdir=wd)) as url, \
            launch(camera=False) as ctx:
        t0 = time.perf_counter()
        page = tfjs_page(ctx, url, backend=backend, timeout_s=timeout_s)
        log.debug("harness ready in %.0f ms", (time.perf_counter() - t0) * 1000)
        yield page, url


def f32_to_b64(x: Any) -> str:
    """float32 array → base64 of its little-endian bytes (what ``hl.*`` accept as input)."""

    return base64.b64encode(np.ascontiguousarray(x, dtype="<f4").tobytes()).decode("ascii")


def f32_from_b64(s: str) -> Any:
    """base64 from ``hl.predict``/``hl.chain`` → flat float32 numpy array."""

    return np.frombuffer(base64.b64decode(s), dtype="<f4").copy()


@functools.lru_cache(maxsize=1)
def chromium_version() -> str:
    """``Chromium 1xx.…`` for provenance of browser timings (empty if unknown)."""

    try:
        return subprocess.run([chromium_path(), "--version"], capture_output=True, text=True,
                              timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001 - provenance only
        return ""


# ----------------------------------------------------------------------------- page CPU metrics


def page_metrics(page: Any, session: Any | None = None) -> tuple[dict[str, float], Any]:
    """The DevTools protocol's ``Performance.getMetrics`` for ``page`` → ``({name: value}, session)``.

    Why: in hybrid mode the cost moves from the server to the user's device; the page's own
    main-thread time (``TaskDuration``, ``ScriptDuration``: cumulative seconds) is that cost as
    Chromium accounts it. The first call opens a CDP session and enables the domain; pass the
    returned ``session`` back on later calls and take differences between two reads (the
    values are cumulative).
    """
    if session is None:
        session = page.context.new_cdp_session(page)
        session.send("Performance.enable")
    got = session.send("Performance.getMetrics")
    return {m["name"]: float(m["value"]) for m in got.get("metrics", [])}, session
