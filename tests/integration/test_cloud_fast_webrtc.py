"""The fast cloud pipeline end to end (issue 22): a real ``hybridlib serve --mode cloud --pipeline
fast`` process, a real aiortc peer streaming a real face clip; labels on every answered frame, the
half-size overlay video, and the per-stage CPU record on ``/metrics``."""
from __future__ import annotations

import asyncio
import os

import numpy as np
import pytest

from hybridlib import data

pytestmark = pytest.mark.integration

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _green_mask(img: np.ndarray) -> np.ndarray:
    b, g, r = (img[..., i].astype(int) for i in range(3))
    return (g > 180) & (r < 90) & (b < 90)


def test_fast_pipeline_answers_with_labels_half_size_video_and_stage_costs(tiny_model, tmp_path):
    from hybridlib.serving import media
    from hybridlib.study import load

    size = (640, 480)
    frames = load.make_clip(size, 30)
    truth = [b for b in media.face_clip_boxes("astronaut", size=size, n_frames=30) if b]
    with load.server("cloud", tiny_model, max_sessions=2, pipeline="fast", log_path=tmp_path / "s.log") as srv:
        r = asyncio.run(load.cloud_user(srv.url, frames, 15, 3.0, keep_video_frame=True))
        m = srv.metrics()
    assert r.admitted and r.error is None, r.error
    assert r.answered > 0 and r.video_frames > 0
    msg = r.last_message
    video = msg.pop("_video_frame")
    assert len(msg["faces"]) == 1 and msg["faces"][0]["emotion"] in data.CLASS_NAMES
    box = msg["faces"][0]["box"]
    assert any(media.contains_point(t, *media.box_centre(box)) and media.iou(t, box) >= 0.4 for t in truth)
    # the preview video comes back at half size with the overlay drawn at half scale
    assert video is not None and video.shape == (240, 320, 3)
    x, y, w, h = (v // 2 for v in box)
    assert _green_mask(video)[max(0, y - 8):y + h + 8, max(0, x - 8):x + w + 8].sum() > w + h
    # one video frame per three answered (give or take the ends of the stream)
    assert r.video_frames <= r.answered // 3 + 3
    assert m["pipeline"] == "fast" and m["decoder_threads"] == 1 and m["video_every"] == 3
    st = m["stages"]
    for k in ("decode", "convert", "detect", "crop", "cnn", "overlay", "results", "encode"):
        assert st[k]["frames"] > 0 and st[k]["cpu_ms"] >= 0, k
    assert st["results"]["frames"] == m["frames_out"]
    assert st["encode"]["frames"] < st["decode"]["frames"]
