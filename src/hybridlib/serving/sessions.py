"""Per-peer sessions of the cloud service: frame intake (newest frame wins, lag accounting), the
batching worker thread that runs detection + classification off the event loop, the
seed-faithful inline track, and per-session stats (pipelines and clock: :mod:`.options`).
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import cv2
import numpy as np

from hybridlib.serving.backends import BackendError, InProcessBackend, ModelBackend
from hybridlib.serving.options import VIDEO_CLOCK
from hybridlib.serving.stages import StageClock, timed
from hybridlib.serving.vision import (Classifier, FaceDetector, TrackState, crop_faces, draw_overlay, draw_overlay_yuv,
                                      face_result, half_yuv, scaled_faces)

log = logging.getLogger(__name__)


class SeedHost(Protocol):
    """What the seed pipeline's track needs of the service that owns it
    (:class:`hybridlib.serving.cloud.CloudService`): a Protocol, so sessions need not import cloud."""

    stats: Any
    detector: Any
    classifier: Any

    def close_soon(self, session: Any) -> None: ...



@dataclass
class Stats:
    """Server-wide counters behind ``/metrics`` (all sessions, since start)."""

    sessions_total: int = 0
    refused: int = 0
    frames_in: int = 0
    frames_out: int = 0
    frames_dropped: int = 0
    frames_queued: int = 0  # seed: frames that waited behind others in aiortc's track queue
    frames_lost: int = 0  # seed: frames the client sent that never reached the handler (pts gaps)
    backlog_max: int = 0  # seed: most decoded frames ever waiting for the handler at once
    backend_errors: int = 0  # worker rounds the model backend could not answer
    sessions_failed: int = 0  # sessions closed because of such a round
    infer_ms: deque = field(default_factory=lambda: deque(maxlen=2000))
    server_ms: deque = field(default_factory=lambda: deque(maxlen=2000))
    stages: StageClock = field(default_factory=StageClock)  # CPU per stage (:mod:`.stages`)


class SeedLedger:
    """What the seed's inline design does to frames that arrive while it is busy, counted.

    The seed processes each frame in order inside the returned track's ``recv``, on the event
    loop; nothing is skipped on purpose. Measured here (2 users, 320×240 @ 10 fps, loaded
    2-core box): while the handler runs, the loop cannot read the socket, so frames wait — in
    the kernel's socket buffer, then as encoded frames for aiortc's decoder thread, then decoded
    in the track's unbounded queue — and the server goes on working them off for seconds after
    its users left. So the ledger counts:

    * **queued**: frames the handler took while it was behind — frames were waiting in aiortc's
      queues (``backlog``) or, from the frames' RTP times against the server's clock, the sender
      had already produced later ones (``behind``, which also sees the kernel's buffer);
    * **lost**: frames that never reached the handler (gaps in the RTP times; the sender's frame
      interval is the smallest step seen) — packets dropped while the loop was blocked;
    * at the peer's hang-up (:meth:`CloudService._close`), the frames still in aiortc's queues
      are never answered: **dropped**, with the lost ones.

    Pure bookkeeping (``now`` is passed in) so unit tests can drive it.
    """

    def __init__(self) -> None:
        self.queued = 0
        self.lost = 0
        self.backlog_max = 0
        self.prev_pts: int | None = None
        self.step: int | None = None
        self._t0: float | None = None
        self._pts0 = 0
        self._min_lag = 0.0

    def behind(self, pts90: int, now: float) -> int:
        """Frames the sender had produced after this one when the handler took it (0 until
        the frame interval is known): this frame's lag behind the sender's clock, less the
        smallest lag seen (the pipe's own latency), in frame intervals."""
        if self._t0 is None:
            self._t0, self._pts0 = now, pts90
        lag = (now - self._t0) - (pts90 - self._pts0) / VIDEO_CLOCK
        self._min_lag = min(self._min_lag, lag)
        if not self.step:
            return 0
        return max(0, int((lag - self._min_lag) * VIDEO_CLOCK / self.step))

    def on_frame(self, pts90: int | None, backlog: int, now: float | None = None) -> tuple[int, int]:
        """Record one frame taken by the handler with ``backlog`` more waiting in aiortc's
        queues at wall time ``now`` (s); returns ``(queued, lost)`` added by it."""
        lost = 0
        behind = 0
        if pts90 is not None:
            if self.prev_pts is not None and pts90 > self.prev_pts:
                d = pts90 - self.prev_pts
                self.step = d if self.step is None else min(self.step, d)
                lost = max(0, round(d / self.step) - 1)
            self.prev_pts = pts90 if self.prev_pts is None else max(self.prev_pts, pts90)
            if now is not None:
                behind = self.behind(pts90, now)
        waiting = max(backlog, behind)
        queued = 1 if waiting > 0 else 0
        self.queued += queued
        self.backlog_max = max(self.backlog_max, waiting)
        self.lost += lost
        return queued, lost


def backlog_of(track: Any, receiver: Any = None) -> int:
    """Frames waiting for the seed's handler: decoded ones in the aiortc remote track's queue
    (its private ``_queue``), not counting the end-of-stream marker, plus complete encoded ones
    still waiting for the receiver's decoder thread (its private ``__decoder_queue``). Private
    names, read defensively: a missing one counts 0."""
    n = 0
    q = getattr(track, "_queue", None)
    if q is not None:
        n = q.qsize()
        with contextlib.suppress(Exception):
            if n and q._queue[-1] is None:  # asyncio.Queue's deque: the stream ended
                n -= 1
    dq = getattr(receiver, "_RTCRtpReceiver__decoder_queue", None) if receiver is not None else None
    if dq is not None:
        with contextlib.suppress(Exception):
            n += sum(1 for item in list(dq.queue) if item is not None)
    return n


class Session:
    """One admitted peer: its newest unprocessed frame, its tracked faces, its result channel."""

    def __init__(self, pc: Any, stats: Stats) -> None:
        self.id = uuid.uuid4().hex[:8]
        self.pc = pc
        self.stats = stats
        self.channel: Any = None
        self.frames_in = 0
        self.frames_out = 0
        self.dropped = 0
        self.closed = False
        self.failed = False  # the backend lost a round of this session: closing, take no more frames
        self.fail_reason: str | None = None  # … and what its peer was told (set once, on the loop)
        # slot written by the loop, taken by the worker (under the worker's lock)
        self.pending: tuple[Any, int, float] | None = None
        self.boxes: list[tuple[int, int, int, int]] = []
        self.since_detect = 0
        self.track = TrackState()  # the fast pipeline's faces (templates, search counters)
        self.processed = 0  # frames the worker finished for this session (video_every's count)
        self._out: Any = None
        self._out_event = asyncio.Event()
        self.rx_bytes = 0
        self.tx_bytes = 0
        self.seed_track: Any = None  # seed: the peer's remote track, whose queue we read
        self.seed_receiver: Any = None  # … and its receiver (encoded frames not yet decoded)
        # seed: its user is known to be gone (``CloudService.end_sessions``): the handler stops at
        # its next frame and the frames still queued are dropped instead of worked off
        self.end_requested = False
        self.ledger = SeedLedger()

    def send(self, msg: dict[str, Any]) -> None:
        ch = self.channel
        if ch is not None and ch.readyState == "open":
            with contextlib.suppress(Exception):
                ch.send(json.dumps(msg))

    def deliver(self, frame: Any, msg: dict[str, Any]) -> None:
        """Loop side of a finished frame: results message now, video frame (if any: the fast
        pipeline returns every ``video_every``-th) for the sender."""
        if self.closed:
            return
        self.frames_out += 1
        self.stats.frames_out += 1
        self.stats.server_ms.append(msg["server_ms"])
        with timed(self.stats.stages, "results"):
            self.send(msg)
        if frame is not None:
            self._out = frame
            self._out_event.set()

    async def next_output(self) -> Any:
        await self._out_event.wait()
        self._out_event.clear()
        return self._out

    def byte_counts(self) -> tuple[int, int]:
        """(received, sent) bytes on this peer's DTLS transports (RTP, RTCP and SCTP alike)."""
        rx, tx = dtls_bytes(self.pc)
        self.rx_bytes, self.tx_bytes = max(self.rx_bytes, rx), max(self.tx_bytes, tx)
        return self.rx_bytes, self.tx_bytes


class BatchWorker(threading.Thread):
    """One thread does every session's detection, classification and drawing.

    Each round takes the newest pending frame of every session that has one, so a slow round
    makes the next one bigger (better batched) instead of making a queue longer.
    """

    def __init__(self, detector: FaceDetector, classifier: Classifier | ModelBackend, stats: Stats,
                 loop: asyncio.AbstractEventLoop, max_batch: int = 32,
                 on_backend_error: Callable[[Session, str], None] | None = None,
                 fast: bool = False, detect_every: int = 30, video_every: int = 1,
                 video_half: bool = False, return_video: bool = True) -> None:
        """``classifier``: a :class:`~hybridlib.serving.backends.ModelBackend`, or a bare
        classifier (``.batch``), which runs in this thread. ``on_backend_error(session, why)``
        runs on the loop for each session of a round the backend could not answer.
        ``fast``: detection by :meth:`FaceDetector.follow_fast` (whole-frame search every
        ``detect_every`` frames, template tracking between) instead of :meth:`FaceDetector.follow`;
        ``video_every``: draw and return every n-th processed frame of a session on its video
        track (results go out for every frame regardless); ``video_half``: at half width and
        height (:func:`~hybridlib.serving.vision.half_yuv`); ``return_video`` False: no video at
        all (no overlay drawn, no frame made: the peer has no returned track)."""
        super().__init__(name="hybridlib-cloud-worker", daemon=True)
        if not hasattr(classifier, "predict_batch"):
            classifier = InProcessBackend(classifier, max_batch)
        self.detector, self.backend, self.stats, self.loop = detector, classifier, stats, loop
        self.max_batch = max_batch
        self.fast, self.detect_every, self.video_every = fast, max(1, detect_every), max(1, video_every)
        self.video_half, self.return_video = video_half, return_video
        self.on_backend_error = on_backend_error
        self.cond = threading.Condition()
        self.sessions: list[Session] = []
        self._stopping = False

    def submit(self, s: Session, frame: Any, seq: int) -> None:
        """Loop side: replace the session's pending frame by this newer one (the old is dropped)."""
        with self.cond:
            if s.pending is not None:
                s.dropped += 1
                self.stats.frames_dropped += 1
            s.pending = (frame, seq, time.perf_counter())
            if s not in self.sessions:
                self.sessions.append(s)
            self.cond.notify()

    def stop(self) -> None:
        with self.cond:
            self._stopping = True
            self.cond.notify()

    def _take(self) -> list[tuple[Session, Any, int, float]]:
        with self.cond:
            while not self._stopping and not any(s.pending for s in self.sessions):
                self.cond.wait(0.5)
            if self._stopping:
                return []
            work = []
            for s in list(self.sessions):
                if s.closed or s.failed:
                    self.sessions.remove(s)
                elif s.pending is not None:
                    work.append((s, *s.pending))
                    s.pending = None
            return work

    def run(self) -> None:
        while not self._stopping:
            work = self._take()
            if not work:
                continue
            try:
                self._process(work)
            except Exception:  # one bad frame must not kill the service
                log.exception("cloud worker: batch failed")

    def _process(self, work: list[tuple[Session, Any, int, float]]) -> None:
        import av

        t0 = time.perf_counter()
        clock, n = self.stats.stages, len(work)
        imgs, grays, boxes_per, det_ms = [], [], [], []
        for s, frame, _seq, _t in work:
            td = time.perf_counter()
            with timed(clock, "convert"):
                if frame.format.name == "yuv420p" and frame.width % 2 == 0 and frame.height % 2 == 0:
                    img = frame.to_ndarray()  # planes as decoded; the Y plane is the gray image
                else:
                    img = cv2.cvtColor(frame.to_ndarray(format="bgr24"), cv2.COLOR_BGR2YUV_I420)
                gray = img[:frame.height]
            with timed(clock, "detect"):
                if self.fast:
                    boxes = list(self.detector.follow_fast(gray, s.track, self.detect_every))
                else:
                    boxes, s.since_detect = self.detector.follow(gray, s.boxes, s.since_detect)
                s.boxes = boxes
            det_ms.append((time.perf_counter() - td) * 1000)
            imgs.append(img)
            grays.append(gray)
            boxes_per.append(boxes)
        with timed(clock, "crop", n):
            crops = [crop_faces(g, b) for g, b in zip(grays, boxes_per)]
            allc = np.concatenate(crops) if crops else np.zeros((0, 48, 48), np.uint8)
        tc = time.perf_counter()
        try:
            with timed(clock, "cnn", n):
                probs_all = self.backend.predict_batch(allc)
        except BackendError as e:  # the model tier lost this round: fail its sessions, keep serving
            log.warning("cloud worker: %s; failing %d session(s)", e, len(work))
            self.stats.backend_errors += 1
            for s, *_ in work:
                s.failed = True
                if self.on_backend_error is not None:
                    self.loop.call_soon_threadsafe(self.on_backend_error, s, str(e))
            return
        k = 0
        done = time.perf_counter()
        cnn_ms = round((done - tc) * 1000 / len(work), 2)  # the batch's cost, shared per frame
        per_frame_ms = (done - t0) * 1000 / len(work)
        for (s, frame, seq, t_in), img, boxes, dms in zip(work, imgs, boxes_per, det_ms):
            faces = [face_result(b, probs_all[k + j]) for j, b in enumerate(boxes)]
            k += len(boxes)
            out = None
            s.processed += 1
            if self.return_video and (s.processed - 1) % self.video_every == 0:
                with timed(clock, "overlay"):
                    small = half_yuv(img) if self.video_half else None
                    if small is not None:
                        img = draw_overlay_yuv(small, scaled_faces(faces, 0.5))
                    else:
                        draw_overlay_yuv(img, faces)
                    out = av.VideoFrame.from_ndarray(img, format="yuv420p")
                    out.pts = frame.pts
                    if frame.time_base is not None:
                        out.time_base = frame.time_base
            msg = {"frame": seq, "pts": _pts90(frame), "size": [frame.width, frame.height], "faces": faces,
                   "server_ms": round((time.perf_counter() - t_in) * 1000, 2),
                   "detect_ms": round(dms, 2), "cnn_ms": cnn_ms, "batch": len(work)}
            self.stats.infer_ms.append(per_frame_ms)
            self.loop.call_soon_threadsafe(s.deliver, out, msg)


def _pts90(frame: Any) -> int | None:
    if frame.pts is None or frame.time_base is None:
        return None
    return int(round(frame.pts * frame.time_base * VIDEO_CLOCK))


def video_track_class() -> type:
    """Built lazily so importing this module does not import aiortc."""
    from aiortc import MediaStreamTrack

    class OursTrack(MediaStreamTrack):
        """The returned video: whatever the worker last finished for this session."""

        kind = "video"

        def __init__(self, session: Session) -> None:
            super().__init__()
            self.session = session

        async def recv(self) -> Any:
            return await self.session.next_output()

    class SeedTrack(MediaStreamTrack):
        """Seed 000's transform track: everything inline in ``recv``, on the event loop."""

        kind = "video"

        def __init__(self, track: Any, session: Session, cloud: SeedHost) -> None:
            super().__init__()
            self.track, self.session, self.cloud = track, session, cloud

        async def recv(self) -> Any:
            import av
            from aiortc.mediastreams import MediaStreamError

            frame = await self.track.recv()
            s, st = self.session, self.cloud.stats
            if s.end_requested and not s.closed:  # its user left (end_sessions): this frame and
                s.dropped += 1                    # the rest of the backlog are never answered
                st.frames_dropped += 1
                self.cloud.close_soon(s)  # its own task: _close stops the sender we run in
                raise MediaStreamError
            if s.closed:  # counted as dropped by _close with the rest of the backlog
                raise MediaStreamError
            t_in = time.perf_counter()
            backlog = backlog_of(self.track, s.seed_receiver)
            queued, lost = s.ledger.on_frame(_pts90(frame), backlog, t_in)
            st.frames_queued += queued
            st.frames_lost += lost
            st.frames_dropped += lost
            s.dropped += lost
            st.backlog_max = max(st.backlog_max, s.ledger.backlog_max)
            s.frames_in += 1
            st.frames_in += 1
            clock = st.stages
            with timed(clock, "convert"):
                img = frame.to_ndarray(format="bgr24")
                gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
            faces = []
            with timed(clock, "detect"):
                boxes = self.cloud.detector.detect_full(gray)
            t_det = time.perf_counter()
            with timed(clock, "crop"):
                crops = [crop_faces(gray, [box])[0] for box in boxes]
            with timed(clock, "cnn"):
                for box, face in zip(boxes, crops):
                    faces.append(face_result(box, self.cloud.classifier.predict_one(face)))
            t_cnn = time.perf_counter()
            with timed(clock, "overlay"):
                draw_overlay(img, faces)
                out = av.VideoFrame.from_ndarray(img, format="bgr24")
                out.pts, out.time_base = frame.pts, frame.time_base
            ms = round((time.perf_counter() - t_in) * 1000, 2)
            st.infer_ms.append(ms)
            s.frames_out += 1
            st.frames_out += 1
            st.server_ms.append(ms)
            with timed(clock, "results"):
                s.send({"frame": s.frames_in, "pts": _pts90(frame), "size": [frame.width, frame.height],
                        "faces": faces, "server_ms": ms, "detect_ms": round((t_det - t_in) * 1000, 2),
                        "cnn_ms": round((t_cnn - t_det) * 1000, 2), "batch": 1})
            return out

    return OursTrack, SeedTrack


def dtls_bytes(pc: Any) -> tuple[int, int]:
    """(received, sent) bytes over a peer connection's DTLS transports (RTP, RTCP and the data
    channel's SCTP), each transport counted once. aiortc keeps these counters private, so we
    read them by their mangled names; both the server and the load clients measure this way."""
    seen: set[int] = set()
    rx = tx = 0
    transports = [t.receiver.transport for t in pc.getTransceivers()]
    if pc.sctp is not None:
        transports.append(pc.sctp.transport)
    for t in transports:
        if t is None or id(t) in seen:
            continue
        seen.add(id(t))
        rx += getattr(t, "_RTCDtlsTransport__rx_bytes", 0)
        tx += getattr(t, "_RTCDtlsTransport__tx_bytes", 0)
    return rx, tx
