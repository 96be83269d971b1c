"""Which cuts of a network are executed, and where a cut sits (0 = cloud-only … 1 = device-only).

Every single-tensor cut point runs when a network has at most ``max_cuts`` of them. Otherwise a
documented sample: both end cuts, the engine's picks (so the pick is always measured), and
``n`` interior cuts drawn with a seeded RNG *before* looking at the engine's picks (so the
sample is independent of the engine); the measured best is then "best of n of M cuts".
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hybridlib.study.choice import seed003
from hybridlib.utils import InputError


@dataclass(frozen=True)
class CutSet:
    """The cuts executed for one network: ``cuts`` (graph order) of its ``points`` cut points."""

    model: str
    cuts: tuple[str, ...]
    points: tuple[str, ...]
    random: tuple[str, ...] = ()  # the interior cuts drawn by the seeded RNG

    @property
    def sampled(self) -> bool:
        return len(self.cuts) < len(self.points)

    @property
    def label(self) -> str:
        n, m = len(self.cuts), len(self.points)
        return f"best of {n} of {m} cuts" if self.sampled else f"all {m} cuts"


def choose(model: str, points: Sequence[str], picks: Iterable[str], max_cuts: int = 30, n: int = 12,
           seed: int = 0) -> CutSet:
    """All of ``points`` when there are ≤ ``max_cuts``; else both ends, ``picks`` and up to
    ``n`` − 2 interior cuts drawn by ``np.random.default_rng(seed)`` independently of ``picks``."""
    pts = list(points)
    if len(pts) < 2:
        raise InputError(f"{model}: need at least two cut points (cloud-only, device-only), got {pts}")
    picks = list(picks)
    unknown = [p for p in picks if p not in pts]
    if unknown:
        raise InputError(f"{model}: engine pick(s) {', '.join(unknown)} are not cut points")
    if len(pts) <= max_cuts:
        return CutSet(model, tuple(pts), tuple(pts))
    inner = pts[1:-1]
    k = max(0, min(n - 2, len(inner)))
    drawn = [inner[i] for i in sorted(np.random.default_rng(seed).choice(len(inner), size=k, replace=False))]
    keep = {pts[0], pts[-1], *picks, *drawn}
    return CutSet(model, tuple(c for c in pts if c in keep), tuple(pts), tuple(drawn))


def position(points: Sequence[str], cut: str) -> float:
    """Where ``cut`` sits among ``points``: 0 = cloud-only (input) … 1 = device-only (output)."""
    pts = list(points)
    if cut not in pts:
        raise InputError(f"cut {cut!r} is not among the cut points")
    return pts.index(cut) / max(1, len(pts) - 1)


def kind(points: Sequence[str], cut: str) -> str:
    """cloud-only | device-only | split."""
    pts = list(points)
    return "cloud-only" if cut == pts[0] else "device-only" if cut == pts[-1] else "split"


def ours_for_seed(bench: str, cut003: str, points: Sequence[str]) -> str | None:
    """003's cut name for ``bench`` as one of our cut points: ``input`` → our input (SENNA: the
    window of word vectors, our ``window``), ``argmax``/SENNA ``fc3`` → our output, a layer name
    we share (``pool5``) → itself; None when we have no such layer."""
    pts = list(points)
    k = seed003.kind(bench, cut003)
    if k == "device-only":
        return pts[-1]
    if k == "cloud-only":
        return "window" if bench in seed003.SENNA and "window" in pts else pts[0]
    return cut003 if cut003 in pts else None
