"""Cloud mode's pieces without a network: detection, tracking, overlay, the batching worker."""
from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from hybridlib import data
from hybridlib.serving import cloud, vision
from hybridlib.serving import sessions as serving_sessions
from hybridlib.serving import media  # noqa: E402
from hybridlib.utils import InputError  # noqa: E402


@pytest.fixture(scope="module")
def clip():
    size = (640, 480)
    return media.face_clip("astronaut", size=size, n_frames=10), media.face_clip_boxes("astronaut", size=size, n_frames=10)


@pytest.fixture(scope="module")
def detector():
    return vision.FaceDetector()


def _gray(bgr):
    import cv2
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)


def _matches(box, truth):
    return media.contains_point(truth, *media.box_centre(box)) and media.iou(box, truth) >= 0.4


def test_scaled_detection_finds_the_face_and_full_agrees(clip, detector):
    frames, truth = clip
    g = _gray(frames[0])
    scaled = detector.detect_scaled(g)
    full = detector.detect_full(g)
    assert len(scaled) == 1 and len(full) == 1
    assert _matches(scaled[0], truth[0]) and _matches(full[0], truth[0])


def test_no_face_on_negatives(detector):
    import cv2
    for name in media.NO_FACE_IMAGES:
        img = media.face_image(name)
        g = img if img.ndim == 2 else cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        assert detector.detect_scaled(g) == []


def test_tracking_follows_the_face_across_frames(clip, detector):
    frames, truth = clip
    box = detector.detect_scaled(_gray(frames[0]))[0]
    for f, t in zip(frames[1:], truth[1:]):
        box = detector.track(_gray(f), box)
        assert box is not None and _matches(box, t)


def test_tracking_loses_a_face_that_left(clip, detector):
    frames, _ = clip
    box = detector.detect_scaled(_gray(frames[0]))[0]
    empty = np.full((480, 640), 96, np.uint8)
    assert detector.track(empty, box) is None


def test_crop_and_result_schema():
    g = np.arange(480 * 640, dtype=np.uint32).reshape(480, 640).astype(np.uint8)
    crops = vision.crop_faces(g, [(10, 20, 100, 100), (600, 450, 80, 80)])
    assert crops.shape == (2, 48, 48) and crops.dtype == np.uint8
    probs = np.array([0.1, 0, 0, 0.7, 0.1, 0.05, 0.05])
    r = vision.face_result((1, 2, 3, 4), probs)
    assert r["box"] == [1, 2, 3, 4] and r["emotion"] == "Happy"
    assert list(r["probs"]) == list(data.CLASS_NAMES)


def test_overlay_yuv_draws_green_in_bgr(clip):
    import cv2
    frame = clip[0][0]
    yuv = cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420)
    face = vision.face_result((200, 60, 100, 100), np.eye(7)[3])
    vision.draw_overlay_yuv(yuv, [face])
    bgr = cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420)
    b, g, r = (bgr[..., i].astype(int) for i in range(3))
    green = (g > 180) & (r < 90) & (b < 90)
    assert green[60:162, 198:302].sum() > 300      # the rectangle is there
    assert green[300:, :].sum() == 0               # and nowhere else


def test_config_validation():
    with pytest.raises(InputError, match="pipeline"):
        cloud.CloudConfig(pipeline="turbo")
    with pytest.raises(InputError, match="max_sessions"):
        cloud.CloudConfig(max_sessions=0)


class _Frame:
    def __init__(self, k: int) -> None:
        self.k = k


def test_worker_keeps_only_the_newest_frame():
    """A session that sends faster than the worker runs: stale frames are replaced and counted."""
    stats = serving_sessions.Stats()
    w = serving_sessions.BatchWorker(None, None, stats, loop=None)  # not started: we drive it by hand
    s = serving_sessions.Session(pc=None, stats=stats)
    for k in range(5):
        w.submit(s, _Frame(k), k + 1)
    work = w._take()
    assert [(x[0], x[1].k, x[2]) for x in work] == [(s, 4, 5)]
    assert s.dropped == 4 and stats.frames_dropped == 4
    assert s.pending is None


def test_worker_batches_sessions_and_answers_each(clip):
    """One classifier call for the faces of all sessions in a round; each session gets its message."""
    import av

    calls = []

    class FakeClassifier:
        def batch(self, faces):
            calls.append(len(faces))
            p = np.zeros((len(faces), 7), np.float32)
            p[:, 5] = 1
            return p

    loop = asyncio.new_event_loop()
    stats = serving_sessions.Stats()
    w = serving_sessions.BatchWorker(vision.FaceDetector(), FakeClassifier(), stats, loop)
    sessions = [serving_sessions.Session(pc=None, stats=stats) for _ in range(3)]
    got = {}
    for s in sessions:
        s.deliver = lambda frame, msg, s=s: got.setdefault(s.id, (frame, msg))
        vf = av.VideoFrame.from_ndarray(clip[0][0], format="bgr24").reformat(format="yuv420p")
        vf.pts = 0
        w.submit(s, vf, 1)
    w._process(w._take())
    loop.call_soon(loop.stop)
    loop.run_forever()
    loop.close()
    assert calls == [3]
    assert set(got) == {s.id for s in sessions}
    for frame, msg in got.values():
        assert msg["faces"][0]["emotion"] == "Surprise" and msg["frame"] == 1
        assert frame.width == 640 and frame.height == 480


def test_classifier_batch_matches_predict_one():
    import tf_keras as keras
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    c = vision.Classifier(m)
    faces = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    b = c.batch(faces)
    assert b.shape == (3, 7)
    np.testing.assert_allclose(b[1], c.predict_one(faces[1]), atol=1e-5)
    assert c.batch(faces[:0]).shape == (0, 7)
    # both runtimes compute the same network
    tf_only = vision.Classifier(m, runtime="tf")
    np.testing.assert_allclose(tf_only.batch(faces), b, atol=1e-5)
    assert tf_only.runtime == "tf" and c.runtime in ("tflite", "tf")


def test_classifier_load_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        vision.Classifier.load(tmp_path / "nope.h5")


def test_seed_ledger_counts_queued_and_lost_frames():
    led = serving_sessions.SeedLedger()
    assert led.on_frame(0, 0) == (0, 0)
    assert led.on_frame(6000, 3) == (1, 0)  # 3 more were waiting: the handler is behind
    assert led.on_frame(12000, 2) == (1, 0)  # still behind
    assert led.on_frame(30000, 0) == (0, 2)  # frames at 18000 and 24000 never reached the handler
    assert (led.queued, led.lost, led.backlog_max) == (2, 2, 3)
    assert led.on_frame(None, 0) == (0, 0)  # no timestamp: nothing can be said about gaps


def test_seed_ledger_sees_frames_waiting_outside_aiortc_queues():
    """A frame taken late against the sender's clock (15 fps: 6000 ticks of 90 kHz) counts as
    queued even with aiortc's queues empty: the rest wait in the kernel's socket buffer."""
    led = serving_sessions.SeedLedger()
    assert led.on_frame(0, 0, now=10.0) == (0, 0)
    assert led.on_frame(6000, 0, now=10.0667) == (0, 0)  # on time
    assert led.on_frame(12000, 0, now=10.5) == (1, 0)  # 0.37 s late: 5 frames behind
    assert led.backlog_max == 5 and led.queued == 1


class _FakePC:
    """Just enough of RTCPeerConnection for Session bookkeeping (no network)."""

    sctp = None

    def getTransceivers(self):  # noqa: N802 - aiortc's name
        return []

    async def close(self):
        pass


def test_seed_pipeline_counts_frames_that_queue_and_those_left_unanswered(clip):
    """The seed handles frames inline, in order: frames that arrive while it is busy wait in
    aiortc's (unbounded) track queue — counted as queued — and those still waiting when the
    peer leaves are never answered — counted as dropped, in the session and in /metrics."""
    from fractions import Fraction

    import av
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    class FakeClassifier:  # the CNN is not what is counted here
        def predict_one(self, face):
            return np.eye(7)[3]

    async def scenario():
        svc = cloud.CloudService(FakeClassifier(), cloud.CloudConfig(pipeline="seed"),
                                 detector=vision.FaceDetector())
        s = serving_sessions.Session(_FakePC(), svc.stats)
        svc.sessions[s.id] = s
        track = RemoteStreamTrack(kind="video")
        s.seed_track = track
        for k in range(6):  # six frames decoded while the handler was still busy
            vf = av.VideoFrame.from_ndarray(clip[0][k], format="bgr24")
            vf.pts, vf.time_base = k * 6000, Fraction(1, 90_000)
            track._queue.put_nowait(vf)
        _, SeedTrack = serving_sessions.video_track_class()
        seed = SeedTrack(track, s, svc)
        out = [await seed.recv(), await seed.recv()]  # the handler gets through two of them
        m_mid = svc.metrics()
        await svc._close(s)  # the peer hangs up with four still queued
        return out, m_mid, svc.metrics(), s

    out, mid, m, s = asyncio.run(scenario())
    assert len(out) == 2 and m["frames_out"] == 2
    assert mid["frames_queued"] == 2 and mid["backlog_max"] == 5 and mid["frames_dropped"] == 0
    assert m["frames_dropped"] == 4 and s.dropped == 4 and m["frames_lost"] == 0
    assert m["frames_out"] + m["frames_dropped"] == 6  # every decoded frame is accounted for


def test_end_sessions_drops_the_seed_backlog_instead_of_working_it_off(clip):
    """After a load step's users left (``end_sessions``, SIGUSR1 in ``serve``), a seed session
    stops at its next frame: that frame and the rest still queued count as dropped, none is
    processed, and the session closes — so no drain follows the step. Before the signal the
    handler works exactly as without it."""
    import os
    import signal
    from fractions import Fraction

    import av
    from aiohttp import web
    from aiortc.mediastreams import MediaStreamError
    from aiortc.rtcrtpreceiver import RemoteStreamTrack

    class FakeClassifier:
        def predict_one(self, face):
            return np.eye(7)[3]

    async def scenario():
        svc = cloud.CloudService(FakeClassifier(), cloud.CloudConfig(pipeline="seed"),
                                 detector=vision.FaceDetector())
        app = web.Application()
        cloud.register(app, svc)
        s = serving_sessions.Session(_FakePC(), svc.stats)
        svc.sessions[s.id] = s
        track = RemoteStreamTrack(kind="video")
        s.seed_track = track
        for k in range(6):
            vf = av.VideoFrame.from_ndarray(clip[0][k], format="bgr24")
            vf.pts, vf.time_base = k * 6000, Fraction(1, 90_000)
            track._queue.put_nowait(vf)
        _, SeedTrack = serving_sessions.video_track_class()
        seed = SeedTrack(track, s, svc)
        out = [await seed.recv(), await seed.recv()]
        old = signal.getsignal(signal.SIGUSR1)
        try:
            assert cloud.install_end_signal(app)
            os.kill(os.getpid(), signal.SIGUSR1)  # as the load study does, from outside
            await asyncio.sleep(0)
        finally:
            signal.signal(signal.SIGUSR1, old)
        assert s.end_requested and not s.closed
        with pytest.raises(MediaStreamError):
            await seed.recv()
        for _ in range(5):  # the close runs in its own task
            await asyncio.sleep(0)
        return out, svc.metrics(), s

    out, m, s = asyncio.run(scenario())
    assert len(out) == 2 and m["frames_out"] == 2  # nothing processed after the signal
    assert s.closed and m["sessions"] == 0
    assert m["frames_dropped"] == 4 and s.dropped == 4  # the frame taken + three still queued
    assert m["frames_out"] + m["frames_dropped"] == 6
