"""Cloud mode with ``--backend ray``: the CNN in a Ray Serve deployment, WebRTC in the server.

One small local Ray (2 CPUs, 100 MB object store, no dashboard, loopback) is started by this
module for all its tests (starting Ray costs seconds); the server under test is the real
``hybridlib serve --mode cloud --backend ray --ray-address …`` process joining it, and the
clients are real aiortc peers streaming a face photo clip. Checked: results equal the in-process
backend's, admission control (503), and a replica killed mid-stream fails its sessions cleanly
while the server goes on serving.
"""
from __future__ import annotations

import asyncio
import os
import time
import urllib.request

import numpy as np
import pytest

pytestmark = pytest.mark.integration

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # loopback only (see backends.ensure_ray)

ray = pytest.importorskip("ray", reason="ray[serve] not installed (make setup installs it)")


@pytest.fixture(scope="module")
def ray_address():
    """One local Ray for the module; always torn down (Serve first), so no raylet outlives it."""
    from hybridlib.serving import backends

    assert backends.ensure_ray(None), "a Ray was already running in the test process"
    try:
        yield backends.local_address()
    finally:
        from ray import serve

        try:
            serve.shutdown()
        finally:
            ray.shutdown()


@pytest.fixture(scope="module")
def ray_srv(tiny_model, ray_address, tmp_path_factory):
    from hybridlib.study import load

    logp = tmp_path_factory.mktemp("log") / "server-ray.log"
    # a 1 s answer deadline: far above a request's ~10 ms, far below a replacement replica's
    # start (a process plus TensorFlow), so losing the replica fails rounds deterministically
    with load.server("cloud", tiny_model, max_sessions=2, backend="ray", ray_address=ray_address,
                     log_path=logp, startup_timeout_s=240, serve_args=["--answer-timeout", "1"]) as s:
        yield s


def _replicas() -> list[str]:
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["name"].startswith("SERVE_REPLICA") and "EmotionModel" in a["name"]]


def _wait_replaced(old: list[str], timeout_s: float = 180.0) -> None:
    """Until Serve reports the app RUNNING on a replica other than ``old`` (a new one loads TF)."""
    from ray import serve

    from hybridlib.serving import backends

    t_end = time.time() + timeout_s
    while time.time() < t_end:
        app = serve.status().applications.get(backends.APP_NAME)
        if app is not None and str(app.status).endswith("RUNNING") and set(_replicas()) - set(old):
            return
        time.sleep(0.5)
    raise AssertionError(f"Serve did not replace replica {old} (status {serve.status()})")


def _wait_idle(srv, timeout_s: float = 20.0) -> None:
    t_end = time.time() + timeout_s
    while time.time() < t_end and srv.metrics().get("sessions"):
        time.sleep(0.3)
    assert srv.metrics()["sessions"] == 0, "a closed peer's session was never released"


def _face_crops(n: int = 5) -> np.ndarray:
    from hybridlib.serving import vision
    from hybridlib.study import load

    det = vision.FaceDetector()
    crops = []
    for f in load.make_clip((320, 240), n):
        gray = f[..., 1].copy()
        crops.append(vision.crop_faces(gray, det.detect_full(gray) or [(100, 50, 80, 80)]))
    return np.concatenate(crops)


def test_ray_backend_matches_inprocess(ray_srv, tiny_model):
    """Same crops → same probabilities through the Serve deployment as in this process; and a
    real peer streaming through ``--backend ray`` gets the same answers as one through the
    in-process server."""
    from ray import serve

    from hybridlib.serving import app as serve_app
    from hybridlib.serving import backends, media, vision
    from hybridlib.study import load

    crops = _face_crops()
    local = backends.InProcessBackend(vision.Classifier.load(tiny_model)).predict_batch(crops)
    remote = backends.RayBackend(serve.get_app_handle(backends.APP_NAME), owns_cluster=False)
    got = remote.predict_batch(crops)
    assert got.shape == local.shape == (len(crops), 7)
    np.testing.assert_allclose(got, local, atol=1e-5)

    size = (320, 240)
    frames = load.make_clip(size, 20)
    truth = [b for b in media.face_clip_boxes("astronaut", size=size, n_frames=20) if b]
    r_ray = asyncio.run(load.cloud_user(ray_srv.url, frames, 10, 3.0))
    app = serve_app.make_app("cloud", model_path=tiny_model, max_sessions=1)
    with serve_app.run_in_thread(app) as url:
        r_in = asyncio.run(load.cloud_user(url, frames, 10, 3.0))
    for r in (r_ray, r_in):
        assert r.admitted and r.error is None and r.server_error is None, (r.error, r.server_error)
        assert r.answered > 0 and not r.closed_by_server
        assert len(r.last_message["faces"]) == 1
    f_ray, f_in = r_ray.last_message["faces"][0], r_in.last_message["faces"][0]
    assert any(media.iou(t, f_ray["box"]) >= 0.4 for t in truth)
    # different frames of a drifting clip after lossy VP8: close, not bit-equal
    p_ray = np.array([f_ray["probs"][k] for k in sorted(f_ray["probs"])])
    p_in = np.array([f_in["probs"][k] for k in sorted(f_in["probs"])])
    np.testing.assert_allclose(p_ray, p_in, atol=0.03)
    m = ray_srv.metrics()
    assert m["backend"] == "ray" and m["backend_errors"] == 0 and m["frames_out"] > 0


def test_capacity_gets_503(ray_srv):
    from hybridlib.study import load

    _wait_idle(ray_srv)
    frames = load.make_clip((320, 240), 20)

    async def scenario():
        a = asyncio.ensure_future(load.cloud_user(ray_srv.url, frames, 10, 4.0))
        b = asyncio.ensure_future(load.cloud_user(ray_srv.url, frames, 10, 4.0))
        await asyncio.sleep(2.0)
        c = await load.cloud_user(ray_srv.url, frames, 10, 1.0)
        return await a, await b, c

    a, b, c = asyncio.run(scenario())
    assert a.admitted and b.admitted, (a.error, b.error)
    assert a.answered > 0 and b.answered > 0
    assert not c.admitted and c.status == 503 and "capacity" in (c.error or "")
    assert ray_srv.metrics()["refused"] >= 1


def test_replica_killed_midstream_fails_its_sessions_cleanly(ray_srv):
    """SIGKILL-equivalent ``ray.kill`` of the only replica while two peers stream: their
    sessions end with an error message and a closed channel (not a hang), the server stays up,
    Serve replaces the replica, and a new peer is served again."""
    from hybridlib.study import load

    _wait_idle(ray_srv)
    frames = load.make_clip((320, 240), 20)
    before = _replicas()
    assert len(before) == 1, before

    async def scenario():
        users = [asyncio.ensure_future(load.cloud_user(ray_srv.url, frames, 10, 20.0)) for _ in range(2)]
        await asyncio.sleep(3.0)
        ray.kill(ray.get_actor(before[0], namespace="serve"), no_restart=True)
        return await asyncio.gather(*users)

    killed = asyncio.run(scenario())
    failed = [u for u in killed if u.server_error is not None]
    assert failed, "no session was told that its answers stopped"
    for u in killed:
        assert u.admitted and u.answered > 0, u.error
        # told why, then the channel closed (long before the 20 s the user planned); never one
        # without the other (a silent close, or an error and a session left dangling)
        assert u.closed_by_server == (u.server_error is not None), (u.closed_by_server, u.server_error)
    for u in failed:
        assert "ray model tier failed" in u.server_error and u.frames_sent < 20 * 10, u.server_error
    with urllib.request.urlopen(f"{ray_srv.url}/healthz", timeout=10) as r:
        assert r.status == 200
    m = ray_srv.metrics()
    assert m["backend_errors"] >= 1 and m["sessions_failed"] == len(failed)
    _wait_idle(ray_srv)
    _wait_replaced(before)
    after = asyncio.run(load.cloud_user(ray_srv.url, frames, 10, 4.0))  # served by the new replica
    assert after.admitted and after.answered > 0 and after.server_error is None, (after.error, after.server_error)
    assert _replicas() and _replicas() != before


def test_load_users_as_ray_tasks(ray_srv, ray_address):
    """``hybridlib load --ray-address``: the synthetic users run as Ray tasks and their results
    merge into the same records as local worker processes'."""
    from hybridlib.study import load

    _wait_idle(ray_srv)
    res = load.run_users("cloud", ray_srv.url, 2, 3.0, fps=10, size=(320, 240), users_per_worker=1,
                         ray_address=ray_address)
    assert len(res) == 2 and all(isinstance(r, load.UserResult) for r in res)
    for r in res:
        assert r.admitted and r.error is None and r.answered > 0 and r.frames_sent > 0
        assert r.bytes_sent > 0 and r.rtt_ms


def test_media_workers_place_sessions_and_cap_cluster_wide(tiny_model, ray_address, tmp_path):
    """``--media-workers 2 --max-sessions 1 --backend ray``: peer connections live in two Ray
    actors, one session each, each session stays on its worker, and the workers send their
    crops to the Serve model tier; the third offer gets 503 for the whole cluster.
    (``benchmarks/demo_ray_cluster.py`` runs the workers with their own model on 2 raylets.)"""
    from hybridlib.serving import ray_media
    from hybridlib.study import load

    frames = load.make_clip((320, 240), 20)
    with load.server("cloud", tiny_model, max_sessions=1, ray_address=ray_address, startup_timeout_s=240,
                     serve_args=["--media-workers", "2", "--backend", "ray"], log_path=tmp_path / "media.log") as srv:
        names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
                 if a["namespace"] == ray_media.NAMESPACE and a["name"].startswith(f"media-{srv.proc.pid}-")]
        assert len(names) == 2, names
        seen = {}

        async def scenario():
            users = [asyncio.ensure_future(load.cloud_user(srv.url, frames, 10, 5.0)) for _ in range(2)]
            await asyncio.sleep(1.5)
            third = await load.cloud_user(srv.url, frames, 10, 1.0)
            loop = asyncio.get_running_loop()
            for k in ("early", "late"):
                await asyncio.sleep(1.0)
                seen[k] = await loop.run_in_executor(None, srv.metrics)
            return await asyncio.gather(*users), third

        users, third = asyncio.run(scenario())
    for u in users:
        assert u.admitted and u.answered > 0 and u.server_error is None, (u.error, u.server_error)
    assert third.status == 503 and "cluster at capacity" in (third.error or "")
    early, late = ({w["pid"]: w["sessions"] for w in seen[k]["workers"]} for k in ("early", "late"))
    assert len(early) == 2 and set(early.values()) == {1}  # one session on each worker …
    assert late == early  # … and there it stays
    assert seen["late"]["max_sessions"] == 2 and seen["late"]["refused"] >= 1
    assert seen["late"]["frames_out"] > 0
    assert {w["backend"] for w in seen["late"]["workers"]} == {"ray"}
    assert not [a for a in ray.util.list_named_actors(all_namespaces=True)
                if a["name"].startswith(f"media-{srv.proc.pid}-")], "the server left its workers behind"
