"""Server load as the split planner sees it, and a planner that uses it.

Neurosurgeon keeps work on the phone when the datacenter is busy: the cloud's compute time is
multiplied by the server's load, and the cut moves toward the device. The server can see its
load cheaply, without pinging anyone: each ``POST /split`` tells it how long the tail took
(``server_ms``, queueing in the executor included) at a cut whose idle cost the planner's
profile predicts. :class:`LoadSignal` keeps the recent ratios *measured tail ms / profiled tail
ms* and reports their median — 1 on an idle server (within timing noise), k when requests take
k× their idle time. :class:`LoadAwarePlanner` plans with that factor (``solve(load=…)``) and
re-plans only when it moved past a margin (hysteresis, so timing noise does not make the cut
flap); with ``aware=False`` it is the load-blind baseline.

Limits (what the signal does not see, by construction):

* It only sees ``/split`` traffic. ``server_ms`` is timed from handing the tail to the one-thread
  executor to its answer, so queueing *behind other tails* counts, but time spent before that
  (the event loop reading the body, TCP backlog) does not, nor does any other work on the box.
* It needs traffic to see anything: when every load-aware phone has moved to device-only, no
  tails arrive, the samples age out after ``max_age_s`` and the factor reads 1 again, so the
  phones return to the server — under sustained load the cut oscillates with a period of about
  ``max_age_s`` (003 pings the server instead; a probe tail would cost server work per probe).
* ``/plan`` shares the tail executor only for its first call (profiling the served model); once
  the chain is cached the planner answers from the event loop, so a plan is not queued behind the
  very tails whose load it is about to plan for.
"""
from __future__ import annotations

import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from hybridlib.utils import InputError

#: re-plan when the load factor moves by more than this fraction of the one planned with
LOAD_MARGIN = 0.25
#: tails shorter than this are too close to the timer's resolution to give a ratio
MIN_PROFILED_TAIL_MS = 0.05


class LoadSignal:
    """Median of recent (measured tail ms / profiled tail ms) over the last ``window`` answered
    single-input ``/split`` requests no older than ``max_age_s``; 1.0 when there are none."""

    def __init__(self, window: int = 20, max_age_s: float = 10.0, clock: Callable[[], float] = time.monotonic):
        if not (isinstance(window, int) and window >= 1) or not max_age_s > 0:
            raise InputError(f"window must be an integer >= 1 and max_age_s > 0, got {window!r}, {max_age_s!r}")
        self.window, self.max_age_s, self.clock = window, float(max_age_s), clock
        self._samples: deque[tuple[float, float]] = deque(maxlen=window)
        self._tail_ms: dict[str, float] = {}
        self._lock = threading.Lock()

    def set_profile(self, tail_ms: Mapping[str, float]) -> None:
        """The idle tail cost per cut layer (what the planner predicts at load 1)."""
        with self._lock:
            self._tail_ms = {str(k): float(v) for k, v in tail_ms.items()}

    def observe(self, layer: str, server_ms: float, batch: int = 1) -> None:
        """One answered ``/split`` at ``layer``; ignored without a profile for it, for batches, or
        for cuts whose profiled tail is too short to time."""
        with self._lock:
            base = self._tail_ms.get(str(layer))
            if base is None or base < MIN_PROFILED_TAIL_MS or batch != 1 or not server_ms >= 0:
                return
            self._samples.append((self.clock(), float(server_ms) / base))

    def factor(self) -> float:
        with self._lock:
            now = self.clock()
            recent = [r for t, r in self._samples if now - t <= self.max_age_s]
        return max(1.0, statistics.median(recent)) if recent else 1.0

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            now = self.clock()
            n = sum(1 for t, _ in self._samples if now - t <= self.max_age_s)
        return {"factor": self.factor(), "samples": n, "window": self.window, "max_age_s": self.max_age_s,
                "source": "median recent /split tail ms ÷ profiled idle tail ms"}


def moved(a: float, b: float, margin: float = LOAD_MARGIN) -> bool:
    """Whether ``a`` differs from ``b`` by more than ``margin`` of the larger (the page's rule too)."""
    return abs(a - b) / max(abs(a), abs(b), 1e-9) > margin


class LoadAwarePlanner:
    """Plans the cut with the current load factor, keeping the factor it planned with until the
    signal moves past ``margin``. ``plan_fn(layers, body, wire, load)`` is the pure planner
    (:func:`hybridlib.serving.splitmode.plan_cut`); ``load_source`` returns the factor."""

    def __init__(self, plan_fn: Callable[..., dict[str, Any]], load_source: Callable[[], float],
                 margin: float = LOAD_MARGIN, aware: bool = True):
        if not 0 < margin < 1:
            raise InputError(f"margin must be in (0, 1), got {margin!r}")
        self.plan_fn, self.load_source, self.margin, self.aware = plan_fn, load_source, margin, aware
        self.planned_with: float | None = None
        self._lock = threading.Lock()

    def plan(self, layers: list[dict[str, Any]], body: Any, wire: str = "float32") -> dict[str, Any]:
        now = float(self.load_source()) if self.aware else 1.0
        with self._lock:
            if self.planned_with is None or moved(now, self.planned_with, self.margin):
                self.planned_with = now
            used = self.planned_with
        out = self.plan_fn(layers, body, wire, load=used)
        out["load"] = {"factor": now, "planned_with": used, "aware": self.aware, "margin": self.margin}
        return out
