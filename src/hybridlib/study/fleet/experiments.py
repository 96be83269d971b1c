"""The two fleet experiments against one real split-mode server process.

* :func:`throughput_sweep` — seed 003's datacenter throughput: N users (ascending), the
  policies taking turns at each N; answered queries/s, p50/p95 latency and server CPU per query
  (psutil on the server's process); each policy climbs its own ladder of user counts, load-aware
  first, and stops after ``stop_after_misses`` counts in a row miss the SLO.
* :func:`adaptation_run` — seed 003's network and server-load variation: foreground phones of
  every policy on one link trace, background cloud-only users switched on in the load phases,
  Chromium pages of the app alongside; per query over time: latency, cut, load factor.

:func:`run_study` starts the server (``hybridlib serve --mode split``), builds the cut table
and runs both.
"""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import aiohttp
from tqdm.auto import tqdm

from hybridlib.partition import get_network
from hybridlib.serving.splitmode import plan_cut
from hybridlib.study.fleet import analysis
from hybridlib.study.fleet.clients import ClientSpec, LinkTrace, run_async, run_fleet
from hybridlib.study.fleet.cuts import CutTable, build_cut_table
from hybridlib.study.fleet.pages import PageFleet
from hybridlib.study.fleet.presets import ADAPTIVE, POLICIES, FleetSize
from hybridlib.study.fleet.results import (
    AdaptationResult,
    FleetResult,
    ThroughputResult,
)
from hybridlib.study.load.server_process import ServerProcess, server

log = logging.getLogger(__name__)

#: pause between steps so one step's stragglers do not land in the next
SETTLE_S = 0.5


def likely_cuts(table: CutTable, size: FleetSize) -> list[str]:
    """The cuts the policies may ask for: the end cuts, the fixed cut and the planner's choice
    for each (device class, link) of the study at loads 1–32."""
    cuts = {table.cloud_only, table.fixed_cut}
    rows = table.rows()
    for dev in set(size.devices) | {size.adapt_device}:
        for link in set(size.links) | {p.link for p in size.phases}:
            n = get_network(link)
            body = {"uplink_mbps": n.uplink_mbps, "downlink_mbps": n.downlink_mbps, "rtt_ms": n.rtt_ms,
                    "device_model_ms": table.device_model_ms[dev]}
            for load in (1, 2, 4, 8, 16, 32):
                cuts.add(plan_cut(rows, body, table.wire["name"], load=load)["cut"])
    cuts.discard(table.device_only)
    return sorted(cuts, key=table.cuts.index)


async def _warm(url: str, table: CutTable, cuts: list[str]) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{url}/plan", json={"uplink_mbps": 10, "downlink_mbps": 10, "rtt_ms": 10}) as r:
            await r.read()
        for c in cuts:
            body, headers = table.bodies[c]
            for _ in range(5):
                async with http.post(f"{url}/split/{c}", data=body, headers=headers) as r:
                    await r.read()


async def _load(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(f"{url}/load") as r:
        return await r.json()


def wait_load_aged(url: str, since: float) -> float:
    """Sleep until the server's load signal has forgotten everything before ``since``
    (``perf_counter``; its ``max_age_s`` later, +0.5 s); returns the seconds slept. Why: the
    adaptation trace must not start from the last sweep step's saturation, while tails that
    arrive meanwhile (the Chromium pages' own) are load the trace should see."""
    age = float(run_async(_load, url).get("max_age_s", 10.0))
    left = since + age + 0.5 - time.perf_counter()
    if left > 0:
        time.sleep(left)
    return round(max(left, 0.0), 2)


def warm_server(srv: ServerProcess, table: CutTable, size: FleetSize) -> list[str]:
    """Compile every tail the study may use (and the planner's profile) outside any measured
    window: the first request at a cut traces its tail, which would otherwise count as load."""
    cuts = likely_cuts(table, size)
    run_async(_warm, srv.url, table, cuts)
    return cuts


def _specs(n: int, policy: str, size: FleetSize, seed: int) -> list[ClientSpec]:
    return [ClientSpec(user=i, policy=policy, device=size.devices[i % len(size.devices)],
                       link=LinkTrace.constant(size.links[i % len(size.links)]), rate_qps=size.rate_qps,
                       poisson=size.poisson, seed=seed + i) for i in range(n)]


def throughput_sweep(srv: ServerProcess, table: CutTable, size: FleetSize, timeout_s: float = 3.0) -> ThroughputResult:
    """Seed 003's throughput experiment (module doc). Each step: ``warmup_s`` unmeasured, then
    ``step_s`` measured (queries issued in that window; the server's CPU over it).

    Each policy climbs the user counts in turn, load-aware first, and stops after
    ``size.stop_after_misses`` counts in a row miss the SLO. Why load-aware first and policy by
    policy: the server's load signal remembers the last ~10 s of tails, so a load-aware step run
    after a saturated cloud-only step would plan with the saturation that step left behind (the
    old interleaved order had to sleep ~10 s before every load-aware step for it to age out);
    the other policies do not read the signal. The price: a burst from other work on a shared
    machine may hit one policy's steps and not the other's — each step records the machine's
    load average as it started (``loadavg``) so a reader can tell."""
    steps: list[dict[str, Any]] = []
    a, b = size.warmup_s, size.warmup_s + size.step_s
    order = sorted(size.policies, key=POLICIES.index)
    todo = [(p, n) for p in order for n in size.users]
    for pol, n in tqdm(todo, desc="fleet throughput", leave=False):
        if analysis.ladder_stopped(steps, pol, size.stop_after_misses):
            continue
        load1 = os.getloadavg()[0]  # the machine's 1-min load average as the step starts (shared box)
        run = run_fleet(srv.url, table, _specs(n, pol, size, seed=1000 * n), b, replan_s=size.replan_s,
                        timeout_s=timeout_s, ticks=[(a, srv.cpu_sample), (b, srv.cpu_sample)])
        cpu = None
        if len(run.ticks) == 2:
            cpu = run.ticks[1]["value"][1] - run.ticks[0]["value"][1]
        s = {"policy": pol, "users": n, "offered_qps": round(n * size.rate_qps, 3), "loadavg": round(load1, 2),
             **analysis.step_summary(run.queries, (a, b), server_cpu_s=cpu),
             "load_factor_last": next((p["load"] for p in reversed(run.plans) if p.get("load") is not None), None)}
        s["meets_slo"] = analysis.meets_slo(s, size.slo)
        steps.append(s)
        log.info("fleet %s × %d: %s qps, p95 %s ms, SLO %s", pol, n, s["answered_qps"], s["p95_ms"], s["meets_slo"])
        time.sleep(SETTLE_S)
    served = analysis.users_served(steps, size.slo)
    return ThroughputResult(steps=steps, served=served, ratio=analysis.throughput_ratio(served),
                            slo=size.slo.describe(),
                            settings={"users": list(size.users), "rate_qps": size.rate_qps, "step_s": size.step_s,
                                      "warmup_s": size.warmup_s, "devices": list(size.devices),
                                      "links": list(size.links), "poisson": size.poisson,
                                      "timeout_s": timeout_s, "replan_s": size.replan_s,
                                      "slo_p95_ms": size.slo.p95_ms, "slo_answered_frac": size.slo.answered_frac,
                                      "order": order, "stop_after_misses": size.stop_after_misses})


def adaptation_run(srv: ServerProcess, table: CutTable, size: FleetSize, timeout_s: float = 3.0,
                   since: float | None = None) -> AdaptationResult:
    """Seed 003's network and server-load variation (module doc), one run of ``size.adapt_s``.
    ``since``: when the server's last earlier load ended (``perf_counter``; default now): the
    trace waits until the load signal has forgotten it (the pages start meanwhile)."""
    since = time.perf_counter() if since is None else since
    P = size.phase_s
    trace = LinkTrace(tuple((i * P, ph.link) for i, ph in enumerate(size.phases)))
    load_windows = tuple((i * P, (i + 1) * P) for i, ph in enumerate(size.phases) if ph.load)
    specs: list[ClientSpec] = []
    for pol in size.adapt_policies:
        for _ in range(size.adapt_users):
            specs.append(ClientSpec(user=len(specs), policy=pol, device=size.adapt_device, link=trace,
                                    rate_qps=size.rate_qps, poisson=size.poisson, seed=7000 + len(specs)))
    if load_windows:
        for _ in range(size.background_users):
            specs.append(ClientSpec(user=len(specs), policy="cloud-only", device=size.adapt_device,
                                    link=LinkTrace.constant("wifi"), rate_qps=size.rate_qps, poisson=size.poisson,
                                    active=load_windows, role="bg", seed=9000 + len(specs)))
    pages = PageFleet(srv.url, size.pages, device=size.page_device, trace=trace)
    pages.start()
    cleared = wait_load_aged(srv.url, since)
    run = run_fleet(srv.url, table, specs, size.adapt_s, replan_s=size.replan_s, timeout_s=timeout_s,
                    watch_load_s=0.5, on_start=pages.begin)
    page_info = pages.stop()
    phases = [{"start_s": i * P, "end_s": (i + 1) * P, "link": ph.link, "load": ph.load}
              for i, ph in enumerate(size.phases)]
    fg = [r for r in run.queries if r["role"] == "fg"]
    per_phase = []
    for ph in phases:
        for row in analysis.latency_by_policy([r for r in fg if ph["start_s"] <= r["t"] < ph["end_s"]]):
            per_phase.append({**{k: ph[k] for k in ("start_s", "link", "load")}, **row,
                              "cut": analysis.settled_cut([r for r in fg if r["policy"] == row["policy"]],
                                                          ph["start_s"], ph["end_s"])})
    reactions = analysis.reaction_times(fg, [ph["start_s"] for ph in phases[1:]], size.adapt_s, policy=ADAPTIVE)
    for r, ph in zip(reactions, phases[1:]):
        r.update(link=ph["link"], load=ph["load"])
    bg = analysis.step_summary(run.queries, (0.0, size.adapt_s), role="bg") if load_windows else {}
    return AdaptationResult(phases=phases, latency=analysis.latency_by_policy(fg), per_phase=per_phase,
                            reactions=reactions, queries=run.queries, plans=run.plans, load=run.load,
                            background={"users": size.background_users if load_windows else 0,
                                        "windows": [list(w) for w in load_windows], **bg},
                            load_cleared_s=cleared,
                            pages=_pages_summary(page_info))


def _pages_summary(info: dict[str, Any]) -> dict[str, Any]:
    samples = [s for s in info["samples"] if s.get("t") is not None]
    by_page: dict[int, list[dict[str, Any]]] = {}
    for s in samples:
        by_page.setdefault(s["page"], []).append(s)
    per = [{"page": k, "frames": v[-1].get("frames", 0) - v[0].get("frames", 0), "plans": v[-1].get("plans"),
            "cuts": sorted({str(s["plan"]) for s in v if s.get("plan")}), "error": v[-1].get("error")}
           for k, v in sorted(by_page.items())]
    return {**{k: info[k] for k in ("pages", "device", "ready_s", "error")}, "per_page": per, "samples": samples}


def differences(size: FleetSize, table: CutTable) -> list[str]:
    """What differs from seed 003's setting, for the report."""
    return [
        (f"One {os.cpu_count()}-core machine plays the server and every phone (003: a Xeon server with a K40 GPU "
        "and real Tegra K1 phones); the server's CPU is shared with the client process."),
        (f"Model: the served {table.model} (cloud whole-model ≈ {sum(table.cloud_ms):.1f} ms), not AlexNet or "
        "003's other seven DNNs; its tensors grow after the input, so interior cuts rarely pay off."),
        ("Links are loopback with computed delays (bytes·8/(Mbit/s·1000) + RTT/2 each way, 003's Wi-Fi/LTE/3G "
        "uplinks), not radios; no packet loss or jitter."),
        ("Phones are simulated: the head is a wait of the device class's time (see the cut table's device_source), "
        "not a computation; the Chromium pages (when present) are real browsers on this same CPU."),
        ("Server load is the load signal of /load (median recent tail ms ÷ profiled idle tail ms), not 003's pings; "
        f"background load = {size.background_users} cloud-only users."),
        f"SLO: {size.slo.describe()}; 003 reports its throughput gain without stating one.",
    ]


def run_study(model_path: str | Path, size: FleetSize, preset: str = "quick", profile_path: str | Path | None = None,
              tfjs_profile: str | Path | None = None, wire_name: str = "float32",
              log_path: str | Path | None = None) -> FleetResult:
    """Start ``hybridlib serve --mode split`` for ``model_path``, build the cut table, warm the
    tails, run both experiments, stop the server."""
    t0 = time.perf_counter()
    table = build_cut_table(model_path, wire_name, profile_path=profile_path, tfjs_profile=tfjs_profile)
    with server("split", model_path, serve_args=["--preset", preset, "--split-wire", wire_name],
                log_path=log_path) as srv:
        warmed = warm_server(srv, table, size)
        t1 = time.perf_counter()
        thr = throughput_sweep(srv, table, size)
        t2 = time.perf_counter()
        ada = adaptation_run(srv, table, size, since=t2)
        t3 = time.perf_counter()
    return FleetResult(
        size=size.to_dict(), model={**table.summary(), "warmed_cuts": warmed},
        throughput=thr, adaptation=ada, differences=differences(size, table),
        measured=["per-query latency end to end (the server's part and its queueing are real HTTP on loopback)",
                  "server_ms, the server's CPU (psutil, its process), /load factor, answered queries/s",
                  "Chromium pages: frames, plans, cuts (real app runs)"],
        modelled=["link delays (computed from bytes, rate and RTT)",
                  f"device head time ({table.device_source})"],
        machine={"cpus": os.cpu_count(), "setup_s": round(t1 - t0, 1), "throughput_s": round(t2 - t1, 1),
                 "adaptation_s": round(t3 - t2, 1)})
