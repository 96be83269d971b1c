"""The fleet study against a real `hybridlib serve --mode split` process (its own process, a free
127.0.0.1 port) serving the emotion CNN with seeded untrained weights (a Sequential toy has no input layer to cut at): lightweight users are answered at their cuts, the
load-aware plans carry the server's load, and a whole miniature study (sweep + adaptation trace)
returns a complete, JSON-serialisable result."""
from __future__ import annotations

import dataclasses
import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridlib.study import fleet
from hybridlib.study.load.server_process import ServerProcess, server

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # a server process + TF: ~40 s and more


@pytest.fixture(scope="module")
def split_server(untrained_h5: Path) -> Iterator[ServerProcess]:
    with server("split", untrained_h5, serve_args=["--preset", "smoke"]) as srv:
        yield srv


@pytest.fixture(scope="module")
def table(untrained_h5: Path) -> fleet.CutTable:
    return fleet.build_cut_table(untrained_h5)


def test_three_lightweight_users_are_answered(split_server, table):
    assert table.cuts[0] == "input" and len(table.cuts) >= 3 and table.fixed_cut not in (table.cuts[0], table.cuts[-1])
    assert set(table.bodies) == set(table.cuts[:-1])  # every cut but device-only has its tensor, once
    warmed = fleet.warm_server(split_server, table, fleet.fleet_size("smoke"))  # tails traced outside the run
    assert {"input", table.fixed_cut} <= set(warmed)
    link = fleet.LinkTrace.constant("wifi")
    specs = [fleet.ClientSpec(user=i, policy=p, device="lowend", link=link, rate_qps=4.0, poisson=False, seed=i)
             for i, p in enumerate(("cloud-only", "fixed", "load-aware"))]
    run = fleet.run_fleet(split_server.url, table, specs, 3.0, replan_s=1.0)
    by = {p: [q for q in run.queries if q["policy"] == p] for p in ("cloud-only", "fixed", "load-aware")}
    for p, qs in by.items():
        assert len(qs) >= 8 and all(q["ok"] for q in qs), (p, [q["error"] for q in qs])
    assert {q["cut"] for q in by["cloud-only"]} == {"input"} and {q["cut"] for q in by["fixed"]} == {table.fixed_cut}
    assert all(q["server_ms"] > 0 and q["http_ms"] > 0 for q in by["cloud-only"] + by["fixed"])
    plans = [p for p in run.plans if p["policy"] == "load-aware"]
    assert len(plans) >= 2 and all(p["load"] is not None and p["load"] >= 1.0 for p in plans)
    assert all(p["cut"] in table.cuts for p in plans)
    with urllib.request.urlopen(f"{split_server.url}/split-counts", timeout=10) as r:
        counts = json.loads(r.read())
    assert counts.get("input", 0) >= len(by["cloud-only"]) and counts.get(table.fixed_cut, 0) >= len(by["fixed"])


@pytest.mark.slow
def test_miniature_study_end_to_end(untrained_h5: Path):
    size = dataclasses.replace(fleet.fleet_size("smoke"), users=(1, 3), step_s=1.0, warmup_s=0.5, phase_s=2.0,
                               adapt_users=1, background_users=4, pages=0,
                               phases=(fleet.Phase("wifi"), fleet.Phase("3g"), fleet.Phase("wifi", load=True)))
    res = fleet.run_study(untrained_h5, size, preset="smoke")
    d = json.loads(json.dumps(res.to_dict()))
    steps = d["throughput"]["steps"]
    assert {(s["policy"], s["users"]) for s in steps} <= {(p, u) for p in size.policies for u in size.users}
    assert {s["policy"] for s in steps} == set(size.policies)
    for s in steps:
        assert s["issued"] > 0 and s["server_cpu_s"] is not None and s["server_cpu_s"] >= 0
    assert set(d["throughput"]["served"]) == set(size.policies)
    assert {"users_ratio", "qps_ratio", "lower_bound", "seed_reported"} <= set(d["throughput"]["ratio"])
    a = d["adaptation"]
    assert [p["link"] for p in a["phases"]] == ["wifi", "3g", "wifi"] and len(a["reactions"]) == 2
    assert {row["policy"] for row in a["latency"]} == set(size.adapt_policies)
    assert a["background"]["users"] == 4 and a["background"]["issued"] > 0
    assert all(q["t"] < size.adapt_s for q in a["queries"]) and a["load"]
    assert a["pages"]["pages"] == 0 and d["differences"] and d["modelled"]


def test_plan_is_answered_while_the_tail_executor_is_busy(untrained_h5: Path, work_dir: Path):
    """Once the served chain is profiled, /plan does not queue behind tails: with the one-thread
    tail executor held by a job that is released only after the plan came back, the plan still
    comes back (through the executor it would wait for ever, and this request would time out)."""
    import threading

    from hybridlib.serving import app as serve

    app = serve.make_app("split", model_path=untrained_h5, heads_dir=work_dir / "fleet-heads")
    body = json.dumps({"uplink_mbps": 10, "downlink_mbps": 10, "rtt_ms": 10}).encode()

    def plan(url: str) -> dict:
        req = urllib.request.Request(f"{url}/plan", data=body, headers={"Content-Type": "application/json"},
                                     method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read())

    with serve.run_in_thread(app) as url:
        first = plan(url)  # profiles the chain (through the executor) and caches it
        release, holding = threading.Event(), threading.Event()
        app["executor"].submit(lambda: (holding.set(), release.wait(120)))
        assert holding.wait(30)
        try:
            again = plan(url)
        finally:
            release.set()
    assert again["cut"] == first["cut"] and again["cuts"] == first["cuts"] and "load" in again
