"""Media workers on Ray: WebRTC sessions pinned to actors that can live on any node (the scale-out tier).

Ray Serve cannot carry media (HTTP/gRPC ingress only, no UDP/ICE, no session affinity), so the
peer connections live in long-lived Ray actors (:class:`MediaWorker`), each a small cloud
service of its own (aiortc on the actor's event loop, the batching worker thread, the
classifier) holding up to ``sessions_per_worker`` sessions. The frontend (this process) only
signals: ``POST /offer`` asks every worker for its load, hands the offer to the least loaded one
with room and returns that worker's answer — whose ICE candidates are the worker's node, so
media flows straight there and the session never moves. Over the cluster-wide capacity
(workers × sessions per worker) the offer gets 503, as with one process. A worker that dies
takes its sessions with it (their peers see the connection close); offers go to the others.
"""
from __future__ import annotations

import asyncio
import logging
import os
from typing import TYPE_CHECKING, Any

import cv2

from hybridlib.serving.backends import (
    ANSWER_TIMEOUT_S,
    APP_NAME,
    RayBackend,
    classifier_from_files,
    ensure_ray,
    model_files,
)
from hybridlib.serving.cloud import CloudConfig, CloudService, register
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    from aiohttp import web

log = logging.getLogger(__name__)

#: the Ray namespace of the media worker actors (``media-<frontend pid>-<i>``).
NAMESPACE = "hybridlib"


class MediaWorker:
    """Actor body: one process's worth of cloud mode, reached only through :meth:`offer`."""

    def __init__(self, files: dict[str, bytes] | None, max_sessions: int, index: int,
                 answer_timeout_s: float = ANSWER_TIMEOUT_S) -> None:
        """``files``: the model, run in this worker; None: send crops to the Serve model tier
        (:data:`~hybridlib.serving.backends.APP_NAME`, deployed by the frontend) — no TF here."""
        self.index = index
        cfg = CloudConfig(max_sessions=max_sessions)
        if files is None:
            from ray import serve

            cv2.setNumThreads(1)
            tier = RayBackend(serve.get_app_handle(APP_NAME), owns_cluster=False, timeout_s=answer_timeout_s,
                              disconnect_on_close=False)
            self.svc = CloudService(None, cfg, backend=tier)
            return
        self.svc = CloudService(classifier_from_files(files, prefix="hybridlib-media-"), cfg)

    def _where(self) -> dict[str, Any]:
        import ray

        return {"worker": self.index, "node": ray.get_runtime_context().get_node_id(), "pid": os.getpid()}

    async def load(self) -> dict[str, Any]:
        """Open sessions and capacity (the frontend's placement input)."""
        return {**self._where(), "sessions": len(self.svc.sessions), "max_sessions": self.svc.config.max_sessions}

    async def offer(self, sdp: str) -> tuple[int, dict[str, Any]]:
        """Admit here (the same admission as one process) → ``(status, payload)``."""
        status, payload = await self.svc.admit(sdp)
        if status == 200:
            payload = {**payload, "placement": self._where()}
        return status, payload

    async def metrics(self) -> dict[str, Any]:
        return {**self.svc.metrics(), **self._where()}

    async def shutdown(self) -> None:
        await self.svc.shutdown()


class RayMediaFrontend(CloudService):
    """``/offer`` placement over :class:`MediaWorker` actors; ``/metrics`` sums them."""

    def __init__(self, workers: list[Any], sessions_per_worker: int, owns_cluster: bool) -> None:
        super().__init__(None, CloudConfig(max_sessions=len(workers) * sessions_per_worker))
        self.workers = workers
        self.owns_cluster = owns_cluster
        self.placements: list[dict[str, Any]] = []  # where each admitted session went, in order
        self._lock = asyncio.Lock()
        self._last: list[dict[str, Any]] = []

    async def _loads(self) -> list[tuple[Any, dict[str, Any] | None]]:
        async def one(w: Any) -> dict[str, Any] | None:
            try:
                return await asyncio.wait_for(w.load.remote(), 10)
            except Exception as e:  # noqa: BLE001 - a dead or stuck worker takes no offers
                log.warning("media worker unavailable: %s", type(e).__name__)
                return None

        return list(zip(self.workers, await asyncio.gather(*(one(w) for w in self.workers))))

    async def admit(self, sdp: str) -> tuple[int, dict[str, Any]]:
        # one placement at a time: two offers must not both count the same free slot
        async with self._lock:
            loads = await self._loads()
            free = sorted(((ld["sessions"], ld["worker"], w) for w, ld in loads
                           if ld is not None and ld["sessions"] < ld["max_sessions"]), key=lambda t: t[:2])
            for _, _, w in free:
                try:
                    status, payload = await w.offer.remote(sdp)
                except Exception as e:  # noqa: BLE001 - worker died between load and offer: next
                    log.warning("media worker failed an offer: %s", type(e).__name__)
                    continue
                if status == 200:
                    self.stats.sessions_total += 1
                    self.placements.append(payload.get("placement", {}))
                    return status, payload
                if status != 503:
                    return status, payload
            self.stats.refused += 1
            cap = sum(ld["max_sessions"] for _, ld in loads if ld is not None)
            return 503, {"error": f"cluster at capacity: {cap} session(s) on {len(self.workers)} worker(s) in use",
                         "reason": "capacity", "max_sessions": cap}

    def metrics(self) -> dict[str, Any]:
        """Sums of the workers' last reported metrics (refreshed in the background)."""
        keys = ("sessions", "frames_in", "frames_out", "frames_dropped", "bytes_in", "bytes_out",
                "backend_errors", "sessions_failed")
        m = {"mode": "cloud", "pipeline": "ours", "backend": "ray-media",
             "max_sessions": self.config.max_sessions, "sessions_total": self.stats.sessions_total,
             "refused": self.stats.refused, "workers": [
                 {k: w.get(k) for k in ("worker", "node", "pid", "sessions", "backend")} for w in self._last]}
        for k in keys:
            m[k] = sum(int(w.get(k) or 0) for w in self._last)
        return m

    async def refresh(self) -> None:
        """Keep :meth:`metrics` (synchronous, like every provider) fed with the workers' own."""
        while True:
            out = []
            for w in self.workers:
                try:
                    out.append(await asyncio.wait_for(w.metrics.remote(), 10))
                except Exception:  # noqa: BLE001 - a dead worker reports nothing
                    pass
            self._last = out
            await asyncio.sleep(0.5)

    async def shutdown(self, app: Any = None) -> None:
        import ray

        for t in list(self._tasks):
            t.cancel()
        await asyncio.gather(*(w.shutdown.remote() for w in self.workers), return_exceptions=True)
        for w in self.workers:
            ray.kill(w)
        # a local cluster this process started stops with it; a joined one is only left
        await asyncio.get_running_loop().run_in_executor(None, _disconnect)


def _disconnect() -> None:
    import ray

    if ray.is_initialized():
        ray.shutdown()


def start_workers(model_path: str | os.PathLike[str], workers: int, sessions_per_worker: int,
                  worker_cpus: float = 0.5, model_tier: bool = False,
                  answer_timeout_s: float = ANSWER_TIMEOUT_S) -> list[Any]:
    """``workers`` :class:`MediaWorker` actors spread over the nodes (``SPREAD``), ready.
    ``model_tier``: they send crops to the Serve deployment instead of loading the model."""
    import ray

    if workers < 1 or sessions_per_worker < 1:
        raise InputError(f"media workers ({workers}) and sessions per worker ({sessions_per_worker}) must be ≥ 1")
    files = None if model_tier else ray.put(model_files(model_path))
    actor = ray.remote(num_cpus=worker_cpus, max_restarts=0, scheduling_strategy="SPREAD")(MediaWorker)
    # named (namespace "hybridlib", this frontend's pid) so operators and tests can find them
    ws = [actor.options(name=f"media-{os.getpid()}-{i}", namespace=NAMESPACE).remote(
        files, sessions_per_worker, i, answer_timeout_s) for i in range(workers)]
    ray.get([w.load.remote() for w in ws], timeout=300)  # constructors done (TF loaded) before serving
    return ws


def setup_ray_media(app: web.Application, model_path: str | os.PathLike[str] | None, workers: int,
                    sessions_per_worker: int, ray_address: str | None = None, model_tier: bool = False,
                    answer_timeout_s: float = ANSWER_TIMEOUT_S) -> RayMediaFrontend:
    """Cloud mode whose sessions live in Ray actors (see module doc): ``POST /offer`` and metrics.
    ``model_tier`` (``--backend ray``): deploy the Serve model tier first; the workers then
    carry only media, detection and drawing, and send each round's crops to it."""

    if model_path is None:
        raise InputError("--media-workers needs a model file (--model PATH.h5)")
    if model_tier:
        owns = RayBackend.start(model_path, address=ray_address).owns_cluster
    else:
        owns = ensure_ray(ray_address)
    fe = RayMediaFrontend(start_workers(model_path, workers, sessions_per_worker, model_tier=model_tier,
                                        answer_timeout_s=answer_timeout_s), sessions_per_worker, owns)

    async def _start_refresh(app: web.Application) -> None:
        fe._spawn(fe.refresh())

    app.on_startup.append(_start_refresh)
    register(app, fe)
    return fe
