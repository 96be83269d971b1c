"""Many lightweight split clients in one asyncio process, each a phone with a device class and a link.

Per query a client: waits its head time for the current cut (its device is one serial
resource: a frame waits for the previous head to finish), waits the upload time its link
implies for the tensor's bytes, posts the pre-computed tensor to ``POST /split/<cut>`` on the
real server (loopback: nearly free), waits the download time of the answer's bytes, and
records the query. Link delays are *computed* (:func:`link_delay_ms`), the server's work is
*measured*. Queries arrive open-loop at ``rate_qps`` (Poisson or fixed interval), at most
``max_inflight`` per client at once (more are recorded as dropped) and each bounded by
``timeout_s``; a run is bounded in time and in queries.

Policies: ``cloud-only`` (cut = the input), ``fixed`` (:attr:`CutTable.fixed_cut`),
``load-aware`` (``POST /plan``, the server's default planner, at start, every ``replan_s`` and
when the link changes), ``static`` (the same with ``?planner=static``: blind to load).
"""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np

from hybridlib import browser
from hybridlib.partition import get_network
from hybridlib.study.fleet.cuts import CutTable
from hybridlib.study.fleet.presets import POLICIES
from hybridlib.study.load.limits import check_url
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

#: a bounded run: at most this many seconds and queries per client
MAX_RUN_S = 600.0
MAX_QUERIES_PER_CLIENT = 20_000


def link_delay_ms(nbytes: float, mbps: float, rtt_ms: float) -> float:
    """One transfer's time on a link: serialisation at ``mbps`` (Mbit/s) + half a round trip —
    ``nbytes·8 / (mbps·1000) + rtt/2`` ms (the partition engine's :meth:`Network.up_ms`)."""
    if not (mbps > 0 and rtt_ms >= 0 and nbytes >= 0):
        raise InputError(f"need nbytes ≥ 0, mbps > 0, rtt_ms ≥ 0; got {nbytes!r}, {mbps!r}, {rtt_ms!r}")
    return nbytes * 8.0 / (mbps * 1000.0) + rtt_ms / 2.0


@dataclass(frozen=True)
class LinkTrace:
    """Which network preset (``wifi``/``lte``/``3g``) a client's link is at each second of a run:
    ``phases`` = ``(start_s, name)`` ascending from 0."""

    phases: tuple[tuple[float, str], ...]

    def __post_init__(self) -> None:
        if not self.phases or self.phases[0][0] != 0:
            raise InputError("a link trace starts at 0 s")
        for _, name in self.phases:
            get_network(name)

    @classmethod
    def constant(cls, name: str) -> LinkTrace:
        return cls(((0.0, name),))

    def at(self, t: float) -> str:
        cur = self.phases[0][1]
        for start, name in self.phases:
            if t >= start:
                cur = name
        return cur


@dataclass
class ClientSpec:
    """One simulated phone. ``active``: the ``(from_s, to_s)`` windows in which it sends
    (None = always); ``role``: ``fg`` (measured) or ``bg`` (background load)."""

    user: int
    policy: str
    device: str
    link: LinkTrace
    rate_qps: float
    poisson: bool = True
    active: tuple[tuple[float, float], ...] | None = None
    role: str = "fg"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.policy not in POLICIES:
            raise InputError(f"policy must be one of {', '.join(POLICIES)}; got {self.policy!r}")
        if not self.rate_qps > 0:
            raise InputError(f"rate_qps must be > 0, got {self.rate_qps!r}")

    def is_active(self, t: float) -> bool:
        return self.active is None or any(a <= t < b for a, b in self.active)


@dataclass
class FleetRun:
    """What one run left: a row per query, a row per plan, the run's length."""

    queries: list[dict[str, Any]] = field(default_factory=list)
    plans: list[dict[str, Any]] = field(default_factory=list)
    load: list[dict[str, Any]] = field(default_factory=list)  # GET /load over time (when watched)
    ticks: list[dict[str, Any]] = field(default_factory=list)  # what the tick callbacks returned, when
    duration_s: float = 0.0


def arrivals(rate_qps: float, duration_s: float, poisson: bool, seed: int, limit: int = MAX_QUERIES_PER_CLIENT) -> list[float]:
    """Query issue times in ``[0, duration_s)``: exponential gaps (Poisson) or ``1/rate`` apart,
    starting at a random phase within the first gap so clients do not fire in lockstep."""
    rng = np.random.default_rng(seed)
    gap = 1.0 / rate_qps
    t = float(rng.uniform(0, gap))
    out: list[float] = []
    while t < duration_s and len(out) < limit:
        out.append(t)
        t += float(rng.exponential(gap)) if poisson else gap
    return out


class _Client:
    def __init__(self, spec: ClientSpec, table: CutTable, run: FleetRun, url: str, t0: float,
                 replan_s: float, timeout_s: float, max_inflight: int):
        self.s, self.table, self.run, self.url, self.t0 = spec, table, run, url, t0
        self.replan_s, self.timeout_s, self.max_inflight = replan_s, timeout_s, max_inflight
        self.cut = table.cloud_only if spec.policy == "cloud-only" else table.fixed_cut
        self.planned = asyncio.Event()
        if spec.policy in ("cloud-only", "fixed"):
            self.planned.set()
        self.device_lock = asyncio.Lock()
        self.inflight = 0

    def now(self) -> float:
        return time.perf_counter() - self.t0

    def link(self) -> Any:
        return get_network(self.s.link.at(self.now()))

    async def plan_loop(self, http: aiohttp.ClientSession, stop: asyncio.Event) -> None:
        """Ask ``/plan`` at start, every ``replan_s`` and when the link changes."""
        q = "?planner=static" if self.s.policy == "static" else ""
        while not stop.is_set():
            net = self.link()
            body = {"uplink_mbps": net.uplink_mbps, "downlink_mbps": net.downlink_mbps, "rtt_ms": net.rtt_ms,
                    "device_model_ms": self.table.device_model_ms[self.s.device]}
            t = self.now()
            try:
                async with http.post(f"{self.url}/plan{q}", json=body,
                                     timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as r:
                    ans = await r.json()
                if r.status == 200:
                    self.cut = ans["cut"]
                    ld = ans.get("load") or {}
                    self.run.plans.append({"t": round(t, 4), "user": self.s.user, "policy": self.s.policy,
                                           "role": self.s.role, "link": net.name, "cut": ans["cut"],
                                           "kind": ans["kind"], "load": ld.get("factor"),
                                           "planned_with": ld.get("planned_with"),
                                           "predicted_ms": ans["predicted"]["total_ms"]})
                    self.planned.set()
            except (TimeoutError, aiohttp.ClientError) as e:
                log.warning("user %d: /plan failed: %s", self.s.user, e)
            until = self.now() + self.replan_s
            while not stop.is_set() and self.now() < until and self.s.link.at(self.now()) == net.name:
                await asyncio.sleep(0.05)

    async def query(self, http: aiohttp.ClientSession, t_issue: float) -> None:
        s, tb = self.s, self.table
        cut = self.cut
        row: dict[str, Any] = {"t": round(t_issue, 4), "user": s.user, "policy": s.policy, "role": s.role,
                               "device": s.device, "link": s.link.at(t_issue), "cut": cut,
                               "kind": "cloud-only" if cut == tb.cloud_only else "device-only"
                               if cut == tb.device_only else "split", "server": cut != tb.device_only,
                               "ok": False, "error": None, "server_ms": 0.0, "up_ms": 0.0, "down_ms": 0.0,
                               "http_ms": 0.0, "up_bytes": 0}
        self.inflight += 1
        start = time.perf_counter()
        try:
            head = tb.head_ms(cut, s.device)
            async with self.device_lock:
                await asyncio.sleep(head / 1000.0)
            row["head_ms"] = round(head, 3)
            if cut != tb.device_only:
                body, headers = tb.bodies[cut]
                net = self.link()
                row["up_bytes"] = len(body)
                row["up_ms"] = link_delay_ms(len(body), net.uplink_mbps, net.rtt_ms)
                await asyncio.sleep(row["up_ms"] / 1000.0)
                h0 = time.perf_counter()
                left = max(0.05, self.timeout_s - (h0 - start))
                async with http.post(f"{self.url}/split/{cut}", data=body, headers=headers,
                                     timeout=aiohttp.ClientTimeout(total=left)) as r:
                    raw = await r.read()
                row["http_ms"] = (time.perf_counter() - h0) * 1000.0
                if r.status != 200:
                    raise RuntimeError(f"/split/{cut} → {r.status}: {raw[:200]!r}")
                row["server_ms"] = float(json.loads(raw)["server_ms"])
                net = self.link()
                row["down_ms"] = link_delay_ms(len(raw), net.downlink_mbps, net.rtt_ms)
                await asyncio.sleep(row["down_ms"] / 1000.0)
            row["latency_ms"] = round((time.perf_counter() - start) * 1000.0, 3)
            row["ok"] = row["latency_ms"] <= self.timeout_s * 1000.0
            if not row["ok"]:
                row["error"] = "late"
        except (TimeoutError, aiohttp.ClientError, RuntimeError, KeyError, ValueError) as e:
            row["error"] = type(e).__name__ if not str(e) else str(e)[:200]
            row["latency_ms"] = round((time.perf_counter() - start) * 1000.0, 3)
        finally:
            self.inflight -= 1
        self.run.queries.append(row)

    async def query_loop(self, http: aiohttp.ClientSession, duration_s: float, tasks: list[asyncio.Task]) -> None:
        await self.planned.wait()
        for t in arrivals(self.s.rate_qps, duration_s, self.s.poisson, self.s.seed):
            wait = t - self.now()
            if wait > 0:
                await asyncio.sleep(wait)
            if not self.s.is_active(t):
                continue
            if self.inflight >= self.max_inflight:
                self.run.queries.append({"t": round(t, 4), "user": self.s.user, "policy": self.s.policy,
                                         "role": self.s.role, "device": self.s.device, "link": self.s.link.at(t),
                                         "cut": self.cut, "ok": False, "error": "dropped", "latency_ms": None,
                                         "server": False, "server_ms": 0.0})
                continue
            tasks.append(asyncio.create_task(self.query(http, t)))


async def _watch_load(http: aiohttp.ClientSession, url: str, run: FleetRun, t0: float, every_s: float,
                      stop: asyncio.Event) -> None:
    while not stop.is_set():
        t = time.perf_counter() - t0
        try:
            async with http.get(f"{url}/load", timeout=aiohttp.ClientTimeout(total=2.0)) as r:
                d = await r.json()
            run.load.append({"t": round(t, 3), "factor": d.get("factor"), "samples": d.get("samples")})
        except (TimeoutError, aiohttp.ClientError, ValueError):
            pass
        await asyncio.sleep(every_s)


async def _ticks(ticks: Sequence[tuple[float, Callable[[], Any]]], run: FleetRun, t0: float) -> None:
    for at, fn in sorted(ticks, key=lambda x: x[0]):
        wait = at - (time.perf_counter() - t0)
        if wait > 0:
            await asyncio.sleep(wait)
        run.ticks.append({"at": at, "t": round(time.perf_counter() - t0, 4), "value": fn()})


async def run_fleet_async(url: str, table: CutTable, specs: Sequence[ClientSpec], duration_s: float,
                          replan_s: float = 1.0, timeout_s: float = 3.0, max_inflight: int = 4,
                          watch_load_s: float | None = None,
                          ticks: Sequence[tuple[float, Callable[[], Any]]] = (),
                          on_start: Callable[[float], Any] | None = None) -> FleetRun:
    """Run ``specs`` against the split-mode server at ``url`` (127.0.0.1 only) for ``duration_s``;
    queries still in flight at the end finish (each within ``timeout_s``).

    ``watch_load_s``: also poll ``GET /load`` that often (``run.load``); ``ticks``: ``(second,
    fn)`` pairs — ``fn()`` is called at that second of the run and its value kept (e.g. the
    server's CPU at a window's edges); ``on_start(t0)``: told the run's zero (``perf_counter``)."""
    check_url(url)
    if not 0 < duration_s <= MAX_RUN_S:
        raise InputError(f"duration_s must be in (0, {MAX_RUN_S:g}], got {duration_s!r}")
    run = FleetRun()
    stop = asyncio.Event()
    conn = aiohttp.TCPConnector(limit=0, force_close=False)
    tasks: list[asyncio.Task] = []
    async with aiohttp.ClientSession(connector=conn) as http:
        t0 = time.perf_counter()
        if on_start is not None:
            on_start(t0)
        side = [asyncio.create_task(_ticks(ticks, run, t0))]
        if watch_load_s:
            side.append(asyncio.create_task(_watch_load(http, url, run, t0, watch_load_s, stop)))
        clients = [_Client(s, table, run, url, t0, replan_s, timeout_s, max_inflight) for s in specs]
        planners = [asyncio.create_task(c.plan_loop(http, stop)) for c in clients
                    if c.s.policy in ("load-aware", "static")]
        await asyncio.gather(*(c.query_loop(http, duration_s, tasks) for c in clients))
        stop.set()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout_s + 2.0)
        await asyncio.wait(side[:1], timeout=1.0)
        for p in planners + side:
            p.cancel()
        await asyncio.gather(*planners, *side, return_exceptions=True)
        run.duration_s = time.perf_counter() - t0
    return run


def run_async(fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    """``asyncio.run(fn(*args, **kw))`` from synchronous code — in a worker thread when this
    thread already runs an event loop (Jupyter), where ``asyncio.run`` is refused."""
    return browser.run_sync(lambda: asyncio.run(fn(*args, **kw)))


def run_fleet(url: str, table: CutTable, specs: Sequence[ClientSpec], duration_s: float, **kw: Any) -> FleetRun:
    """:func:`run_fleet_async` from synchronous code (its own event loop)."""
    return run_async(run_fleet_async, url, table, specs, duration_s, **kw)
