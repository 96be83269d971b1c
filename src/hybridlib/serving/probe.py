"""Link probes: the routes a page times to measure its uplink, downlink and round trip.

Why on the server: the split planner needs the link the page actually has, and only a transfer
to and from this server measures it (:func:`hybridlib.profiling.devices.measure_link` times them).
Used by split mode and by the executed-split study's tail server.
"""
from __future__ import annotations

import json
from typing import Any

from aiohttp import web

PROBE_MAX_BYTES = 16 * 1024 * 1024


def add_probe_routes(app: Any) -> None:
    """``POST /probe/upload`` (reads and counts the body) and ``GET /probe/download?bytes=N``
    (N zero bytes, N ≤ 16 MiB): what :func:`hybridlib.profiling.devices.measure_link` times."""

    async def upload(request: web.Request) -> web.Response:
        n = len(await request.read())
        return web.json_response({"bytes": n})

    async def download(request: web.Request) -> web.Response:
        try:
            n = int(request.query.get("bytes", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"error": "bytes must be an integer"}),
                                     content_type="application/json") from None
        if not 0 <= n <= PROBE_MAX_BYTES:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"bytes must be in 0..{PROBE_MAX_BYTES}"}),
                                     content_type="application/json")
        return web.Response(body=bytes(n), content_type="application/octet-stream",
                            headers={"Cache-Control": "no-store"})

    app.router.add_post("/probe/upload", upload)
    app.router.add_get("/probe/download", download)
