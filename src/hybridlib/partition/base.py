"""Shared vocabulary of the partition package: the two sides, objectives, schedules, and
the number checks every input goes through (bad input → :class:`~hybridlib.utils.InputError`).
"""
from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from hybridlib.utils import InputError

DEVICE, CLOUD = "device", "cloud"
Objective = Literal["latency", "energy"]
Schedule = Literal["single", "any"]
OBJECTIVES = ("latency", "energy")
SCHEDULES = ("single", "any")
BRUTE_FORCE_MAX_NODES = 22




def is_finite_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def as_number(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where} must be a number, got {v!r}")
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{where} must be a finite number ≥ 0, got {v!r}")
    return float(v)


def check_choice(what: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")
