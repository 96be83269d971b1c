"""Real face photos, camera-like clips made from them, and y4m files for a fake camera.

Why: tests and load users need *real* faces (not drawn ones) so that an actual face
detector (face-api in the browser, OpenCV on the server) has something to find, and the
frames must move a little so that a pipeline cannot pass by caching one answer. All images
ship inside installed packages (``skimage.data`` and matplotlib's ``sample_data``), so
nothing is downloaded.

Ground truth: the "true" face box of a photo is OpenCV's frontal-face Haar cascade on the
full-resolution photo (``scaleFactor=1.1, minNeighbors=5, minSize=40``). On these photos it
finds exactly one face on ``astronaut`` (177, 66, 95, 95) and ``grace_hopper`` (155, 105,
222, 222) and none on ``coffee``, ``camera`` and ``chelsea`` (checked with OpenCV 4.14;
:func:`face_box` recomputes it, the unit tests pin the values). Detectors disagree about
where a face ends (face-api's boxes reach the chin), so compare boxes by "centre inside"
plus IoU ≥ 0.4, never exactly (docs/ARCHITECTURE.md, Pitfalls). Note that ``camera`` (the cameraman) *does*
show a small, turned face: Haar misses it, face-api at inputSize ≥ 320 finds it, so use
``coffee`` or ``chelsea`` as the no-face negatives for browser tests.

Frames are BGR ``uint8`` (OpenCV's convention) everywhere in this module.
"""
from __future__ import annotations

import functools
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from hybridlib.utils import InputError, atomic_path

log = logging.getLogger(__name__)

#: photos with exactly one frontal face, and photos with none (the negatives)
FACE_IMAGES = ("astronaut", "grace_hopper")
NO_FACE_IMAGES = ("coffee", "camera", "chelsea")
IMAGES = FACE_IMAGES + NO_FACE_IMAGES

Box = tuple[int, int, int, int]  # x, y, w, h in pixels


@functools.lru_cache(maxsize=8)
def _load(name: str) -> np.ndarray:
    if name == "grace_hopper":
        import matplotlib

        path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
        img = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if img is None:  # pragma: no cover - matplotlib always ships it
            raise InputError(f"cannot read {path}")
        return img
    import skimage.data

    img = getattr(skimage.data, name)()
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(img[:, :, ::-1])  # RGB → BGR


def face_image(name: str = "astronaut") -> np.ndarray:
    """The photo ``name`` as a BGR uint8 array (a fresh copy; callers may draw on it)."""
    if name not in IMAGES:
        raise InputError(f"unknown image {name!r}; choose one of {', '.join(IMAGES)}")
    return _load(name).copy()


@functools.lru_cache(maxsize=8)
def face_box(name: str = "astronaut") -> Box | None:
    """True face box (x, y, w, h) of photo ``name`` in its own pixels, or None if no face.

    OpenCV Haar (frontal face, default cascade) on the full photo; the largest detection wins.
    """

    img = face_image(name)
    gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    casc = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, "haarcascade_frontalface_default.xml"))
    found = casc.detectMultiScale(gray, scaleFactor=1.1, minNeighbors=5, minSize=(40, 40))
    if len(found) == 0:
        return None
    x, y, w, h = max(found, key=lambda b: int(b[2]) * int(b[3]))
    return int(x), int(y), int(w), int(h)


def _frame_transforms(img_shape: tuple[int, ...], size: tuple[int, int], n_frames: int,
                      jitter: float) -> list[np.ndarray]:
    """2×3 affine maps photo → frame for each frame: fit (contain), centre, then a slow
    circular drift of ``jitter`` pixels and ±2% zoom, so consecutive frames differ."""
    w, h = size
    ih, iw = img_shape[:2]
    base = min(w / iw, h / ih)
    out = []
    for i in range(n_frames):
        t = 2 * math.pi * i / max(n_frames, 1)
        s = base * (1.0 + 0.02 * math.sin(t) * (1.0 if jitter > 0 else 0.0))
        dx = jitter * math.cos(t)
        dy = jitter * math.sin(t)
        tx = (w - iw * s) / 2 + dx
        ty = (h - ih * s) / 2 + dy
        out.append(np.array([[s, 0.0, tx], [0.0, s, ty]], dtype=np.float64))
    return out


def _check_clip_args(size: Sequence[int], n_frames: int, jitter: float) -> tuple[int, int]:
    if len(size) != 2 or min(size) < 16 or any(int(v) % 2 for v in size):
        raise InputError(f"size must be (width, height), even, ≥ 16 pixels; got {tuple(size)!r}")
    if n_frames < 1:
        raise InputError(f"n_frames must be ≥ 1; got {n_frames}")
    if jitter < 0:
        raise InputError(f"jitter must be ≥ 0 pixels; got {jitter}")
    return int(size[0]), int(size[1])


def face_clip(name: str = "astronaut", size: tuple[int, int] = (640, 480), n_frames: int = 30,
              jitter: float = 6.0, background: int = 96) -> list[np.ndarray]:
    """``n_frames`` BGR frames of ``size`` = (width, height) showing photo ``name``.

    The photo is scaled to fit, centred on a gray ``background`` and drifts by up to
    ``jitter`` pixels (one circle per clip, so the clip loops smoothly in a fake camera).
    """

    w, h = _check_clip_args(size, n_frames, jitter)
    img = face_image(name)
    frames = []
    for m in _frame_transforms(img.shape, (w, h), n_frames, jitter):
        frames.append(cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT,
                                     borderValue=(background,) * 3))
    return frames


def face_clip_boxes(name: str = "astronaut", size: tuple[int, int] = (640, 480), n_frames: int = 30,
                    jitter: float = 6.0) -> list[Box | None]:
    """The true face box in each frame of the matching :func:`face_clip` (None: no face)."""
    w, h = _check_clip_args(size, n_frames, jitter)
    box = face_box(name)
    img_shape = face_image(name).shape
    out: list[Box | None] = []
    for m in _frame_transforms(img_shape, (w, h), n_frames, jitter):
        if box is None:
            out.append(None)
            continue
        x, y, bw, bh = box
        s = m[0, 0]
        out.append((int(round(x * s + m[0, 2])), int(round(y * s + m[1, 2])),
                    int(round(bw * s)), int(round(bh * s))))
    return out


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = map(float, a)
    bx, by, bw, bh = map(float, b)
    ix = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    iy = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    inter = ix * iy
    union = aw * ah + bw * bh - inter
    return inter / union if union > 0 else 0.0


def contains_point(box: Sequence[float], x: float, y: float) -> bool:
    bx, by, bw, bh = map(float, box)
    return bx <= x <= bx + bw and by <= y <= by + bh


def box_centre(box: Sequence[float]) -> tuple[float, float]:
    x, y, w, h = map(float, box)
    return x + w / 2, y + h / 2


def write_y4m(frames: Sequence[np.ndarray], path: str | os.PathLike[str], fps: int = 15) -> Path:
    """Write BGR frames as a YUV4MPEG2 file (4:2:0, ``C420jpeg``) atomically.

    This is the format Chromium's ``--use-file-for-fake-video-capture`` reads (it loops the
    file). Width and height must be even (4:2:0 halves both for the chroma planes).
    """

    if not frames:
        raise InputError("write_y4m needs at least one frame")
    h, w = frames[0].shape[:2]
    if w % 2 or h % 2:
        raise InputError(f"y4m 4:2:0 needs even width and height; got {w}×{h}")
    if fps < 1:
        raise InputError(f"fps must be ≥ 1; got {fps}")
    path = Path(path)
    header = f"YUV4MPEG2 W{w} H{h} F{int(fps)}:1 Ip A1:1 C420jpeg\n".encode("ascii")
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(header)
        for i, fr in enumerate(frames):
            if fr.shape[:2] != (h, w) or fr.dtype != np.uint8:
                raise InputError(f"frame {i} is {fr.shape} {fr.dtype}; expected {(h, w, 3)} uint8")
            if fr.ndim == 2:
                fr = cv2.cvtColor(fr, cv2.COLOR_GRAY2BGR)
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(fr, cv2.COLOR_BGR2YUV_I420).tobytes())  # Y, then U, then V planes
    return path


def read_y4m(path: str | os.PathLike[str]) -> tuple[list[np.ndarray], int]:
    """Read a 4:2:0 y4m written by :func:`write_y4m` back to BGR frames (for tests); → (frames, fps)."""

    data = Path(path).read_bytes()
    nl = data.index(b"\n")
    fields = data[:nl].decode("ascii").split()
    if fields[0] != "YUV4MPEG2":
        raise InputError(f"{path}: not a YUV4MPEG2 file")
    opts = {f[0]: f[1:] for f in fields[1:]}
    w, h = int(opts["W"]), int(opts["H"])
    num, den = (int(v) for v in opts.get("F", "30:1").split(":"))
    fsize = w * h * 3 // 2
    frames, pos = [], nl + 1
    while pos < len(data):
        end = data.index(b"\n", pos)
        if not data[pos:end].startswith(b"FRAME"):
            raise InputError(f"{path}: bad frame header at byte {pos}")
        pos = end + 1
        yuv = np.frombuffer(data[pos:pos + fsize], np.uint8).reshape(h * 3 // 2, w)
        frames.append(cv2.cvtColor(yuv, cv2.COLOR_YUV2BGR_I420))
        pos += fsize
    return frames, max(1, round(num / den))


def make_y4m(name: str, path: str | os.PathLike[str], size: tuple[int, int] = (640, 480),
             n_frames: int = 30, fps: int = 15, jitter: float = 6.0) -> Path:
    """One call for tests and the notebook: clip of photo ``name`` → y4m at ``path``."""
    return write_y4m(face_clip(name, size=size, n_frames=n_frames, jitter=jitter), path, fps=fps)
