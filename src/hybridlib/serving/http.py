"""HTTP pieces every serving mode shares: JSON errors, the ``/split`` tensor body, safe static
paths and cacheable, compressed static files.

Why a module of their own: the app and each mode (cloud, split, exit) answer bad input the same
way (4xx JSON ``{"error": …}``, never a 500) and read tensors with the same bounded decoder, so
these live below all of them.

Static files (:func:`static_response`): a page's first prediction waits on about 2.2 MB of
scripts, wasm and weights; in a classroom 30 phones fetch them over one Wi-Fi link. So every
file carries an ``ETag`` (a revisit costs a 304, not the bytes) and the route's
``Cache-Control``, and text-like files (JavaScript, wasm, JSON, CSS, weights that shrink) go
gzip-compressed to clients that accept it — compressed once per file version and kept in memory,
so 30 downloads cost the server one compression, not thirty.
"""
from __future__ import annotations

import asyncio
import gzip
import json
import logging
import mimetypes
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from aiohttp import web

from hybridlib import wire
from hybridlib.utils import InputError

log = logging.getLogger("hybridlib.serving.app")

MAX_SPLIT_BODY = 16 * 1024 * 1024
MAX_SPLIT_BATCH = 64


def error_middleware_factory() -> Callable:
    @web.middleware
    async def error_middleware(request: web.Request, handler: Callable) -> web.StreamResponse:
        """Every error becomes JSON ``{"error": …}``; bad input is 4xx, never a 500."""
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            msg = e.text if e.text and not e.text.startswith(f"{e.status}:") else e.reason
            if e.content_type == "application/json" and e.text:
                return web.Response(status=e.status, text=e.text, content_type="application/json",
                                    headers={k: v for k, v in e.headers.items() if k.lower() == "retry-after"})
            return web.json_response({"error": msg}, status=e.status)
        except InputError as e:  # wire errors carry 413 (too large) or 400
            return web.json_response({"error": str(e)}, status=getattr(e, "http_status", 400))
        except Exception as e:  # noqa: BLE001 - last resort: log, answer, keep serving
            log.exception("internal error on %s %s", request.method, request.path)
            return web.json_response({"error": f"internal error: {type(e).__name__}"}, status=500)

    return error_middleware


def json_error(status: int, message: str) -> web.HTTPException:
    cls = {400: web.HTTPBadRequest, 404: web.HTTPNotFound, 413: web.HTTPRequestEntityTooLarge,
           415: web.HTTPUnsupportedMediaType, 422: web.HTTPUnprocessableEntity,
           503: web.HTTPServiceUnavailable}.get(status, web.HTTPBadRequest)
    if cls is web.HTTPRequestEntityTooLarge:
        return cls(max_size=MAX_SPLIT_BODY, actual_size=0, text=json.dumps({"error": message}),
                   content_type="application/json")
    return cls(text=json.dumps({"error": message}), content_type="application/json")


def decode_tensor(body: bytes, headers: Any, expected: tuple[int, ...]) -> np.ndarray:
    """The ``/split`` body → float32 array ``N×expected`` (format: :mod:`hybridlib.wire`).

    Decompression is capped at the exact size ``X-Shape`` needs, so a small body that claims
    or expands to gigabytes is refused (:class:`~hybridlib.wire.PayloadTooLarge`, 413) after
    at most that many bytes; other defects are :class:`~hybridlib.wire.WireError` (400).
    """
    return wire.decode(body, headers, expected, max_batch=MAX_SPLIT_BATCH)


#: Client side of ``/split``: array → (body, headers); see :func:`hybridlib.wire.encode`.
encode_tensor = wire.encode


def safe_file(base: Path, *parts: str) -> Path | None:
    """``base/parts…`` if it is a file inside ``base`` once every link is resolved, else None.

    Refuses empty parts, ``.``/``..``, absolute parts, separators (``/``, ``\\``) and NUL inside
    a part — the decoded forms of ``%2E%2E``, ``%2F``, ``%5C``, ``%00`` — and anything (e.g. a
    symlink) whose resolved path leaves ``base``. Resolve first, then check containment:
    a name check alone cannot see where a symlink points.
    """
    for part in parts:
        if (not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part
                or Path(part).is_absolute()):
            return None
    try:
        root = base.resolve(strict=True)
        p = base.joinpath(*parts).resolve(strict=True)
    except (OSError, RuntimeError, ValueError):  # missing, a link loop, an odd name
        return None
    if not p.is_relative_to(root) or p == root or not p.is_file():
        return None
    return p


# ----------------------------------------------------------------------------- static files

#: Only files that shrink by at least this fraction are sent compressed (fp32 weights barely do).
GZIP_MIN_SAVING = 0.1
#: Files larger than this are sent as they are (compression would hold the file in memory).
GZIP_MAX_BYTES = 32 * 1024 * 1024
#: Compressed copies kept in memory, least recently used dropped first.
GZIP_CACHE_BYTES = 96 * 1024 * 1024
#: gzip level: 9 costs ~2× level 6's time once per file version for ~2% fewer bytes every download.
GZIP_LEVEL = 9
_TEXTLIKE = (".js", ".mjs", ".json", ".wasm", ".css", ".html", ".map", ".bin", ".txt", ".svg")

mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("text/javascript", ".js")


class _GzipCache:
    """gzip bodies of static files by (path, mtime, size); ``None`` = not worth compressing."""

    def __init__(self, limit_bytes: int = GZIP_CACHE_BYTES) -> None:
        self.limit = limit_bytes
        self.items: OrderedDict[tuple[str, int, int], bytes | None] = OrderedDict()
        self.size = 0
        self.lock = threading.Lock()
        self.pending: dict[tuple[str, int, int], threading.Lock] = {}
        # how many times each file (path) was compressed: once per version (tests read it per path,
        # since the start-up warm-up compresses other files meanwhile)
        self.compressions: Counter[str] = Counter()

    def _cached(self, key: tuple[str, int, int]) -> tuple[bool, bytes | None]:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return True, self.items[key]
            return False, None

    def get(self, path: Path, key: tuple[str, int, int]) -> bytes | None:
        hit, body = self._cached(key)
        if hit:
            return body
        # one compression per file version: phones that ask while it runs wait for it
        # (measured: 30 phones joining at once each compressed face-api.js, 1.3× slower room)
        with self.lock:
            file_lock = self.pending.setdefault(key, threading.Lock())
        with file_lock:
            hit, body = self._cached(key)
            if hit:
                return body
            raw = path.read_bytes()
            gz = gzip.compress(raw, GZIP_LEVEL, mtime=0)
            body = gz if len(gz) <= (1 - GZIP_MIN_SAVING) * len(raw) else None
            with self.lock:
                self.compressions[key[0]] += 1
                self.items[key] = body
                self.size += len(body or b"")
                while self.size > self.limit and len(self.items) > 1:
                    _, old = self.items.popitem(last=False)
                    self.size -= len(old or b"")
                self.pending.pop(key, None)
        return body

    def warm(self, paths: list[Path]) -> int:
        """Compress ``paths`` now (a server's start-up), so the first phone does not wait; →
        how many were compressible. Missing or unreadable files are skipped."""
        n = 0
        for p in paths:
            try:
                st = p.stat()
                if p.suffix in _TEXTLIKE and st.st_size <= GZIP_MAX_BYTES:
                    n += self.get(p, (str(p), st.st_mtime_ns, st.st_size)) is not None
            except OSError:
                continue
        return n


GZIP_CACHE = _GzipCache()


def _accepts_gzip(request: web.Request) -> bool:
    for part in request.headers.get("Accept-Encoding", "").split(","):
        name, _, q = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            return q.strip().replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _etag_matches(request: web.Request, etag: str) -> bool:
    inm = request.headers.get("If-None-Match", "")
    return any(t.strip() in (etag, "*", "W/" + etag) for t in inm.split(",")) if inm else False


async def static_response(request: web.Request, path: Path, cache_control: str) -> web.StreamResponse:
    """``path`` (already checked by :func:`safe_file`) with an ETag, ``cache_control`` and, where
    the client accepts gzip and the file is text-like and shrinks, its cached gzip body.

    ``If-None-Match`` with the current ETag → 304 without a body (how ``no-cache`` files stay
    cheap to revisit). The ETag differs between the plain and the gzip body (RFC 9110 §8.8.3).
    """
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    tag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
    ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers = {"Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    gz = None
    if path.suffix in _TEXTLIKE and st.st_size <= GZIP_MAX_BYTES and _accepts_gzip(request):
        gz = await asyncio.get_running_loop().run_in_executor(None, GZIP_CACHE.get, path, key)
    etag = f'"{tag}-gz"' if gz is not None else f'"{tag}"'
    headers["ETag"] = etag
    if _etag_matches(request, etag):
        return web.Response(status=304, headers=headers)
    if gz is None:
        return web.FileResponse(path, headers=headers)
    headers["Content-Encoding"] = "gzip"
    return web.Response(body=gz, headers=headers, content_type=ctype)
