"""``POST /split`` bounds what it decompresses: bombs in every codec and over-size raw bodies
get a 413 JSON answer, the server's memory stays bounded, and it keeps serving.

The server runs in this process (a background thread), so ``tracemalloc`` sees its Python
allocations: the aiohttp body buffer, the decoder, the answer.
"""
from __future__ import annotations

import http.client
import json
import tracemalloc
import zlib
from urllib.parse import urlsplit

import numpy as np
import pytest

from hybridlib.serving import app as serve

from hybridlib.serving import http as serve_http

GIB = 1 << 30
SHAPE = "1,12,12,64"  # pool2's output in the emotion CNN: 36,864 bytes as float32


@pytest.fixture(scope="module")
def split_url(untrained_h5):
    app = serve.make_app("hybrid", model_path=untrained_h5)
    with serve.run_in_thread(app) as url:
        yield url


def _post(url: str, path: str, body, headers: dict, chunked: bool = False) -> tuple[int, dict]:
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=120)
    try:
        c.request("POST", path, body=body, headers=headers, encode_chunked=chunked)
        r = c.getresponse()
        return r.status, json.loads(r.read())
    except (BrokenPipeError, ConnectionResetError):  # the server may answer 413 mid-upload
        r = c.getresponse()
        return r.status, json.loads(r.read())
    finally:
        c.close()


def _bomb(codec: str) -> bytes:
    import lz4.frame
    import zstandard

    z = b"\0" * (16 << 20)
    if codec == "zstd":
        c = zstandard.ZstdCompressor(level=1).compressobj(size=GIB)
        return b"".join(c.compress(z) for _ in range(64)) + c.flush()
    if codec == "lz4":
        c4 = lz4.frame.LZ4FrameCompressor()
        return c4.begin(GIB) + b"".join(c4.compress(z) for _ in range(64)) + c4.flush()
    cz = zlib.compressobj(9, zlib.DEFLATED, -15)
    blk = cz.compress(z) + cz.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(64):
        adler = zlib.adler32(z, adler)
    return b"\x78\xda" + blk * 64 + cz.flush() + adler.to_bytes(4, "big")


@pytest.mark.parametrize("codec", ["zlib", "zstd", "lz4"])
def test_split_bomb_is_413_and_memory_bounded(split_url, codec):
    ok_body, ok_h = serve_http.encode_tensor(np.zeros((1, 12, 12, 64), np.float32), "float32", codec)
    assert _post(split_url, "/split/pool2", ok_body, ok_h)[0] == 200  # warm: tail model built
    body = _bomb(codec)
    assert len(body) < serve_http.MAX_SPLIT_BODY  # gets past the raw-size check: the codec must stop it
    tracemalloc.start()
    try:
        status, out = _post(split_url, "/split/pool2", body, {**ok_h, "X-Shape": SHAPE})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert status == 413, out
    assert "36864" in out["error"] and codec in out["error"]
    assert peak < 64 << 20, f"peak {peak / 1e6:.1f} MB for a body of {len(body) / 1e6:.1f} MB"
    assert _post(split_url, "/split/pool2", ok_body, ok_h)[0] == 200  # still serving


def test_oversize_raw_bodies_are_413(split_url):
    h = {"X-Shape": SHAPE, "X-Dtype": "float32", "X-Codec": "none"}
    # one byte more than the tensor needs
    status, out = _post(split_url, "/split/pool2", b"\0" * (36864 + 1), h)
    assert status == 413 and "36864" in out["error"]
    # past the server's body limit, sent chunked (no Content-Length to refuse up front)
    piece = b"\0" * (1 << 20)
    status, out = _post(split_url, "/split/pool2", iter([piece] * (serve_http.MAX_SPLIT_BODY // len(piece) + 2)),
                        h, chunked=True)
    assert status == 413 and "error" in out
    # and with a Content-Length that says so
    status, out = _post(split_url, "/split/pool2", b"\0" * (serve_http.MAX_SPLIT_BODY + 1), h)
    assert status == 413 and "error" in out
