"""HTTP pieces every serving mode shares: JSON errors, the ``/split`` tensor body, safe static paths.

Why a module of their own: the app and each mode (cloud, split, exit) answer bad input the same
way (4xx JSON ``{"error": …}``, never a 500) and read tensors with the same bounded decoder, so
these live below all of them.
"""
from __future__ import annotations

import json
import logging
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
