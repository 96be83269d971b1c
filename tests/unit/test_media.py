"""hybridlib.serving.media: real photos, true face boxes, clips and y4m round trips."""
from __future__ import annotations

import numpy as np
import pytest

from hybridlib.serving import media
from hybridlib.utils import InputError


def test_face_images_are_bgr_uint8():
    for name in media.IMAGES:
        img = media.face_image(name)
        assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3, name
    # astronaut is RGB in skimage; BGR means the (red) suit patch has a larger channel 2
    a = media.face_image("astronaut")
    from skimage.data import astronaut
    assert np.array_equal(a[:, :, 0], astronaut()[:, :, 2])


def test_true_face_boxes_pinned():
    assert media.face_box("astronaut") == (177, 66, 95, 95)
    assert media.face_box("grace_hopper") == (155, 105, 222, 222)
    for name in media.NO_FACE_IMAGES:
        assert media.face_box(name) is None, name


def test_unknown_image_named_in_error():
    with pytest.raises(InputError, match="lena"):
        media.face_image("lena")


def test_clip_frames_differ_and_boxes_follow():
    frames = media.face_clip("astronaut", size=(320, 240), n_frames=8, jitter=5)
    boxes = media.face_clip_boxes("astronaut", size=(320, 240), n_frames=8, jitter=5)
    assert len(frames) == len(boxes) == 8
    assert all(f.shape == (240, 320, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[2])
    assert len({b for b in boxes}) > 1
    # the Haar detector on the clip frame agrees with the transformed true box
    import cv2, os
    casc = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    for f, b in zip(frames[:3], boxes[:3]):
        det = casc.detectMultiScale(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), 1.1, 5, minSize=(20, 20))
        assert len(det) == 1
        assert media.iou(det[0], b) > 0.6
    assert media.face_clip_boxes("coffee", size=(320, 240), n_frames=2) == [None, None]


def test_clip_rejects_bad_args():
    with pytest.raises(InputError, match="size"):
        media.face_clip("astronaut", size=(321, 240))
    with pytest.raises(InputError, match="n_frames"):
        media.face_clip("astronaut", n_frames=0)


def test_y4m_round_trip(tmp_path):
    frames = media.face_clip("grace_hopper", size=(160, 120), n_frames=3, jitter=2)
    p = media.write_y4m(frames, tmp_path / "c.y4m", fps=10)
    raw = p.read_bytes()
    assert raw.startswith(b"YUV4MPEG2 W160 H120 F10:1 Ip A1:1 C420jpeg\n")
    assert len(raw) == len(raw.split(b"\n", 1)[0]) + 1 + 3 * (6 + 160 * 120 * 3 // 2)
    back, fps = media.read_y4m(p)
    assert fps == 10 and len(back) == 3
    # 4:2:0 loses chroma detail, not the picture
    err = np.abs(back[1].astype(int) - frames[1].astype(int)).mean()
    assert err < 6


def test_y4m_rejects_odd_size_and_leaves_no_file(tmp_path):
    with pytest.raises(InputError, match="even"):
        media.write_y4m([np.zeros((11, 16, 3), np.uint8)], tmp_path / "x.y4m")
    bad = [np.zeros((16, 16, 3), np.uint8), np.zeros((8, 8, 3), np.uint8)]
    with pytest.raises(InputError, match="frame 1"):
        media.write_y4m(bad, tmp_path / "y.y4m")
    assert list(tmp_path.iterdir()) == []


def test_iou_and_contains():
    assert media.iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert media.iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert abs(media.iou((0, 0, 10, 10), (5, 0, 10, 10)) - 50 / 150) < 1e-9
    assert media.contains_point((0, 0, 10, 10), 5, 5)
    assert not media.contains_point((0, 0, 10, 10), 11, 5)
