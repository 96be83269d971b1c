"""The one tensor wire format: how an activation travels from a device to the cloud.

Everything that ships or counts a tensor uses this module — the server's ``POST /split/<k>``
(:mod:`hybridlib.serving.app`), the partition cost model's byte counts
(:func:`hybridlib.partition.measure_codec`), the early-exit bandwidth table
(:func:`hybridlib.study.early_exit.branches.feature_bytes`) and the browser client, which mirrors the
format below in JavaScript. One encoder, one decoder, so the bytes a plan is costed with are
the bytes the server decodes.

Wire format (version 1)
=======================

A tensor is an HTTP body plus up to five headers. Header names are case-insensitive (HTTP);
values are ASCII, at most 256 characters (longer → 400). The body's ``Content-Type`` is not
read (send ``application/octet-stream``).

``X-Shape`` (required)
    Comma-separated decimal integers ≥ 1 (ASCII digits only: no sign, point or exponent),
    outermost first, e.g. ``1,12,12,64`` (NHWC for images; the first number is the batch).
    Spaces are ignored. The element count is the product. ``POST /split/<k>`` wants
    ``N,<the layer's output shape>`` with ``1 ≤ N ≤ 64``.
``X-Dtype`` (default ``float32``)
    One of ``float32``, ``float16``, ``uint8``: the element type of the (decompressed) body.
``X-Scale``, ``X-Zero-Point`` (``uint8`` only; ``X-Scale`` required, ``X-Zero-Point`` default 0)
    Per-tensor affine quantisation, decimal numbers (any form ``parseFloat``/``float`` reads;
    the encoder writes Python ``repr`` of a float and an integer zero point). The value of a
    byte ``q`` is ``(q - zero_point) * scale``, computed in double precision and then rounded
    to float32. ``X-Scale`` must be finite and > 0, ``X-Zero-Point`` finite (ignored for the
    float dtypes).
    The encoder uses ``lo = min(x)``, ``hi = max(x)``, ``scale = (hi - lo) / 255`` (1.0 if
    that is 0), ``zero_point = round(-lo / scale)`` (an integer, may lie outside 0..255),
    ``q = clip(round(x / scale) + zero_point, 0, 255)`` (``round`` is numpy's half-to-even; a
    client rounding half up differs only on exact ties); the error is at most ``scale``.
``X-Codec`` (default ``none``)
    Optional lossless compression of the whole body, applied after quantisation:
    ``none``; ``zlib`` (RFC 1950 zlib stream, i.e. deflate with the 2-byte header and Adler-32,
    what ``pako.deflate`` writes, exactly one stream); ``zstd`` (one or more RFC 8878
    Zstandard frames back to back, each with a window of at most max(8 MiB, the smallest
    power of two ≥ the decoded size)); ``lz4`` (exactly one LZ4 *frame*, magic
    ``04 22 4D 18``, not a raw block). No bytes may follow the stream or frame.

Body: after undoing ``X-Codec``, exactly ``prod(X-Shape) * itemsize`` bytes (itemsize 4, 2, 1),
elements in C (row-major) order, **little-endian** IEEE 754 for ``float32``/``float16``
(what a JS ``Float32Array`` on every current platform holds). No padding, no trailer.
float values must be finite (NaN and ±inf are refused), and so must every dequantised value.
With ``X-Codec: none`` a body longer than that is refused as too large (413), a shorter one as
malformed (400).

Decoding is strict and bounded: the receiver knows the shape it expects, so it knows the
exact size ``n`` of the decoded body before it decompresses anything. Decompression streams
and stops after ``n + 1`` bytes whatever a frame header claims, so a small body that would
expand to gigabytes costs at most ``n + 1`` bytes of memory and is refused
(:class:`PayloadTooLarge`, HTTP 413); any other defect (bad header, wrong size, corrupt
stream, trailing bytes, non-finite values) is a :class:`WireError` (HTTP 400) naming the
header or the byte counts.

Example::

    body, headers = encode(x, "uint8", "zlib")
    y = decode(body, headers, expected=x.shape[1:])     # float32, |y - x| <= scale
"""
from __future__ import annotations

import io
import math
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import lz4.frame
import numpy as np
import zstandard

from hybridlib.utils import InputError

__all__ = ["CODECS", "DTYPES", "ITEMSIZE", "WireError", "PayloadTooLarge", "quantize", "quantize_uint8",
           "compress", "decompress", "encode", "decode", "parse_headers", "wire_bytes"]

DTYPES: dict[str, Any] = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2"), "uint8": np.dtype("u1")}
ITEMSIZE = {k: v.itemsize for k, v in DTYPES.items()}
CODECS = ("none", "zlib", "zstd", "lz4")
#: Longest header value the decoder reads (an 8-dimensional shape of 9-digit sizes fits).
MAX_HEADER_CHARS = 256
#: zstd frames may ask for at most this window (or the content size, if larger).
ZSTD_MIN_WINDOW = 1 << 23
_FLOAT16_MAX = float(np.finfo(np.float16).max)


class WireError(InputError):
    """A malformed tensor payload; ``http_status`` is what a server answers (400)."""

    http_status = 400


class PayloadTooLarge(WireError):
    """The body (or what it decompresses to) is larger than the tensor it declares (413)."""

    http_status = 413


# ----------------------------------------------------------------------------- encode


def quantize_uint8(x: np.ndarray) -> tuple[np.ndarray, float, int]:
    """Per-tensor affine uint8: ``(q, scale, zero_point)`` with ``x ≈ (q - zero_point) * scale``."""
    x = np.asarray(x, np.float32)
    if x.size == 0:
        return np.zeros(x.shape, np.uint8), 1.0, 0
    lo, hi = float(x.min()), float(x.max())
    # a constant tensor (hi == lo) takes the step |lo|/255, so it decodes exactly: its one value
    # sits at code 0 with zero point ∓255 (a fixed step of 1 would round 2.5 to 2)
    scale = (hi - lo) / 255.0 or abs(lo) / 255.0 or 1.0
    zero = int(round(-lo / scale))
    # in float64: x / scale can exceed float32's range for tiny scales
    q = np.clip(np.round(x.astype(np.float64) / scale) + zero, 0, 255).astype(np.uint8)
    return q, scale, zero


def _check_finite(x: np.ndarray, dtype: str) -> None:
    if not np.isfinite(x).all():
        raise WireError("tensor contains NaN or infinite values")
    if dtype == "float16" and x.size and float(np.abs(x).max()) > _FLOAT16_MAX:
        raise WireError(f"tensor has values beyond float16's range ±{_FLOAT16_MAX:g}; use float32 or uint8")


def quantize(x: np.ndarray, dtype: str) -> bytes:
    """The uncompressed body of ``x`` in ``dtype`` (see module doc); raises WireError if unknown."""
    raw, _ = _quantize(x, dtype)
    return raw


def _quantize(x: np.ndarray, dtype: str) -> tuple[bytes, dict[str, str]]:
    if dtype not in DTYPES:
        raise WireError(f"unknown dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    x = np.asarray(x, np.float32)
    _check_finite(x, dtype)
    if dtype == "uint8":
        q, scale, zero = quantize_uint8(x)
        return q.tobytes(), {"X-Scale": repr(scale), "X-Zero-Point": str(zero)}
    return np.ascontiguousarray(x, dtype=DTYPES[dtype]).tobytes(), {}


def compress(raw: bytes, codec: str, level: int | None = None) -> bytes:
    """Lossless ``codec`` of ``raw`` (zlib level 6, zstd level 3, lz4 frame default)."""
    if codec == "none":
        return bytes(raw)
    if codec == "zlib":
        return zlib.compress(raw, 6 if level is None else level)
    if codec == "zstd":
        return zstandard.ZstdCompressor(level=3 if level is None else level).compress(raw)
    if codec == "lz4":
        return lz4.frame.compress(raw, compression_level=0 if level is None else level)
    raise WireError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")


def encode(x: np.ndarray, dtype: str = "float32", codec: str = "none",
           level: int | None = None) -> tuple[bytes, dict[str, str]]:
    """Array → ``(body, headers)`` in the wire format (client side of ``/split``)."""
    if codec not in CODECS:
        raise WireError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS)}")
    x = np.asarray(x, np.float32)
    raw, extra = _quantize(x, dtype)
    headers = {"X-Shape": ",".join(map(str, x.shape)), "X-Dtype": dtype, "X-Codec": codec, **extra}
    return compress(raw, codec, level), headers


def wire_bytes(x: np.ndarray, dtype: str = "float32", codec: str = "none") -> int:
    """Body bytes of ``x`` on the wire (headers, ~80 bytes, not counted)."""
    return len(encode(x, dtype, codec)[0])


# ----------------------------------------------------------------------------- decode


def decompress(body: bytes, codec: str, limit: int) -> bytes:
    """Undo ``codec``, producing at most ``limit`` bytes (memory O(limit), never what a frame claims).

    Raises :class:`PayloadTooLarge` when the stream holds more than ``limit`` bytes and
    :class:`WireError` when it is corrupt, truncated or followed by stray bytes.
    """
    if limit < 0:
        raise ValueError("limit must be ≥ 0")
    body = bytes(body)
    if codec == "none":
        if len(body) > limit:
            raise PayloadTooLarge(f"body has {len(body)} bytes, more than the {limit} the tensor needs")
        return body
    if codec not in CODECS:
        raise WireError(f"X-Codec {codec!r} not supported; use one of {', '.join(CODECS)}")
    try:
        out = _DECODERS[codec](body, limit)
    except WireError:
        raise
    except Exception as e:  # noqa: BLE001 - each codec library has its own error types
        raise WireError(f"body is not valid {codec} data ({type(e).__name__}: {e})"[:300]) from None
    if len(out) > limit:
        raise PayloadTooLarge(f"body decompresses ({codec}) to more than the {limit} bytes the tensor needs")
    return out


def _bounded(d: Any, body: bytes, limit: int, name: str, unit: str) -> bytes:
    """Decompress ``body`` with the streaming decompressor ``d`` (zlib's or lz4's: both take
    a max output length and expose ``eof``/``unused_data``), never producing more than
    ``limit + 1`` bytes, so a bomb costs at most the cap; a stream cut short or followed by
    stray bytes is an error naming the codec."""
    out = d.decompress(body, limit + 1)
    if len(out) > limit:
        return out
    if not d.eof:
        raise WireError(f"body is not valid {name} data ({unit} truncated)")
    if d.unused_data:
        raise WireError(f"body is not valid {name} data ({len(d.unused_data)} stray bytes after the {unit})")
    return out


def _zlib(body: bytes, limit: int) -> bytes:
    return _bounded(zlib.decompressobj(), body, limit, "zlib", "stream")


def _zstd(body: bytes, limit: int) -> bytes:
    window = max(ZSTD_MIN_WINDOW, 1 << max(10, math.ceil(math.log2(max(limit, 1)))))
    dctx = zstandard.ZstdDecompressor(max_window_size=window)
    if len(body) < 4 or body[:4] != b"\x28\xb5\x2f\xfd":
        raise WireError("body is not valid zstd data (no zstd frame magic)")
    reader = dctx.stream_reader(io.BytesIO(body), read_size=1 << 16, read_across_frames=True)
    chunks: list[bytes] = []
    got = 0
    while got <= limit:
        c = reader.read(min(limit + 1 - got, 1 << 20))
        if not c:
            break
        chunks.append(c)
        got += len(c)
    # A frame cut short ends the reader without an error: the caller's exact-size check
    # catches it. Bytes after the last frame raise ZstdError (→ WireError).
    return b"".join(chunks)


def _lz4(body: bytes, limit: int) -> bytes:
    return _bounded(lz4.frame.LZ4FrameDecompressor(), body, limit, "lz4", "frame")


_DECODERS = {"zlib": _zlib, "zstd": _zstd, "lz4": _lz4}


def _header(headers: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    v = headers.get(name, default)
    if v is not None and len(v) > MAX_HEADER_CHARS:
        raise WireError(f"{name} header is longer than {MAX_HEADER_CHARS} characters")
    return v


def parse_headers(headers: Mapping[str, str]) -> tuple[tuple[int, ...], str, str, float, float]:
    """``(shape, dtype, codec, scale, zero_point)`` from the headers; WireError naming the bad one."""
    shape_s = _header(headers, "X-Shape")
    if not shape_s:
        raise WireError("missing X-Shape header (e.g. X-Shape: 1,24,24,64)")
    parts = shape_s.replace(" ", "").split(",")
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise WireError(f"X-Shape {shape_s!r} is not a comma-separated list of positive integers")
    shape = tuple(int(p) for p in parts)
    dtype = _header(headers, "X-Dtype", "float32")
    if dtype not in DTYPES:
        raise WireError(f"X-Dtype {dtype!r} not supported; use one of {', '.join(DTYPES)}")
    codec = _header(headers, "X-Codec", "none")
    if codec not in CODECS:
        raise WireError(f"X-Codec {codec!r} not supported; use one of {', '.join(CODECS)}")
    scale, zero = 1.0, 0.0
    if dtype == "uint8":
        s, z = _header(headers, "X-Scale"), _header(headers, "X-Zero-Point", "0")
        try:
            scale, zero = float(s), float(z)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise WireError("X-Dtype uint8 needs numeric X-Scale (and X-Zero-Point) headers") from None
        if not math.isfinite(scale) or scale <= 0:
            raise WireError(f"X-Scale must be a positive finite number; got {s!r}")
        if not math.isfinite(zero):
            raise WireError(f"X-Zero-Point must be a finite number; got {z!r}")
    return shape, dtype, codec, scale, zero


def decode(body: bytes, headers: Mapping[str, str], expected: Sequence[int] | None = None,
           max_batch: int = 64, max_elements: int = 1 << 26) -> np.ndarray:
    """Body + headers → float32 array, checked against what the receiver expects.

    ``expected``: the per-item shape (everything after the batch); the batch must be
    ``1..max_batch``. Without ``expected`` any shape of at most ``max_elements`` elements
    passes. The decoded size is known from the headers before anything is decompressed,
    so decompression is capped at exactly that size (see module doc).
    """
    shape, dtype, codec, scale, zero = parse_headers(headers)
    shape_s = ",".join(map(str, shape))
    if expected is not None:
        exp = tuple(int(v) for v in expected)
        if len(shape) != len(exp) + 1 or shape[1:] != exp:
            raise WireError(f"X-Shape {shape_s} does not match the layer's output N,{','.join(map(str, exp))}")
        if not 1 <= shape[0] <= max_batch:
            raise WireError(f"batch size {shape[0]} out of range 1..{max_batch}")
    if any(s <= 0 for s in shape):
        raise WireError(f"X-Shape {shape_s}: every size must be ≥ 1")
    n_el = math.prod(shape)
    if n_el > max_elements:
        raise PayloadTooLarge(f"X-Shape {shape_s} has {n_el} elements, more than {max_elements}")
    n_bytes = n_el * ITEMSIZE[dtype]
    raw = decompress(body, codec, n_bytes)
    if len(raw) != n_bytes:
        raise WireError(f"body has {len(raw)} bytes after X-Codec {codec}; X-Shape {shape_s} × {dtype} "
                        f"needs {n_bytes}")
    a = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(shape)
    if dtype == "uint8":
        with np.errstate(over="ignore", invalid="ignore"):
            out = ((a.astype(np.float64) - zero) * scale).astype(np.float32)
    else:
        out = a.astype(np.float32)
    if not np.isfinite(out).all():
        raise WireError("tensor contains NaN or infinite values" + (
            " after dequantisation (X-Scale/X-Zero-Point too large)" if dtype == "uint8" else ""))
    return out
