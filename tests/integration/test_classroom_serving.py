"""What a classroom needs from the server: cacheable, compressed assets (a test reads the headers
and the bytes) and admission control that admits exactly the cap of 30 phones asking at once,
telling the rest why."""
from __future__ import annotations

import asyncio
import gzip
import urllib.error
import urllib.request
from typing import Any

import pytest

from hybridlib.browser import vendor_file
from hybridlib.serving import app as serve
from hybridlib.serving import http as serve_http

pytestmark = pytest.mark.integration


def _get(url: str, headers: dict | None = None) -> tuple[int, Any, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, r.headers, r.read()  # (case-insensitive: aiohttp writes "Etag" or "ETag")
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_assets_are_cacheable_and_compressed(hybrid_url, tfjs_variants):
    gz = {"Accept-Encoding": "gzip, deflate, br"}
    cases = [("/vendor/face-api/face-api.js", vendor_file("face-api/face-api.js"), "max-age=86400", True),
             ("/vendor/tfjs-backend-wasm/tfjs-backend-wasm-threaded-simd.wasm",
              vendor_file("tfjs-backend-wasm/tfjs-backend-wasm-threaded-simd.wasm"), "max-age=86400", True),
             ("/model/fp32/model.json", tfjs_variants / "fp32" / "model.json", "no-cache", True),
             ("/app.js", serve.WEB_DIR / "app.js", "no-cache", True)]
    for path, file, cache, compressible in cases:
        raw = file.read_bytes()
        s, h, b = _get(hybrid_url + path, gz)
        assert s == 200 and cache in h["Cache-Control"] and h.get("ETag"), (path, h)
        assert "Accept-Encoding" in h.get("Vary", "")
        assert h.get("Content-Encoding") == "gzip" and len(b) < 0.9 * len(raw), path
        assert gzip.decompress(b) == raw, path  # the same bytes, only smaller on the wire
        assert int(h["Content-Length"]) == len(b)
        # a revisit with the ETag costs a 304 and no body
        s2, _, b2 = _get(hybrid_url + path, {**gz, "If-None-Match": h["ETag"]})
        assert s2 == 304 and b2 == b""
        # a client that does not accept gzip gets the file as it is, under another ETag
        s3, h3, b3 = _get(hybrid_url + path)
        assert s3 == 200 and b3 == raw and h3.get("Content-Encoding") is None and h3["ETag"] != h["ETag"]
        assert _get(hybrid_url + path, {"If-None-Match": h["ETag"]})[0] == 200
    s, h, _ = _get(hybrid_url + "/", gz)
    assert s == 200 and h["Cache-Control"] == "no-store"


def test_each_file_version_is_compressed_once(hybrid_url):
    path = "/vendor/face-api-model/tiny_face_detector_model-weights_manifest.json"
    _get(hybrid_url + path, {"Accept-Encoding": "gzip"})
    done = serve_http.GZIP_CACHE.compressions
    key = next(k for k in done if k.endswith("tiny_face_detector_model-weights_manifest.json"))
    n = done[key]
    for _ in range(5):
        assert _get(hybrid_url + path, {"Accept-Encoding": "gzip"})[1].get("Content-Encoding") == "gzip"
    assert done[key] == n == 1


def test_accept_encoding_rules():
    from aiohttp.test_utils import make_mocked_request

    def acc(v: str) -> bool:
        return serve_http._accepts_gzip(make_mocked_request("GET", "/", headers={"Accept-Encoding": v}))

    assert acc("gzip") and acc("br, gzip;q=0.5") and acc("*") and acc("GZIP")
    assert not acc("identity") and not acc("gzip;q=0") and not acc("br") and not acc("")


def test_page_names_its_mode_and_cloud_pages_skip_the_detector(untrained_h5, tfjs_variants):
    hyb = serve.make_app("hybrid", models_dir=tfjs_variants)
    with serve.run_in_thread(hyb) as url:
        html = _get(url + "/")[2].decode()
    preload = '<link rel="preload" as="script" href="/vendor/face-api/face-api.js">'
    assert 'data-mode="hybrid"' in html and preload in html
    cl = serve.make_app("cloud", model_path=untrained_h5)
    with serve.run_in_thread(cl) as url:
        html = _get(url + "/")[2].decode()
    assert 'data-mode="cloud"' in html and preload not in html


async def _offers(url: str, n: int) -> list[tuple[int, dict]]:
    import aiohttp
    from aiortc import RTCPeerConnection

    pcs = []
    try:
        offers = []
        for _ in range(n):
            pc = RTCPeerConnection()
            pc.addTransceiver("video", direction="sendrecv")
            pc.createDataChannel("results")
            await pc.setLocalDescription(await pc.createOffer())
            pcs.append(pc)
            offers.append({"sdp": pc.localDescription.sdp, "type": "offer"})
        async with aiohttp.ClientSession() as http:
            async def post(o: dict) -> tuple[int, dict]:
                async with http.post(f"{url}/offer", json=o) as r:
                    return r.status, await r.json(content_type=None)

            return list(await asyncio.gather(*(post(o) for o in offers)))  # all 30 at once
    finally:
        for pc in pcs:
            await pc.close()


def test_admission_admits_the_cap_of_thirty_and_tells_the_rest(untrained_h5):
    """30 phones ask at once against a cap of 3: exactly 3 answers, 27 refusals that say why."""
    app = serve.make_app("cloud", model_path=untrained_h5, max_sessions=3)
    with serve.run_in_thread(app) as url:
        got = asyncio.run(_offers(url, 30))
    ok = [b for s, b in got if s == 200]
    refused = [b for s, b in got if s == 503]
    assert len(ok) == 3 and len(refused) == 27, [s for s, _ in got]
    assert all(b["type"] == "answer" and "m=video" in b["sdp"] for b in ok)
    assert all(b["reason"] == "capacity" and b["max_sessions"] == 3 and "capacity" in b["error"] for b in refused)
