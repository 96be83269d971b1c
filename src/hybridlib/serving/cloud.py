"""Cloud mode over WebRTC: the browser (or a load-test peer) streams its camera to the server,
the server finds faces, classifies their emotion and sends the answer back twice — drawn on a
returned video track and as one JSON message per processed frame on the ``results`` data channel
(docs/ARCHITECTURE.md, Serving contract).

Two pipelines share the signalling, the admission control and the message format so the load
study can compare them on equal terms:

``ours`` (default)
    Frames are read off each peer's track as soon as aiortc decodes them, and only the *newest*
    one per session is kept (a stale one is counted as dropped): lag can never build up. One
    :class:`BatchWorker` thread does all the work off the event loop: Haar detection on a
    downscaled frame, re-detected fully every ``redetect_every`` frames and tracked in between
    by searching only a region around the previous box at a narrow scale range, then ONE
    classifier call (a traced ``tf.function``) for the faces of every session in the batch, then
    the overlay. The event loop only moves packets and messages.

``fast``
    ``ours`` with each stage cut (costs per stage in ``/metrics`` ``stages``,
    :mod:`.stages`): one FFmpeg decoder thread per stream (aiortc leaves FFmpeg's one per CPU,
    aiortc #1310); the whole downscaled frame searched only every ``detect_every`` frames or
    when a face is lost, each face followed in between by template matching and re-fitted by
    Haar around its box every few frames (:meth:`FaceDetector.follow_fast`); the same batched
    CNN; and NO returned video (``return_video`` False): the page (``web/cloud.js``) draws from
    the results message and never showed the returned stream, so the server adds no track to
    the answer (the camera's transceiver becomes recvonly) and spends nothing on drawing,
    VP8-encoding, packetising and encrypting a video nobody watches (an
    earlier version sent a half-size preview every 3rd frame: ``return_video=True``, ``video_every``,
    ``video_half``). Results travel on the data channel only. Its labels and boxes agree with
    ``ours`` on the test clips (``tests/unit/test_cloud_fast.py``). ``ours`` and ``seed`` keep
    the returned overlay video: seed 000's design is a transform track that sends the frame
    back with the boxes drawn.

``seed``
    Seed 000's server as its text describes it (aiortc's server example with a transform track):
    Haar on the full frame, one ``model.predict`` per face, drawing with OpenCV — all inline in
    the track's ``recv`` on the event loop, every frame in order, nothing batched or dropped. It
    is the baseline that shows why the seed's server fell over at 6 users.

Benchmark knob: ``HYBRIDLIB_CLOUD_OPTIONS`` (a JSON object of the :data:`ENV_OPTIONS` fields
of :class:`CloudConfig`, e.g. ``{"return_video": true}``) overrides those fields' defaults in
:func:`setup_cloud`, so ``benchmarks/bench_cloud.py`` can run an earlier variant of a pipeline in
the same run through the real ``hybridlib serve`` process (unknown keys or bad JSON: a clear error).

Admission control: at most ``max_sessions`` peer connections; the next ``/offer`` gets 503 with a
JSON reason, and admitted users keep their service. Malformed offers get 4xx JSON, never 500.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import cv2
import numpy as np
from aiohttp import web

from hybridlib.serving.backends import ANSWER_TIMEOUT_S, InProcessBackend, ModelBackend, make_backend
from hybridlib.serving.options import DEFAULT_MAX_SESSIONS, check_backend, check_max_sessions, check_pipeline
from hybridlib.serving.sessions import BatchWorker, Session, Stats, backlog_of, video_track_class
from hybridlib.serving.stages import CODEC, CODEC_CLOCK, install_codec_hooks, merged
from hybridlib.serving.vision import Classifier, FaceDetector, single_threaded
from hybridlib.utils import InputError, percentile

if TYPE_CHECKING:  # pragma: no cover
    from aiohttp import web

log = logging.getLogger(__name__)


#: largest accepted ``/offer`` body: a browser SDP offer is 3–10 KB.
MAX_OFFER_BYTES = 64 * 1024
_APP_KEY = "hybridlib.serving.cloud"
#: the environment variable read by :func:`env_options`, and the fields it may set
ENV_VAR = "HYBRIDLIB_CLOUD_OPTIONS"
ENV_OPTIONS = ("detect_every", "video_every", "video_half", "decoder_threads", "return_video")


@dataclass
class CloudConfig:
    max_sessions: int = DEFAULT_MAX_SESSIONS
    pipeline: str = "ours"
    detect_width: int = 320
    redetect_every: int = 15
    max_batch: int = 32
    backend: str = "inprocess"  # where the CNN runs: this process, or a Ray Serve deployment
    ray_address: str | None = None  # ray backend: join this cluster (None: start a local one)
    ray_replicas: int = 2  # ray backend: autoscaling ceiling of the model deployment
    answer_timeout_s: float = ANSWER_TIMEOUT_S  # ray backend: a round waits this long, then its sessions fail
    media_workers: int = 0  # > 0: sessions live in this many Ray actors (:mod:`.ray_media`)
    detect_every: int = 30  # fast: whole-frame face search every this many frames (or when lost)
    video_every: int | None = None  # return every n-th frame's overlay video (None: fast 3, else 1)
    decoder_threads: int | None = None  # FFmpeg threads per stream's decoder (None: fast 1, else FFmpeg's)
    video_half: bool | None = None  # return the overlay video at half width and height (None: fast only)
    return_video: bool | None = None  # send the overlay video back at all (None: not for fast, else yes)

    def __post_init__(self) -> None:
        check_pipeline(self.pipeline)
        check_max_sessions(self.max_sessions)
        check_backend(self.backend)
        fast = self.pipeline == "fast"
        if self.video_every is None:
            self.video_every = 3 if fast else 1
        if self.decoder_threads is None and fast:
            self.decoder_threads = 1
        if self.video_half is None:
            self.video_half = fast
        if self.return_video is None:
            self.return_video = not fast
        for name in ("video_half", "return_video"):
            if not isinstance(getattr(self, name), bool):
                raise InputError(f"{name} must be true or false, got {getattr(self, name)!r}")
        if not self.return_video and self.pipeline == "seed":
            raise InputError("the seed pipeline is a transform track: it always returns the video")
        for name in ("detect_every", "video_every"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise InputError(f"{name} must be an integer ≥ 1, got {v!r}")
        if self.decoder_threads is not None and (isinstance(self.decoder_threads, bool)
                                                 or not isinstance(self.decoder_threads, int)
                                                 or self.decoder_threads < 1):
            raise InputError(f"decoder_threads must be an integer ≥ 1 or None, got {self.decoder_threads!r}")
        if self.backend != "inprocess" and self.pipeline == "seed":
            raise InputError(f"backend {self.backend!r} needs the 'ours' pipeline (the seed's calls "
                             "model.predict per face inline)")
        if self.ray_address is not None and self.backend != "ray" and not self.media_workers:
            raise InputError("--ray-address applies to --backend ray or --media-workers only")
        if isinstance(self.media_workers, bool) or not isinstance(self.media_workers, int) or self.media_workers < 0:
            raise InputError(f"media workers must be an integer ≥ 0, got {self.media_workers!r}")
        if self.media_workers and self.pipeline != "ours":
            raise InputError("--media-workers runs the 'ours' pipeline (not the seed's)")
        if not self.answer_timeout_s > 0:
            raise InputError(f"answer timeout must be > 0 s, got {self.answer_timeout_s!r}")


class CloudService:
    """Everything cloud mode keeps per server: peers, sessions, the worker, the counters."""

    def __init__(self, classifier: Classifier | None, config: CloudConfig | None = None,
                 detector: FaceDetector | None = None, backend: ModelBackend | None = None) -> None:
        self.config = config or CloudConfig()
        self.classifier = classifier
        self.backend = backend or InProcessBackend(classifier, self.config.max_batch)
        self.detector = detector or FaceDetector(self.config.detect_width, self.config.redetect_every)
        self.stats = Stats()
        self.sessions: dict[str, Session] = {}
        self.worker: BatchWorker | None = None
        self._tasks: set[asyncio.Task] = set()
        self._closed_bytes = [0, 0]

    # ---- HTTP
    async def handle_offer(self, request: web.Request) -> web.Response:
        def err(status: int, msg: str, **extra: Any) -> web.Response:
            return web.json_response({"error": msg, **extra}, status=status)

        ctype = request.content_type
        if ctype != "application/json":
            return err(415, f"Content-Type must be application/json, got {ctype or 'none'!r}")
        if request.content_length is not None and request.content_length > MAX_OFFER_BYTES:
            return err(413, f"offer body of {request.content_length} bytes exceeds {MAX_OFFER_BYTES}")
        try:
            body = await request.content.read(MAX_OFFER_BYTES + 1)
        except Exception as e:  # client went away mid-body, bad chunking …
            return err(400, f"could not read the request body: {e}")
        if len(body) > MAX_OFFER_BYTES:
            return err(413, f"offer body exceeds {MAX_OFFER_BYTES} bytes")
        try:
            params = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            return err(400, f"body is not valid JSON: {e}")
        if not isinstance(params, dict):
            return err(400, "body must be a JSON object {\"sdp\": …, \"type\": \"offer\"}")
        sdp, typ = params.get("sdp"), params.get("type")
        if not isinstance(sdp, str) or not sdp.strip():
            return err(400, "field 'sdp' must be a non-empty string")
        if typ != "offer":
            return err(400, f"field 'type' must be \"offer\", got {typ!r}")
        if "m=video" not in sdp:
            return err(400, "the offer has no video track (m=video): cloud mode needs the camera")
        defect = _offer_defect(sdp)
        if defect:
            return err(400, f"bad SDP offer: {defect}")
        status, payload = await self.admit(sdp)
        return web.json_response(payload, status=status)

    async def admit(self, sdp: str) -> tuple[int, dict[str, Any]]:
        """A checked offer → ``(200, answer)``, ``(503, capacity)`` or ``(400, bad offer)``.
        (The Ray media frontend overrides this to place the session on a worker actor.)"""
        # check and admit with no ``await`` in between: _accept registers the session
        # before its first await, so two concurrent offers cannot both take the last slot
        if len(self.sessions) >= self.config.max_sessions:
            self.stats.refused += 1
            return 503, {"error": f"server at capacity: {self.config.max_sessions} session(s) in use",
                         "reason": "capacity", "max_sessions": self.config.max_sessions}
        try:
            return 200, await self._accept(sdp)
        except _BadOffer as e:
            return 400, {"error": f"bad SDP offer: {e}"}

    async def _accept(self, sdp: str) -> dict[str, str]:
        from aiortc import RTCPeerConnection, RTCSessionDescription

        OursTrack, SeedTrack = video_track_class()
        pc = RTCPeerConnection()
        s = Session(pc, self.stats)
        self.sessions[s.id] = s
        self.stats.sessions_total += 1

        @pc.on("datachannel")
        def on_datachannel(channel: Any) -> None:
            if channel.label == "results":
                s.channel = channel

                @channel.on("message")
                def on_message(m: Any) -> None:  # tiny ping/pong for a client's RTT estimate
                    with contextlib.suppress(Exception):
                        d = json.loads(m)
                        if isinstance(d, dict) and "ping" in d:
                            channel.send(json.dumps({"pong": d["ping"]}))

        @pc.on("connectionstatechange")
        async def on_state() -> None:
            if pc.connectionState in ("failed", "closed"):
                await self._close(s)

        @pc.on("track")
        def on_track(track: Any) -> None:
            if track.kind != "video":
                return

            @track.on("ended")
            async def on_ended() -> None:  # the peer hung up (RTCP BYE): free its slot now
                await self._close(s)

            if self.config.pipeline == "seed":
                s.seed_track = track
                s.seed_receiver = next((t.receiver for t in pc.getTransceivers()
                                        if t.receiver is not None and t.receiver.track is track), None)
                pc.addTrack(SeedTrack(track, s, self))
            else:
                if self.config.return_video:  # fast: results on the data channel only
                    pc.addTrack(OursTrack(s))
                self._spawn(self._read(s, track))

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
            await pc.setLocalDescription(await pc.createAnswer())
        except Exception as e:
            await self._close(s)
            raise _BadOffer(str(e) or type(e).__name__) from e
        log.info("session %s admitted (%d/%d, pipeline %s)", s.id, len(self.sessions),
                 self.config.max_sessions, self.config.pipeline)
        return {"sdp": pc.localDescription.sdp, "type": pc.localDescription.type}

    def end_sessions(self) -> int:
        """Mark every open session as over: its users have left (the load study's end of a
        step). Returns how many were marked.

        Why: the seed's inline handler works off every queued frame before the peer's hang-up
        (queued behind them) reaches it — tens of seconds after a loaded step, answering nobody.
        A marked seed session stops at its next frame and counts what is still queued as
        dropped, exactly as when a hang-up reaches it. Nothing changes while users stream; the
        'ours' pipeline keeps no backlog and closes on the hang-up itself. Safe to call from a
        signal handler in the loop's thread (it only sets flags), which is how ``serve`` wires
        it to ``SIGUSR1``: a busy seed loop may not answer HTTP for seconds."""
        sessions = list(self.sessions.values())
        for s in sessions:
            s.end_requested = True
        return len(sessions)

    def close_soon(self, s: Session) -> None:
        """Close ``s`` in a task of its own (callers inside its sender's ``recv`` must not
        await the close that stops that sender)."""
        self._spawn(self._close(s))

    def _spawn(self, coro: Any) -> None:
        t = asyncio.ensure_future(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)

    async def _read(self, s: Session, track: Any) -> None:
        """Drain the decoded frames as they come; hand only the newest to the worker."""
        from aiortc.mediastreams import MediaStreamError

        if self.worker is None:
            c = self.config
            self.worker = BatchWorker(self.detector, self.backend, self.stats,
                                      asyncio.get_running_loop(), c.max_batch,
                                      on_backend_error=self._fail, fast=c.pipeline == "fast",
                                      detect_every=c.detect_every, video_every=c.video_every or 1,
                                      video_half=bool(c.video_half), return_video=bool(c.return_video))
            self.worker.start()
        while not s.closed:
            try:
                frame = await track.recv()
            except MediaStreamError:
                break
            s.frames_in += 1
            self.stats.frames_in += 1
            self.worker.submit(s, frame, s.frames_in)
        await self._close(s)

    def _fail(self, s: Session, why: str) -> None:
        """Loop side of a round the model backend lost: tell the peer why on ``results``
        (``{"error", "reason": "backend"}``), then close its session — the client sees the
        channel close and may offer again; other sessions and new offers carry on."""
        if s.closed or s.fail_reason is not None:
            return
        s.fail_reason = why
        self.stats.sessions_failed += 1
        s.send({"error": f"session ended: {why}", "reason": "backend"})
        self._spawn(self._close_after_flush(s))

    async def _close_after_flush(self, s: Session, timeout_s: float = 1.0) -> None:
        """Give SCTP a moment to carry the error message before the peer connection closes."""
        loop = asyncio.get_running_loop()
        t_end = loop.time() + timeout_s
        while s.channel is not None and s.channel.bufferedAmount > 0 and loop.time() < t_end:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await self._close(s)

    async def _close(self, s: Session) -> None:
        if s.closed:
            return
        s.closed = True
        if s.seed_track is not None:  # seed: frames still queued are never answered
            left = backlog_of(s.seed_track, s.seed_receiver)
            s.dropped += left
            self.stats.frames_dropped += left
            log.info("seed session %s: %d frames still queued at close (dropped); last pts %s",
                     s.id, left, s.ledger.prev_pts)
        rx, tx = s.byte_counts()
        self._closed_bytes[0] += rx
        self._closed_bytes[1] += tx
        self.sessions.pop(s.id, None)
        s._out_event.set()
        with contextlib.suppress(Exception):
            await s.pc.close()
        log.info("session %s closed (in %d, out %d, dropped %d)", s.id, s.frames_in, s.frames_out,
                 s.dropped)

    async def shutdown(self, app: Any = None) -> None:
        for s in list(self.sessions.values()):
            await self._close(s)
        if self.worker is not None:
            self.worker.stop()
            await asyncio.get_running_loop().run_in_executor(None, self.worker.join, 5)
            self.worker = None
        for t in list(self._tasks):
            t.cancel()
        await asyncio.get_running_loop().run_in_executor(None, self.backend.close)

    def metrics(self) -> dict[str, Any]:
        st = self.stats
        rx, tx = self._closed_bytes
        for s in list(self.sessions.values()):
            a, b = s.byte_counts()
            rx += a
            tx += b
        return {"mode": "cloud", "pipeline": self.config.pipeline, "backend": self.backend.name,
                "backend_errors": st.backend_errors, "sessions_failed": st.sessions_failed,
                "sessions": len(self.sessions), "max_sessions": self.config.max_sessions,
                "sessions_total": st.sessions_total, "refused": st.refused,
                "frames_in": st.frames_in, "frames_out": st.frames_out,
                "frames_dropped": st.frames_dropped,
                "frames_queued": st.frames_queued, "frames_lost": st.frames_lost,
                "backlog_max": st.backlog_max,
                "inference_ms_p50": percentile(st.infer_ms, 50), "inference_ms_p95": percentile(st.infer_ms, 95),
                "server_ms_p50": percentile(st.server_ms, 50), "server_ms_p95": percentile(st.server_ms, 95),
                "bytes_in": rx, "bytes_out": tx,
                # CPU ms per stage, summed since start (decode/encode: every stream in the process)
                "stages": merged(st.stages.snapshot(), CODEC_CLOCK.snapshot()),
                "decoder_threads": CODEC.decoder_threads, "video_every": self.config.video_every,
                "video_half": self.config.video_half, "return_video": self.config.return_video}


def install_end_signal(app: web.Application) -> bool:
    """``SIGUSR1`` → :meth:`CloudService.end_sessions` for the app's cloud service, if it has
    one (POSIX, main thread only; returns whether installed).

    A plain :func:`signal.signal` handler, not the loop's: Python runs it in the main thread
    between bytecodes, so it takes effect even while the seed's inline handler keeps the loop
    from polling. ``hybridlib serve`` installs it; the load study sends it after each step."""

    svc = app.get(_APP_KEY) if _APP_KEY in app else None
    if (svc is None or not hasattr(svc, "end_sessions") or not hasattr(signal, "SIGUSR1")
            or threading.current_thread() is not threading.main_thread()):
        return False
    signal.signal(signal.SIGUSR1, lambda _sig, _frame: svc.end_sessions())
    return True


class _BadOffer(Exception):
    pass


def _offer_defect(sdp: str) -> str | None:
    """Why aiortc could never connect this offer, or None. aiortc accepts an offer whose media
    lack DTLS fingerprints or ICE credentials and only fails later, in a background task
    (found by fuzzing: ``benchmarks/fuzz.py``); refuse such offers up front with a 400."""
    from aiortc.sdp import SessionDescription

    try:
        desc = SessionDescription.parse(sdp)
    except Exception as e:  # noqa: BLE001 - the parser raises many types on bad text
        return f"cannot parse ({type(e).__name__}: {e})"[:300]
    for m in desc.media:
        if m.dtls is None or not m.dtls.fingerprints:
            return f"m={m.kind} has no a=fingerprint (DTLS)"
        if m.ice is None or not m.ice.usernameFragment or not m.ice.password:
            return f"m={m.kind} has no ICE credentials (a=ice-ufrag / a=ice-pwd)"
    return None


def setup_cloud(app: web.Application, model_path: str | Path | None = None,
                max_sessions: int = DEFAULT_MAX_SESSIONS,
                pipeline: str = "ours", classifier: Classifier | None = None,
                **config: Any) -> CloudService:
    """Add cloud mode to an aiohttp app: ``POST /offer``, a metrics provider, clean shutdown.

    ``serve.make_app`` calls this when ``mode == "cloud"``; tests may pass a ``classifier``
    directly instead of a model file.
    """
    cfg = CloudConfig(max_sessions=max_sessions, pipeline=pipeline, **{**env_options(), **config})
    if cfg.media_workers:
        raise InputError("media workers are set up by hybridlib.serving.ray_media.setup_ray_media "
                         "(serve_app.make_app does it when media_workers > 0)")
    if cfg.backend == "ray":  # the CNN lives in Serve replicas: no TensorFlow in this process
        cv2.setNumThreads(1)
        backend = make_backend("ray", model_path, max_batch=cfg.max_batch, ray_address=cfg.ray_address,
                               max_replicas=cfg.ray_replicas, timeout_s=cfg.answer_timeout_s)
        svc = CloudService(None, cfg, backend=backend)
        register(app, svc)
        return svc
    install_codec_hooks(cfg.decoder_threads)  # decode/encode timed; fast: one decoder thread
    if pipeline != "seed":
        single_threaded()
    if classifier is None:
        if model_path is None:
            raise InputError("cloud mode needs a model file (--model PATH.h5)")
        classifier = Classifier.load(model_path, runtime="tf" if pipeline == "seed" else "auto")
    if pipeline == "seed":
        # model.predict traces its Keras function on the first call (seconds): do it now, so the
        # first user's first frame measures the seed's steady cost, not the tracing
        classifier.predict_one(np.zeros((48, 48), np.uint8))
    svc = CloudService(classifier, cfg)
    register(app, svc)
    return svc


def env_options(environ: Any = None) -> dict[str, Any]:
    """The :class:`CloudConfig` defaults overridden by ``$HYBRIDLIB_CLOUD_OPTIONS`` (a JSON
    object, keys from :data:`ENV_OPTIONS`; unset or empty: none). Why an environment variable:
    the load study starts the real ``hybridlib serve`` in its own process, and a benchmark
    comparing an earlier variant of a pipeline side by side must reach that process without a
    user-facing flag for every internal knob. Values are checked by :class:`CloudConfig`."""
    raw = (os.environ if environ is None else environ).get(ENV_VAR, "").strip()
    if not raw:
        return {}
    try:
        d = json.loads(raw)
    except json.JSONDecodeError as e:
        raise InputError(f"${ENV_VAR} is not valid JSON: {e}") from e
    if not isinstance(d, dict):
        raise InputError(f"${ENV_VAR} must be a JSON object, got {type(d).__name__}")
    bad = sorted(set(d) - set(ENV_OPTIONS))
    if bad:
        raise InputError(f"${ENV_VAR}: unknown option(s) {bad}; allowed: {list(ENV_OPTIONS)}")
    if d:
        log.info("cloud options from $%s: %s", ENV_VAR, d)
    return d


def register(app: web.Application, svc: CloudService) -> None:
    app[_APP_KEY] = svc
    app.router.add_post("/offer", svc.handle_offer)
    providers: list[Callable[[], dict]] = app.get("metrics_providers") if "metrics_providers" in app else None
    if providers is None:
        providers = []
        app["metrics_providers"] = providers
    providers.append(svc.metrics)
    app.on_shutdown.append(svc.shutdown)
