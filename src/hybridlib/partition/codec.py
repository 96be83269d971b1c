"""Optional lossless compression of shipped tensors, measured on the bytes of
:mod:`hybridlib.wire` (what ``/split`` decodes), folded into a graph's wire bytes.
"""
from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from hybridlib import wire
from hybridlib.partition.graph import Graph, as_graph
from hybridlib.utils import InputError

# The bytes are those of :mod:`hybridlib.wire`, the format ``/split`` decodes: the cost model
# prices exactly what the server would receive (uint8 with scale and zero point).
CODECS = wire.CODECS
quantize = wire.quantize  # re-exported: tensor bytes as shipped, before the lossless codec


def _codec_funcs(codec: str, raw_bytes: int) -> tuple[Any, Any]:
    """(compress, decompress) of ``codec``; decompression is the server's bounded decoder."""
    if codec not in CODECS or codec == "none":
        raise InputError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS[1:])}")
    return (lambda b: wire.compress(b, codec)), (lambda b: wire.decompress(b, codec, raw_bytes))


@dataclass
class CodecMeasure:
    """Measured lossless compression of one tensor (median over ``repeats``)."""

    codec: str
    dtype: str
    elements: int
    raw_bytes: int
    wire_bytes: int
    compress_ms: float
    decompress_ms: float

    @property
    def ratio(self) -> float:
        return self.raw_bytes / max(self.wire_bytes, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"codec": self.codec, "dtype": self.dtype, "elements": self.elements,
                "raw_bytes": self.raw_bytes,
                "wire_bytes": self.wire_bytes, "ratio": self.ratio,
                "compress_ms": self.compress_ms, "decompress_ms": self.decompress_ms}


def measure_codec(x: np.ndarray, codec: str, dtype: str = "float32", repeats: int = 3) -> CodecMeasure:
    """Compress and decompress ``x`` and check the round trip is lossless (bytes identical)."""
    raw = quantize(x, dtype)
    if codec == "none":
        return CodecMeasure(codec, dtype, int(np.size(x)), len(raw), len(raw), 0.0, 0.0)
    comp, decomp = _codec_funcs(codec, len(raw))
    tc, td = [], []
    out = b""
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = comp(raw)
        t1 = time.perf_counter()
        back = decomp(out)
        t2 = time.perf_counter()
        tc.append((t1 - t0) * 1000)
        td.append((t2 - t1) * 1000)
        if back != raw:  # pragma: no cover - would be a codec bug
            raise RuntimeError(f"{codec} round trip is not lossless")
    return CodecMeasure(codec, dtype, int(np.size(x)), len(raw), len(out),
                        float(np.median(tc)), float(np.median(td)))


def with_compression(graph: Graph | Mapping[str, Any], measures: Mapping[str, CodecMeasure],
                     device_slowdown: float = 1.0, device_power_w: float = 0.0) -> Graph:
    """A copy of ``graph`` whose shipped tensors are compressed as ``measures`` say.

    ``measures`` maps node id → :class:`CodecMeasure` taken on this machine (the cloud side).
    The device side is ``device_slowdown`` times slower at (de)compressing; its codec time
    costs ``device_power_w`` (W·ms = mJ). Uplink: compress on device + decompress in cloud;
    downlink: the reverse. ``dtype`` other than float32 changes the bytes on the wire too
    (float16/uint8 are lossy — compression itself is lossless).
    """
    g = as_graph(graph)
    nodes = []
    for n in g.nodes:
        m = measures.get(n.id)
        if m is None or m.codec == "none" and m.dtype == "float32":
            nodes.append(replace(n))
            continue
        # the measured tensor may be a sample of the layer's output: scale by element count
        scale = (n.out_bytes / 4.0) / max(m.elements, 1)
        up_ms = m.compress_ms * device_slowdown + m.decompress_ms
        down_ms = m.compress_ms + m.decompress_ms * device_slowdown
        nodes.append(replace(
            n, wire_bytes=m.wire_bytes * scale,
            codec_up_ms=up_ms, codec_down_ms=down_ms,
            codec_up_mj=m.compress_ms * device_slowdown * device_power_w,
            codec_down_mj=m.decompress_ms * device_slowdown * device_power_w))
    return Graph(nodes=nodes, edges=list(g.edges), input=g.input, output=g.output,
                 name=f"{g.name}+codec" if g.name else "codec")
