"""The one tensor wire format (hybridlib.wire): round trips, strict headers, bounded decode."""
from __future__ import annotations

import tracemalloc
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hybridlib import partition
from hybridlib.study.early_exit import branches as early_exit
from hybridlib.serving import app as serve
from hybridlib.serving import http as serve_http
from hybridlib import wire

FLOAT16_MAX = 65504.0
SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _arrays(max_abs: float):
    shapes = hnp.array_shapes(min_dims=2, max_dims=4, min_side=1, max_side=6)
    m = float(np.float32(max_abs))
    elems = st.floats(-m, m, allow_nan=False, allow_infinity=False, width=32)
    return hnp.arrays(np.float32, shapes, elements=elems)


@SETTINGS
@given(x=_arrays(3e38), codec=st.sampled_from(wire.CODECS))
def test_float32_round_trip_is_exact(x, codec):
    body, h = wire.encode(x, "float32", codec)
    y = wire.decode(body, h, x.shape[1:])
    assert y.dtype == np.float32 and y.shape == x.shape
    assert np.array_equal(y, x)  # bit-exact (−0.0 == 0.0 is fine)


@SETTINGS
@given(x=_arrays(FLOAT16_MAX), codec=st.sampled_from(wire.CODECS))
def test_float16_round_trip_within_half_ulp(x, codec):
    body, h = wire.encode(x, "float16", codec)
    assert h["X-Dtype"] == "float16" and len(wire.decompress(body, codec, x.size * 2)) == x.size * 2
    y = wire.decode(body, h, x.shape[1:])
    # round to nearest: relative 2^-11, or 2^-25 absolute in the subnormal range
    assert np.all(np.abs(y - x) <= np.maximum(np.abs(x) * 2.0 ** -11, 2.0 ** -25))


@SETTINGS
@given(x=_arrays(1e30), codec=st.sampled_from(wire.CODECS))
def test_uint8_round_trip_within_one_step(x, codec):
    body, h = wire.encode(x, "uint8", codec)
    scale, zero = float(h["X-Scale"]), float(h["X-Zero-Point"])
    assert scale > 0 and zero == int(zero)
    y = wire.decode(body, h, x.shape[1:])
    err = np.abs(y.astype(np.float64) - x.astype(np.float64))
    # one quantisation step, plus float32 rounding of the result
    assert np.all(err <= scale * (1 + 1e-6) + np.abs(x) * 2.0 ** -23 + 1e-30)
    # the extremes map to the ends of the byte range (the whole 0..255 range is used)
    q = np.frombuffer(wire.decompress(body, codec, x.size), np.uint8)
    if x.max() > x.min():
        assert q.min() <= 1 and q.max() >= 254


@pytest.mark.parametrize("value", [0.0, 2.5, -3.75, 1e-3, 7e20])
def test_uint8_constant_tensor_decodes_exactly(value):
    """A constant map (a dead ReLU's zeros, a saturated unit) has no range to spread over 0..255:
    it must still come back as itself, not rounded to a step of 1 (2.5 once decoded as 2.0)."""
    x = np.full((1, 3, 3, 2), value, np.float32)
    body, h = wire.encode(x, "uint8")
    y = wire.decode(body, h, x.shape[1:])
    assert np.allclose(y, x, rtol=1e-6, atol=0)


@pytest.mark.parametrize("dtype", list(wire.DTYPES))
def test_known_bytes_little_endian(dtype):
    """Fixed vectors a JS client can be checked against."""
    x = np.array([[-1.0, 0.0, 1.0, 2.0]], np.float32)
    body, h = wire.encode(x, dtype)
    want = {"float32": "000080bf000000000000803f00000040",
            "float16": "00bc0000003c0040",  # 0xbc00, 0x0000, 0x3c00, 0x4000, little-endian
            "uint8": "0055aaff"}[dtype]
    assert body.hex() == want
    assert h["X-Shape"] == "1,4" and h["X-Codec"] == "none"
    if dtype == "uint8":
        assert float(h["X-Scale"]) == pytest.approx(3 / 255) and h["X-Zero-Point"] == "85"


def test_one_format_everywhere():
    """The cost model, early exit and the server all count and decode the same bytes."""
    x = np.maximum(np.random.default_rng(0).normal(size=(1, 12, 12, 32)), 0).astype(np.float32)
    for dt in wire.DTYPES:
        assert partition.quantize(x, dt) == wire.quantize(x, dt) == wire.encode(x, dt)[0]
        for codec in ("zlib", "zstd", "lz4"):
            m = partition.measure_codec(x, codec, dt, repeats=1)
            assert m.wire_bytes == wire.wire_bytes(x, dt, codec)
            body, h = serve_http.encode_tensor(x, dt, codec)
            assert len(body) == m.wire_bytes
            serve_http.decode_tensor(body, h, (12, 12, 32))  # the server decodes what was costed
    fb = early_exit.feature_bytes(x)
    assert fb["float32"] == x.size * 4 and fb["float16"] == x.size * 2 and fb["uint8"] == x.size + 8
    assert partition.CODECS == serve.CODECS == wire.CODECS


def test_encoder_refuses_what_the_decoder_would():
    x = np.ones((1, 3), np.float32)
    with pytest.raises(wire.WireError, match="NaN"):
        wire.encode(np.array([[1.0, np.nan]], np.float32))
    with pytest.raises(wire.WireError, match="float16"):
        wire.encode(np.array([[1e5]], np.float32), "float16")
    with pytest.raises(wire.WireError, match="dtype"):
        wire.encode(x, "int8")
    with pytest.raises(wire.WireError, match="codec"):
        wire.encode(x, "float32", "brotli")


HDR = {"X-Shape": "1,4,4,2", "X-Dtype": "float32", "X-Codec": "none"}


@pytest.mark.parametrize("headers,needle", [
    ({}, "X-Shape"),
    ({"X-Shape": ""}, "X-Shape"),
    ({"X-Shape": "1,4,4,-2"}, "X-Shape"),
    ({"X-Shape": "1,4,4,2.0"}, "X-Shape"),
    ({"X-Shape": "1,4,4,٢"}, "X-Shape"),  # a non-ASCII digit int() would accept
    ({"X-Shape": "1," * 200 + "1"}, "longer"),
    ({"X-Dtype": "float64"}, "X-Dtype"),
    ({"X-Codec": "gzip"}, "X-Codec"),
    ({"X-Dtype": "uint8"}, "X-Scale"),
    ({"X-Dtype": "uint8", "X-Scale": "0"}, "X-Scale"),
    ({"X-Dtype": "uint8", "X-Scale": "nan"}, "X-Scale"),
    ({"X-Dtype": "uint8", "X-Scale": "1", "X-Zero-Point": "inf"}, "X-Zero-Point"),
    ({"X-Dtype": "uint8", "X-Scale": "1e300"}, "infinite"),
])
def test_bad_headers_are_named(headers, needle):
    h = {**HDR, **headers}
    if not headers:
        h = {k: v for k, v in HDR.items() if k != "X-Shape"}
    n = 32 * (1 if h.get("X-Dtype") == "uint8" else 4)
    with pytest.raises(wire.WireError, match=needle) as e:
        wire.decode(b"\x01" * n, h, (4, 4, 2))
    assert e.value.http_status == 400


@pytest.mark.parametrize("codec", ["zlib", "zstd", "lz4"])
def test_corrupt_truncated_and_trailing_streams_are_400(codec):
    x = np.arange(32, dtype=np.float32).reshape(1, 4, 4, 2)
    body, h = wire.encode(x, "float32", codec)
    for bad in (b"", b"junk", body[: len(body) // 2], body + b"\x00stray"):
        with pytest.raises(wire.WireError) as e:
            wire.decode(bad, h, (4, 4, 2))
        assert e.value.http_status == 400 and codec in str(e.value) or "bytes" in str(e.value)


GIB = 1 << 30


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    """1 GiB of zeros in each codec, built in 16 MiB pieces (no GiB buffer here either)."""
    import lz4.frame
    import zstandard

    z = b"\0" * (16 << 20)
    out = {}
    c = zstandard.ZstdCompressor(level=1).compressobj(size=GIB)  # the frame header declares 1 GiB
    out["zstd"] = b"".join(c.compress(z) for _ in range(64)) + c.flush()
    c4 = lz4.frame.LZ4FrameCompressor()
    out["lz4"] = c4.begin(GIB) + b"".join(c4.compress(z) for _ in range(64)) + c4.flush()
    # zlib: after a full flush deflate restarts, so one 16 MiB block repeated is a valid stream
    cz = zlib.compressobj(9, zlib.DEFLATED, -15)
    blk = cz.compress(z) + cz.flush(zlib.Z_FULL_FLUSH)
    adler = 1
    for _ in range(64):
        adler = zlib.adler32(z, adler)
    out["zlib"] = b"\x78\xda" + blk * 64 + cz.flush() + adler.to_bytes(4, "big")
    out["none"] = b"\0" * (32 * 4 + 1)
    return out


@pytest.mark.parametrize("codec", wire.CODECS)
def test_decompression_bomb_is_413_with_bounded_memory(codec, bombs):
    """A ~1 MB (zlib, lz4 ~4 MB, zstd 32 KB) body that expands to 1 GiB (the zstd and lz4 frame
    headers even declare it): the decoder stops after the 128 bytes the tensor needs, and
    Python's peak allocation stays far below what the stream claims."""
    body = bombs[codec]
    assert len(body) < 8 << 20
    tracemalloc.start()
    try:
        with pytest.raises(wire.PayloadTooLarge) as e:
            wire.decode(body, {**HDR, "X-Codec": codec}, (4, 4, 2))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert e.value.http_status == 413 and "128" in str(e.value)
    assert peak < len(body) + (8 << 20)  # about the body, not 1 GiB


def test_zstd_huge_window_is_refused():
    import zstandard

    data = np.random.default_rng(1).integers(0, 255, 1 << 16, dtype=np.uint8).tobytes() * 8
    params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27, write_content_size=False)
    c = zstandard.ZstdCompressor(compression_params=params).compressobj()  # size unknown: keeps the window
    body = c.compress(data) + c.flush()
    assert zstandard.get_frame_parameters(body).window_size == 1 << 27
    with pytest.raises(wire.WireError, match="zstd"):
        wire.decompress(body, "zstd", 128)


def test_shape_without_expected_is_capped():
    with pytest.raises(wire.PayloadTooLarge, match="elements"):
        wire.decode(b"", {"X-Shape": "100000,100000,100000"})
    with pytest.raises(wire.WireError, match="≥ 1"):
        wire.decode(b"", {"X-Shape": "0,3"})
    y = wire.decode(*wire.encode(np.ones((2, 3), np.float32)))
    assert y.shape == (2, 3)
