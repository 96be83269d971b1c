"""The cloud server's cost per frame by stage: decode, colour conversion, detection, crop, batched
CNN, overlay, results message, returned-video encode — CPU time each stage's thread spent, summed.

Why thread CPU time (:func:`time.thread_time`) and not wall time: the stages run in four kinds of
threads (aiortc's decoder thread per stream, the batching worker, the event loop, the executor
that encodes the returned video) on a loaded 2-core box; wall time would count every wait for the
GIL or a core as cost. Reading the clock costs ≈ 1 µs, so the record is always on.

Decode and encode happen inside aiortc, not in our code: :func:`install_codec_hooks` wraps
aiortc's ``get_decoder``/``get_encoder`` (module attributes it looks up per stream) so each
codec object times its calls, and sets the decoder's FFmpeg thread count (aiortc leaves it at
FFmpeg's default, one thread per CPU per stream — aiortc issue #1310). The hooks are
process-wide; their record is :data:`CODEC_CLOCK`.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

log = logging.getLogger(__name__)

#: the stages in pipeline order (``/metrics`` ``stages`` keys; a pipeline may skip some)
STAGES = ("decode", "convert", "detect", "crop", "cnn", "overlay", "results", "encode")


class StageClock:
    """Per-stage sums of CPU seconds and frames, safe to add to from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sums: dict[str, list[float]] = {}

    def add(self, stage: str, cpu_s: float, frames: int = 1) -> None:
        """``cpu_s`` spent on ``frames`` frames (a batched stage passes its batch's frames)."""
        with self._lock:
            s = self._sums.setdefault(stage, [0.0, 0])
            s[0] += cpu_s
            s[1] += frames

    def snapshot(self) -> dict[str, dict[str, float]]:
        """``{stage: {"cpu_ms": total, "frames": n, "ms_per_frame": mean}}`` in pipeline order."""
        with self._lock:
            items = dict(self._sums)
            out = {}
            for k in sorted(items, key=lambda k: STAGES.index(k) if k in STAGES else len(STAGES)):
                ms, n = items[k][0] * 1000, int(items[k][1])
                out[k] = {"cpu_ms": round(ms, 3), "frames": n, "ms_per_frame": round(ms / n, 4) if n else None}
            return out


def stage_delta(before: dict | None, after: dict | None) -> dict[str, dict[str, float]]:
    """Two :meth:`StageClock.snapshot` reads → the same shape for what happened in between."""
    before, out = before or {}, {}
    for k, a in (after or {}).items():
        b = before.get(k) or {"cpu_ms": 0.0, "frames": 0}
        ms, n = a["cpu_ms"] - b["cpu_ms"], a["frames"] - b["frames"]
        if n > 0:
            out[k] = {"cpu_ms": round(ms, 3), "frames": n, "ms_per_frame": round(ms / n, 4)}
    return out


def merged(*snaps: dict) -> dict[str, dict[str, float]]:
    """Several snapshots as one, in pipeline order (a stage in two: the later wins)."""
    d: dict[str, dict[str, float]] = {}
    for s in snaps:
        d.update(s)
    return {k: d[k] for k in sorted(d, key=lambda k: STAGES.index(k) if k in STAGES else len(STAGES))}


class timed:
    """``with timed(clock, "detect", n):`` adds the block's thread CPU time to ``clock``."""

    __slots__ = ("clock", "frames", "stage", "t0")

    def __init__(self, clock: StageClock, stage: str, frames: int = 1) -> None:
        self.clock, self.stage, self.frames = clock, stage, frames

    def __enter__(self) -> timed:
        self.t0 = time.thread_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.clock.add(self.stage, time.thread_time() - self.t0, self.frames)


#: decode and encode times of every stream in this process (the codec hooks write here)
CODEC_CLOCK = StageClock()


class _CodecSettings:
    """What the hooks apply to codecs created from now on (``None``: aiortc's/FFmpeg's default)."""

    decoder_threads: int | None = None


CODEC = _CodecSettings()
_installed = False


def install_codec_hooks(decoder_threads: int | None = None) -> None:
    """Time every aiortc video decoder/encoder made from now on in this process and give each
    new decoder ``decoder_threads`` FFmpeg threads (``None`` keeps FFmpeg's default: one per CPU).

    Idempotent: a second call only changes the thread setting for streams that start later.
    """
    global _installed
    CODEC.decoder_threads = decoder_threads
    if _installed:
        return
    from aiortc import rtcrtpreceiver, rtcrtpsender

    make_decoder, make_encoder = rtcrtpreceiver.get_decoder, rtcrtpsender.get_encoder

    def get_decoder(codec: Any) -> Any:
        dec = make_decoder(codec)
        ctx = getattr(dec, "codec", None)
        if CODEC.decoder_threads is not None and ctx is not None and codec.mimeType.lower().startswith("video/"):
            try:
                ctx.thread_count = CODEC.decoder_threads  # before the first decode opens the context
            except Exception as e:  # noqa: BLE001 - an opened or foreign codec: keep its default
                log.info("could not set the decoder's thread count: %s", e)
        return _TimedCodec(dec, "decode", "decode") if codec.mimeType.lower().startswith("video/") else dec

    def get_encoder(codec: Any) -> Any:
        enc = make_encoder(codec)
        return _TimedCodec(enc, "encode", "encode") if codec.mimeType.lower().startswith("video/") else enc

    rtcrtpreceiver.get_decoder, rtcrtpsender.get_encoder = get_decoder, get_encoder
    _installed = True


class _TimedCodec:
    """An aiortc codec whose ``method`` calls add their thread CPU time to :data:`CODEC_CLOCK`."""

    def __init__(self, inner: Any, method: str, stage: str) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_method", method)
        object.__setattr__(self, "_stage", stage)

    def __setattr__(self, name: str, value: Any) -> None:  # e.g. the sender's target_bitrate
        setattr(self._inner, name, value)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def call(*a: Any, **kw: Any) -> Any:
            t0 = time.thread_time()
            try:
                return attr(*a, **kw)
            finally:
                CODEC_CLOCK.add(self._stage, time.thread_time() - t0)

        return call


def stage_rows(stages: dict, total_ms_per_frame: float | None = None) -> Iterator[tuple[str, float | None]]:
    """``(stage, CPU ms per answered frame)`` rows for a table: each stage's CPU over the frames
    answered (the ``results`` stage's count), so stages that run on fewer frames (the returned
    video every n-th) or more (decoding frames later dropped as stale) add up; then ``other`` =
    the process's measured CPU per answered frame less the stages (aiortc's packets, SRTP, the
    event loop) when that is given."""
    n = (stages.get("results") or {}).get("frames") or 0
    known = 0.0
    for k, v in stages.items():
        ms = round(v["cpu_ms"] / n, 3) if n else v.get("ms_per_frame")
        known += ms or 0.0
        yield k, ms
    if total_ms_per_frame is not None:
        yield "other", round(total_ms_per_frame - known, 3)
