"""Model backends without Ray running: the in-process backend, option checks, the worker's
failure path, and that Ray is never imported unless the ray backend is asked for."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hybridlib import cli  # noqa: E402
from hybridlib.serving import backends, cloud, media, vision  # noqa: E402
from hybridlib.serving import sessions as serving_sessions  # noqa: E402
from hybridlib.utils import InputError  # noqa: E402


@pytest.fixture(scope="module")
def classifier():
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    return vision.Classifier(m)


def test_inprocess_backend_chunks_like_one_call(classifier):
    crops = np.random.default_rng(0).integers(0, 255, (11, 48, 48), dtype=np.uint8)
    b = backends.InProcessBackend(classifier, max_batch=4)  # 4 + 4 + 3
    got = b.predict_batch(crops)
    assert got.shape == (11, 7)
    np.testing.assert_allclose(got, classifier.batch(crops), atol=1e-6)
    assert b.predict_batch(crops[:0]).shape == (0, 7)
    assert isinstance(b, backends.ModelBackend)


def test_replica_state_splits_merged_requests_back(classifier, tmp_path):
    """What a replica does with several requests' crops (``@serve.batch`` hands it a list)."""
    rep = backends.EmotionModel.__new__(backends.EmotionModel)  # the state, without loading files
    rep.classifier, rep.max_batch, rep.calls = classifier, 32, 0
    rng = np.random.default_rng(1)
    reqs = [rng.integers(0, 255, (n, 48, 48), dtype=np.uint8) for n in (2, 0, 5)]
    out = rep.predict_lists(reqs)
    assert [o.shape for o in out] == [(2, 7), (0, 7), (5, 7)] and rep.calls == 1
    for r, o in zip(reqs, out):
        if len(r):
            np.testing.assert_allclose(o, classifier.batch(r), atol=1e-6)


def test_model_files_ship_the_h5_and_a_current_tflite(tmp_path):
    with pytest.raises(InputError, match="nope.h5"):
        backends.model_files(tmp_path / "nope.h5")
    (tmp_path / "m.h5").write_bytes(b"h5")
    assert set(backends.model_files(tmp_path / "m.h5")) == {"model.h5"}
    (tmp_path / "m.tflite").write_bytes(b"tfl")
    (tmp_path / "m.tflite.sha256").write_text("abc\n")
    assert set(backends.model_files(tmp_path / "m.h5")) == {"model.h5", "model.tflite", "model.tflite.sha256"}


def test_backend_options_are_checked():
    with pytest.raises(InputError, match="backend 'gpu'"):
        cloud.CloudConfig(backend="gpu")
    with pytest.raises(InputError, match="'ours' pipeline"):
        cloud.CloudConfig(backend="ray", pipeline="seed")
    with pytest.raises(InputError, match="--ray-address"):
        cloud.CloudConfig(ray_address="127.0.0.1:6379")
    with pytest.raises(InputError, match="timeout"):
        cloud.CloudConfig(backend="ray", answer_timeout_s=0)
    with pytest.raises(InputError, match="needs a model file"):
        backends.make_backend("ray", None)
    with pytest.raises(InputError, match="classifier"):
        backends.make_backend("inprocess", None)


def test_cli_refuses_backend_outside_cloud_mode(capsys):
    assert cli.main(["serve", "--mode", "hybrid", "--backend", "ray", "--model", "reference"]) == 2
    assert "--mode cloud" in capsys.readouterr().err


def test_ray_is_imported_only_when_asked_for():
    code = ("import sys, hybridlib, hybridlib.cli as c, hybridlib.serving.cloud, hybridlib.study.load; "
            "c.build_parser(); print('ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert out.stdout.strip() == "False"


class _LostTier:
    """A backend whose every call is lost (what RayBackend raises when a replica dies)."""

    name = "lost"

    def predict_batch(self, crops):
        raise backends.BackendError("ray model tier failed: TimeoutError")

    def close(self):
        pass


def test_worker_fails_the_sessions_of_a_lost_round():
    import av

    loop = asyncio.new_event_loop()
    stats = serving_sessions.Stats()
    told: list[tuple[str, str]] = []
    w = serving_sessions.BatchWorker(vision.FaceDetector(), _LostTier(), stats, loop,
                                     on_backend_error=lambda s, why: told.append((s.id, why)))
    sessions = [serving_sessions.Session(pc=None, stats=stats) for _ in range(2)]
    delivered = []
    frame = media.face_clip("astronaut", size=(320, 240), n_frames=1)[0]
    for s in sessions:
        s.deliver = lambda f, m: delivered.append(m)
        vf = av.VideoFrame.from_ndarray(frame, format="bgr24").reformat(format="yuv420p")
        vf.pts = 0
        w.submit(s, vf, 1)
    w._process(w._take())
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    assert delivered == []  # no made-up answer
    assert sorted(i for i, _ in told) == sorted(s.id for s in sessions)
    assert all("ray model tier failed" in why for _, why in told)
    assert stats.backend_errors == 1 and all(s.failed for s in sessions)
    w.submit(sessions[0], object(), 2)  # a failed session's later frames are not worked on
    assert w._take() == []
