"""Model backends for cloud mode: where the emotion CNN runs on the face crops of a batch.

The cloud pipeline (:class:`hybridlib.serving.sessions.BatchWorker`) finds the faces of every
session in a round and asks ONE backend call for all their crops. Two backends share that
interface (:class:`ModelBackend`):

``inprocess`` (default)
    The classifier in the server's own worker thread (TF Lite, one thread): nothing to start,
    nothing to cross.

``ray``
    A Ray Serve deployment (:func:`build_app`) holding the same classifier in replicas that
    autoscale, batched with ``@serve.batch``. One request carries a whole worker round (every
    session's faces), never one face: through a handle a request costs ~10 ms of overhead on
    this box against ~2–4 ms per frame of CNN (docs/ARCHITECTURE.md, Ray pitfalls), so
    per-face requests would multiply the cost. WebRTC stays in the server process (Serve has no
    UDP/ICE ingress); only small uint8 crops travel to the model tier.

Ray is imported only inside the functions that start or call it, so ``import hybridlib`` and
every other test never pay its ~1 s import (or need it installed).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from hybridlib.data.fer import CLASS_NAMES
from hybridlib.serving.options import check_backend
from hybridlib.serving.vision import Classifier, single_threaded
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

#: the Serve application name the ray backend deploys under (one model tier per cluster).
APP_NAME = "hybridlib-emotion"
#: Ray's own settings for a local cluster on a small shared machine: no dashboard, a small
#: object store (crops are KBs), no usage report, loopback only.
LOCAL_RAY = {"num_cpus": 2, "object_store_mb": 100}
LOOPBACK = ("127.0.0.1", "localhost", "::1")
#: how long a round may wait for the model tier before its sessions are failed. Serve itself
#: hides a dead replica by holding requests until a replacement is up — here ~10 s while the
#: new replica imports TensorFlow — and a live video answer that late is worth nothing: the
#: user is better told (error on ``results``, channel closed) and free to offer again.
ANSWER_TIMEOUT_S = 5.0


class BackendError(RuntimeError):
    """The backend could not answer a batch (replica died, timed out, cluster gone): the
    sessions whose frames were in it are failed cleanly; the server itself keeps serving."""


@runtime_checkable
class ModelBackend(Protocol):
    """Batched emotion probabilities for face crops: ``(n, 48, 48) uint8 → (n, 7) float``."""

    name: str

    def predict_batch(self, crops: np.ndarray) -> np.ndarray: ...

    def close(self) -> None: ...


def _predict_chunks(clf: Any, crops: np.ndarray, max_batch: int) -> np.ndarray:
    """``clf.batch`` over ``crops`` in chunks of at most ``max_batch`` (one interpreter shape)."""
    if len(crops) == 0:
        return np.zeros((0, len(CLASS_NAMES)), np.float32)
    return np.concatenate([clf.batch(crops[i:i + max_batch]) for i in range(0, len(crops), max_batch)])


class InProcessBackend:
    """Today's path: the classifier called in the worker thread of this process."""

    name = "inprocess"

    def __init__(self, classifier: Any, max_batch: int = 32) -> None:
        self.classifier = classifier
        self.max_batch = max_batch

    def predict_batch(self, crops: np.ndarray) -> np.ndarray:
        return _predict_chunks(self.classifier, crops, self.max_batch)

    def close(self) -> None:
        pass


# ---- the Serve deployment (replica side)

def model_files(model_path: str | os.PathLike[str]) -> dict[str, bytes]:
    """The bytes a replica needs to rebuild the classifier on any node: the ``.h5`` and, when
    present and current, its cached TF Lite conversion (so replicas skip the seconds-long
    conversion). Shipped by value because a remote node does not share this file system."""
    p = Path(model_path)
    if not p.is_file():
        raise InputError(f"model file {p} does not exist")
    files = {"model.h5": p.read_bytes()}
    tfl, stamp = p.with_suffix(".tflite"), p.with_suffix(".tflite").with_name(p.with_suffix(".tflite").name + ".sha256")
    if tfl.is_file() and stamp.is_file():
        files["model.tflite"] = tfl.read_bytes()
        files["model.tflite.sha256"] = stamp.read_bytes()
    return files


def classifier_from_files(files: dict[str, bytes], runtime: str = "auto", prefix: str = "hybridlib-") -> Any:
    """The cloud :class:`~hybridlib.serving.vision.Classifier`, rebuilt in a Ray process from
    :func:`model_files`' bytes (the process may be on a node without the model file).

    Single-threaded like the in-process worker; the files live in a temporary folder only
    while the classifier loads.
    """
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    single_threaded()
    d = tempfile.mkdtemp(prefix=prefix)
    try:
        for name, data in files.items():
            (Path(d) / name).write_bytes(data)
        return Classifier.load(Path(d) / "model.h5", runtime=runtime)
    finally:
        shutil.rmtree(d, ignore_errors=True)

class EmotionModel:
    """A replica's state: the same :class:`~hybridlib.serving.vision.Classifier` the in-process
    backend uses (same runtime, so the same numbers), rebuilt from shipped bytes."""

    def __init__(self, files: dict[str, bytes], runtime: str = "auto", max_batch: int = 32) -> None:
        self.classifier = classifier_from_files(files, runtime=runtime, prefix="hybridlib-replica-")
        self.max_batch = max_batch
        self.calls = 0

    def predict_lists(self, batches: list[np.ndarray]) -> list[np.ndarray]:
        """Several requests' crops in one classifier pass, split back per request."""
        self.calls += 1
        sizes = [len(b) for b in batches]
        allc = np.concatenate([np.asarray(b, np.uint8).reshape(-1, 48, 48) for b in batches])
        probs = _predict_chunks(self.classifier, allc, self.max_batch)
        return list(np.split(probs, np.cumsum(sizes)[:-1]))

    def pid(self) -> int:
        """This replica's process id (operations; the tests kill one by it)."""
        return os.getpid()


def build_app(model_path: str | os.PathLike[str], min_replicas: int = 1, max_replicas: int = 2,
              replica_cpus: float = 0.5, max_batch_requests: int = 8, batch_wait_s: float = 0.002,
              runtime: str = "auto", max_batch: int = 32) -> Any:
    """The Serve application: :class:`EmotionModel` with ``@serve.batch`` and autoscaling.

    ``batch_wait_s`` is short because one request already carries a round of faces: waiting
    longer only adds latency for a single frontend; with several frontends (or media workers)
    concurrent requests still merge into one pass.
    """
    from ray import serve

    if not 1 <= min_replicas <= max_replicas:
        raise InputError(f"replicas: need 1 ≤ min ({min_replicas}) ≤ max ({max_replicas})")

    class EmotionModelDeployment(EmotionModel):
        @serve.batch(max_batch_size=max_batch_requests, batch_wait_timeout_s=batch_wait_s)
        async def predict(self, batches: list[np.ndarray]) -> list[np.ndarray]:
            return self.predict_lists(batches)

    dep = serve.deployment(
        name="EmotionModel",
        autoscaling_config={"min_replicas": min_replicas, "max_replicas": max_replicas,
                            "target_ongoing_requests": 2, "upscale_delay_s": 5, "downscale_delay_s": 30},
        ray_actor_options={"num_cpus": replica_cpus},
        max_ongoing_requests=16,
        health_check_period_s=2, health_check_timeout_s=10,
    )(EmotionModelDeployment)
    return dep.bind(model_files(model_path), runtime, max_batch)


# ---- the server side

def ensure_ray(address: str | None = None, num_cpus: float = LOCAL_RAY["num_cpus"],
               object_store_mb: int = LOCAL_RAY["object_store_mb"]) -> bool:
    """Connect this process to Ray: join ``address`` (``"127.0.0.1:6379"``, ``"auto"``), or
    start a small local cluster when None. Returns True when this call started the cluster
    (so :meth:`RayBackend.close` must stop it). A process already connected is reused."""
    os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
    os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")  # no GPUs here; silences a FutureWarning
    if address is None or address.split(":")[0] in LOOPBACK:
        # a cluster on this machine stays on loopback: Ray otherwise rewrites 127.0.0.1 to the
        # host's primary IP when joining (and its GCS listens on 127.0.0.1 only). Read when
        # ray is first imported, so set before that.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray

    if ray.is_initialized():
        return False
    common = dict(logging_level=logging.WARNING, log_to_driver=False, configure_logging=False)
    if address:
        try:
            ray.init(address=address, **common)
        except Exception as e:  # noqa: BLE001 - ConnectionError, ValueError …: name the input
            raise InputError(f"--ray-address {address!r}: cannot join that Ray cluster ({type(e).__name__}: {e})") from e
        return False
    ray.init(num_cpus=num_cpus, object_store_memory=int(object_store_mb) * 2 ** 20, include_dashboard=False,
             _node_ip_address="127.0.0.1", **common)
    return True


def local_address() -> str:
    """The connected cluster's GCS address as others on this machine reach it. Ray reports the
    host's primary IP even when, as here, its GCS listens on 127.0.0.1 only."""
    import ray

    port = ray.get_runtime_context().gcs_address.rsplit(":", 1)[1]
    return f"127.0.0.1:{port}"


class RayBackend:
    """Crops → a Ray Serve deployment, one request per worker round (blocking, called from
    the worker thread, never from the event loop)."""

    name = "ray"

    def __init__(self, handle: Any, owns_cluster: bool, timeout_s: float = ANSWER_TIMEOUT_S,
                 disconnect_on_close: bool = True) -> None:
        """``disconnect_on_close=False`` for a backend used inside a Ray actor (a media worker),
        which must never call ``ray.shutdown``."""
        self.handle = handle
        self.owns_cluster = owns_cluster
        self.timeout_s = timeout_s
        self.disconnect_on_close = disconnect_on_close
        self.errors = 0

    @classmethod
    def start(cls, model_path: str | os.PathLike[str], address: str | None = None,
              max_replicas: int = 2, timeout_s: float = ANSWER_TIMEOUT_S, **app_options: Any) -> RayBackend:
        """Join or start Ray, deploy :func:`build_app` (Serve's HTTP proxy disabled: the model
        tier is reached through handles only) and return a backend bound to it."""

        from ray import serve

        t0 = time.perf_counter()
        owns = ensure_ray(address)
        t1 = time.perf_counter()
        try:
            serve.start(proxy_location="Disabled")
            handle = serve.run(build_app(model_path, max_replicas=max_replicas, **app_options),
                               name=APP_NAME, route_prefix=None)
        except BaseException:
            if owns:
                _stop_ray(owns)
            raise
        log.info("ray backend: Ray %s in %.1f s, Serve app %r up in %.1f s", "started" if owns else "joined",
                 t1 - t0, APP_NAME, time.perf_counter() - t1)
        return cls(handle, owns, timeout_s)

    def predict_batch(self, crops: np.ndarray) -> np.ndarray:
        if len(crops) == 0:
            return np.zeros((0, len(CLASS_NAMES)), np.float32)
        response = self.handle.predict.remote(np.ascontiguousarray(crops, np.uint8))
        try:
            return np.asarray(response.result(timeout_s=self.timeout_s))
        except Exception as e:  # noqa: BLE001 - ActorDiedError, TimeoutError, RayTaskError …
            self.errors += 1
            with contextlib.suppress(Exception):
                response.cancel()  # a late answer is useless: do not let it occupy a replica
            raise BackendError(f"ray model tier failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}") from e

    def close(self) -> None:
        """Stop what this process started: the local cluster (and its Serve app). A joined
        cluster's app stays up: other frontends may share it (``serve.delete`` removes it)."""
        if self.owns_cluster or self.disconnect_on_close:
            _stop_ray(self.owns_cluster)


def _stop_ray(owns: bool) -> None:
    import ray

    if owns:
        try:
            from ray import serve

            serve.shutdown()
        except Exception as e:  # noqa: BLE001 - still stop Ray below
            log.warning("serve.shutdown failed: %s", e)
    if ray.is_initialized():
        ray.shutdown()


def make_backend(kind: str, model_path: str | os.PathLike[str] | None, classifier: Any = None,
                 max_batch: int = 32, ray_address: str | None = None, **ray_options: Any) -> ModelBackend:
    """The backend ``kind`` (``inprocess`` needs ``classifier``; ``ray`` needs ``model_path``)."""
    check_backend(kind)
    if kind == "inprocess":
        if classifier is None:
            raise InputError("the inprocess backend needs a classifier")
        return InProcessBackend(classifier, max_batch)
    if model_path is None:
        raise InputError("--backend ray needs a model file (--model PATH.h5)")
    return RayBackend.start(model_path, address=ray_address, max_batch=max_batch, **ray_options)
