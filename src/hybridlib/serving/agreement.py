"""Same answers? Today's cloud pipeline (``ours``) and the fast one run frame by frame over the
same clips, and their faces compared: how often they find the same number of faces, how often
the labels agree, and how well the boxes overlap (IoU).

Why a replay and not two live servers: over WebRTC each pipeline sees different frames (which
ones are dropped as stale depends on timing), so a live comparison mixes detection differences
with scheduling. Here both see every frame of the clip in order, as a session at full rate
does, through the same detector and classifier objects the server uses.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

from hybridlib.serving import media
from hybridlib.serving.vision import FaceDetector, TrackState, crop_faces

log = logging.getLogger(__name__)

#: the clips the agreement is stated on: both face photos, still-ish (6 px drift) and moving (24 px)
TEST_CLIPS = (("astronaut", 6.0), ("astronaut", 24.0), ("grace_hopper", 6.0), ("grace_hopper", 24.0),
              ("coffee", 6.0))


@dataclass
class Agreement:
    frames: int  # frames compared
    count_agreement: float  # share of frames where both found the same number of faces
    label_frames: int  # frames where both found faces: labels compared on their best-overlap pairs
    label_agreement: float | None
    mean_iou: float | None  # over those pairs
    min_iou: float | None
    detections_ours: int  # whole-frame searches (today's: after every lost track or 15 frames)
    detections_fast: int
    # share of frames (with a true face and a found one) whose label equals the classifier's label
    # on the clip's TRUE box: how stable each pipeline's label is (the context for label_agreement)
    truth_label_ours: float | None = None
    truth_label_fast: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def replay(frames_bgr: Sequence[np.ndarray], classifier: Any, detector: FaceDetector | None = None,
           detect_every: int = 30, repeats: int = 1,
           truth: Sequence[tuple[int, int, int, int] | None] | None = None) -> Agreement:
    """Both pipelines' detection + classification over ``frames_bgr`` (looped ``repeats`` times,
    as a fake camera loops its clip). ``classifier``: anything with ``.batch(crops)``;
    ``truth``: each frame's true face box (None: no face), for ``truth_label_*``."""
    det = detector or FaceDetector()
    boxes_ours: list = []
    since = 0
    st = TrackState()
    det_ours = 0
    same_count = labels_same = pairs = n = 0
    ious: list[float] = []
    hits = {"ours": 0, "fast": 0}
    seen = {"ours": 0, "fast": 0}
    for _ in range(max(1, repeats)):
        for i_frame, bgr in enumerate(frames_bgr):
            gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
            boxes_ours, since = det.follow(gray, boxes_ours, since)
            det_ours += since == 0
            fast = list(det.follow_fast(gray, st, detect_every))
            n += 1
            same_count += len(fast) == len(boxes_ours)
            tb = truth[i_frame] if truth is not None else None
            lt = int(np.argmax(classifier.batch(crop_faces(gray, [tb]))[0])) if tb is not None else None
            lo = np.argmax(classifier.batch(crop_faces(gray, boxes_ours)), axis=1) if boxes_ours else []
            lf = np.argmax(classifier.batch(crop_faces(gray, fast)), axis=1) if fast else []
            for key, boxes, labels in (("ours", boxes_ours, lo), ("fast", fast, lf)):
                if lt is not None and boxes:  # the found face nearest the true one
                    j = max(range(len(boxes)), key=lambda j: media.iou(tb, boxes[j]))
                    seen[key] += 1
                    hits[key] += int(labels[j] == lt)
            if not fast or not boxes_ours:
                continue
            for i, b in enumerate(boxes_ours):  # each of today's faces against its best fast box
                j = max(range(len(fast)), key=lambda j: media.iou(b, fast[j]))
                ious.append(media.iou(b, fast[j]))
                labels_same += int(lo[i] == lf[j])
                pairs += 1
    return Agreement(frames=n, count_agreement=round(same_count / n, 4) if n else 0.0, label_frames=pairs,
                     label_agreement=round(labels_same / pairs, 4) if pairs else None,
                     mean_iou=round(float(np.mean(ious)), 4) if ious else None,
                     min_iou=round(float(np.min(ious)), 4) if ious else None,
                     detections_ours=int(det_ours), detections_fast=st.detections,
                     truth_label_ours=round(hits["ours"] / seen["ours"], 4) if seen["ours"] else None,
                     truth_label_fast=round(hits["fast"] / seen["fast"], 4) if seen["fast"] else None)


def on_test_clips(classifier: Any, n_frames: int = 60, repeats: int = 2,
                  clips: Sequence[tuple[str, float]] = TEST_CLIPS) -> dict[str, Agreement]:
    """:func:`replay` on each of :data:`TEST_CLIPS` at 640×480, keyed ``"name@jitter"``, plus
    ``"all"`` pooling them (frames-weighted shares, IoU over all pairs' means weighted by pairs)."""
    out: dict[str, Agreement] = {}
    for name, jitter in clips:
        frames = media.face_clip(name, (640, 480), n_frames, jitter=jitter)
        truth = media.face_clip_boxes(name, (640, 480), n_frames, jitter=jitter)
        out[f"{name}@{jitter:g}"] = replay(frames, classifier, repeats=repeats, truth=truth)
    vals = list(out.values())
    n = sum(a.frames for a in vals)
    pairs = sum(a.label_frames for a in vals)
    lab = [a for a in vals if a.label_frames]
    out["all"] = Agreement(
        frames=n, count_agreement=round(sum(a.count_agreement * a.frames for a in vals) / n, 4),
        label_frames=pairs,
        label_agreement=round(sum(a.label_agreement * a.label_frames for a in lab) / pairs, 4) if pairs else None,
        mean_iou=round(sum(a.mean_iou * a.label_frames for a in lab) / pairs, 4) if pairs else None,
        min_iou=min((a.min_iou for a in lab), default=None),
        detections_ours=sum(a.detections_ours for a in vals), detections_fast=sum(a.detections_fast for a in vals),
        truth_label_ours=_pooled(vals, "truth_label_ours"), truth_label_fast=_pooled(vals, "truth_label_fast"))
    return out


def _pooled(vals: Sequence[Agreement], attr: str) -> float | None:
    """A per-clip share pooled over clips, weighted by their compared frames."""
    got = [(getattr(a, attr), a.label_frames) for a in vals if getattr(a, attr) is not None and a.label_frames]
    w = sum(n for _, n in got)
    return round(sum(v * n for v, n in got) / w, 4) if w else None
