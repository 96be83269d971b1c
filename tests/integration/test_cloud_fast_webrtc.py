"""The fast cloud pipeline end to end: a real ``hybridlib serve --mode cloud --pipeline
fast`` process, a real aiortc peer streaming a real face clip; labels on every answered frame, no
returned video (results on the data channel only: the answer adds no track, nothing is encoded),
and the per-stage CPU record on ``/metrics``."""
from __future__ import annotations

import asyncio
import os

import pytest

from hybridlib import data

pytestmark = pytest.mark.integration

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def test_fast_pipeline_answers_with_labels_over_the_data_channel_only(tiny_model, tmp_path):
    from hybridlib.serving import media
    from hybridlib.study import load

    size = (640, 480)
    frames = load.make_clip(size, 30)
    truth = [b for b in media.face_clip_boxes("astronaut", size=size, n_frames=30) if b]
    with load.server("cloud", tiny_model, max_sessions=2, pipeline="fast", log_path=tmp_path / "s.log") as srv:
        r = asyncio.run(load.cloud_user(srv.url, frames, 15, 3.0))
        m = srv.metrics()
    assert r.admitted and r.error is None, r.error
    assert r.answered > 0 and r.video_frames == 0  # no returned track
    msg = r.last_message
    assert len(msg["faces"]) == 1 and msg["faces"][0]["emotion"] in data.CLASS_NAMES
    box = msg["faces"][0]["box"]
    assert any(media.contains_point(t, *media.box_centre(box)) and media.iou(t, box) >= 0.4 for t in truth)
    assert m["pipeline"] == "fast" and m["decoder_threads"] == 1 and m["return_video"] is False
    st = m["stages"]
    for k in ("decode", "convert", "detect", "crop", "cnn", "results"):
        assert st[k]["frames"] > 0 and st[k]["cpu_ms"] >= 0, k
    assert st["results"]["frames"] == m["frames_out"]
    for k in ("overlay", "encode"):  # nothing drawn, nothing encoded
        assert st.get(k, {}).get("frames", 0) == 0, k
