"""Bounds every load run obeys (users, duration, workers) and the loopback host it targets.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hybridlib.utils import InputError

MODES = ("cloud", "hybrid")
HOST = "127.0.0.1"
MAX_USERS = 64
MAX_DURATION_S = 300.0
USERS_PER_WORKER = 4


def check_args(mode: str, users: Sequence[int], duration_s: float, fps: int, size: Sequence[int]) -> None:
    if mode not in MODES:
        raise InputError(f"mode {mode!r}: choose one of {', '.join(MODES)}")
    if not users or any(not isinstance(u, (int, np.integer)) or u < 1 or u > MAX_USERS for u in users):
        raise InputError(f"users must be integers in 1..{MAX_USERS}, got {list(users)!r}")
    if not 0 < duration_s <= MAX_DURATION_S:
        raise InputError(f"duration must be in (0, {MAX_DURATION_S}] seconds, got {duration_s}")
    if not 1 <= fps <= 60:
        raise InputError(f"fps must be in 1..60, got {fps}")
    if len(size) != 2 or min(size) < 16 or any(int(v) % 2 for v in size) or max(size) > 1920:
        raise InputError(f"size must be WIDTHxHEIGHT, even, 16..1920 pixels, got {tuple(size)!r}")


def check_url(url: str) -> None:
    if not (url.startswith(f"http://{HOST}:") or url.startswith("http://localhost:")):
        raise InputError(f"load tests target loopback only (http://{HOST}:PORT), got {url!r}")
