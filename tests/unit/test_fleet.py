"""The fleet study's arithmetic and one client against a tiny local stub server (no TF, no model):
link delays, arrival times, a user hitting its query rate, plans followed, SLO and users served,
reaction times after a change, preset sizes and the figures on synthetic results."""
from __future__ import annotations

import asyncio
import dataclasses
import json

import numpy as np
import pytest
from aiohttp import web

from hybridlib.partition import get_network
from hybridlib.study import fleet
from hybridlib.study.fleet.clients import run_fleet_async
from hybridlib.utils import InputError

CUTS = ["input", "conv", "pool", "dense", "out"]


def _table() -> fleet.CutTable:
    """A synthetic cut chain: 1 ms per node, device class × 10 for 'phone'."""
    bodies = {c: (b"\x00" * n, {"X-Shape": "1", "X-Dtype": "float32", "X-Codec": "none"})
              for c, n in zip(CUTS[:-1], (1000, 8000, 2000, 400))}
    return fleet.CutTable(model="stub", cuts=CUTS, cloud_ms=[0.0, 1.0, 1.0, 1.0, 1.0],
                          out_bytes=[1000, 8000, 2000, 400, 28], device_model_ms={"phone": 40.0, "lowend": 100.0},
                          device_source="test", wire={"name": "float32", "dtype": "float32", "codec": "none"},
                          bodies=bodies, fixed_cut="pool")


def test_link_delay_arithmetic():
    # bytes·8 / (Mbit/s·1000) + rtt/2, in ms: 9216 B up a 18.88 Mbit/s link with 20 ms RTT
    assert fleet.link_delay_ms(9216, 18.88, 20.0) == pytest.approx(9216 * 8 / 18880 + 10.0)
    assert fleet.link_delay_ms(0, 1.0, 150.0) == 75.0
    assert fleet.link_delay_ms(125_000, 1.0, 0.0) == pytest.approx(1000.0)  # 1 Mbit at 1 Mbit/s = 1 s
    for name in ("wifi", "lte", "3g"):  # the same law as the partition engine's cost model
        n = get_network(name)
        assert fleet.link_delay_ms(30_000, n.uplink_mbps, n.rtt_ms) == pytest.approx(n.up_ms(30_000))
        assert fleet.link_delay_ms(300, n.downlink_mbps, n.rtt_ms) == pytest.approx(n.down_ms(300))
    for bad in ((1, 0, 1), (1, 1, -1), (-1, 1, 1)):
        with pytest.raises(InputError):
            fleet.link_delay_ms(*bad)


def test_arrivals_and_link_trace():
    fixed = fleet.arrivals(5.0, 2.0, poisson=False, seed=1)
    assert len(fixed) == 10 and np.allclose(np.diff(fixed), 0.2) and 0 <= fixed[0] < 0.2
    pois = fleet.arrivals(50.0, 20.0, poisson=True, seed=2)
    assert abs(len(pois) / 20.0 - 50.0) < 5.0 and all(0 <= t < 20 for t in pois)
    assert fleet.arrivals(5.0, 1e6, poisson=False, seed=0, limit=7) == fleet.arrivals(5.0, 1.4, False, 0)
    tr = fleet.LinkTrace(((0.0, "wifi"), (5.0, "lte"), (10.0, "3g")))
    assert [tr.at(t) for t in (0, 4.99, 5, 9, 10, 99)] == ["wifi", "wifi", "lte", "lte", "3g", "3g"]
    with pytest.raises(InputError):
        fleet.LinkTrace(((1.0, "wifi"),))
    with pytest.raises(InputError):
        fleet.LinkTrace(((0.0, "5g"),))


def test_fixed_cut_and_device_scaling():
    assert fleet.pick_fixed_cut(CUTS, [1000, 8000, 2000, 400, 28]) == "pool"
    t = _table()
    assert t.head_ms("input", "phone") == 0.0 and t.head_ms("out", "phone") == 40.0
    assert t.head_ms("pool", "lowend") == pytest.approx(50.0)  # half the cloud ms → half the device's
    dev, src = fleet.device_model_ms(4.0, None)
    assert dev["phone"] == 16.0 and dev["lowend"] == 40.0 and src.startswith("modelled")


def _stub_app(plans: list[dict], hits: list[tuple[str, int]], split_ms: float = 1.0) -> web.Application:
    """/split/<layer> answers at once; /plan answers the 'dense' cut with a load block."""
    app = web.Application()

    async def split(request: web.Request) -> web.Response:
        body = await request.read()
        hits.append((request.match_info["layer"], len(body)))
        return web.json_response({"emotion": "happy", "layer": request.match_info["layer"], "server_ms": split_ms})

    async def plan(request: web.Request) -> web.Response:
        plans.append({"query": dict(request.query), "body": await request.json()})
        return web.json_response({"cut": "dense", "kind": "split", "predicted": {"total_ms": 50.0},
                                  "load": {"factor": 1.5, "planned_with": 1.5}})

    app.router.add_post("/split/{layer}", split)
    app.router.add_post("/plan", plan)
    return app


async def _with_stub(app: web.Application, fn):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        return await fn(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def test_user_hits_its_query_rate_and_waits_its_link():
    plans: list[dict] = []
    hits: list[tuple[str, int]] = []
    app = _stub_app(plans, hits)
    spec = fleet.ClientSpec(user=0, policy="cloud-only", device="phone", link=fleet.LinkTrace.constant("wifi"),
                            rate_qps=10.0, poisson=False, seed=3)
    run = asyncio.run(_with_stub(app, lambda url: run_fleet_async(url, _table(), [spec], 2.0)))
    qs = run.queries
    assert 19 <= len(qs) <= 20 and all(q["ok"] for q in qs), qs[:3]
    assert len(hits) == len(qs) and {h for h, _ in hits} == {"input"} and {n for _, n in hits} == {1000}
    ts = sorted(q["t"] for q in qs)
    assert np.allclose(np.diff(ts), 0.1, atol=1e-6)  # issue times = the schedule, 10 per second
    wifi = get_network("wifi")
    for q in qs:  # the link's computed delays were waited, the server's answer came back
        assert q["up_ms"] == pytest.approx(fleet.link_delay_ms(1000, wifi.uplink_mbps, wifi.rtt_ms))
        assert q["latency_ms"] >= q["up_ms"] + q["down_ms"] and q["server_ms"] == 1.0
    assert plans == []  # cloud-only never plans


def test_planned_policies_follow_the_plan_and_device_only_skips_the_server():
    plans: list[dict] = []
    hits: list[tuple[str, int]] = []
    app = _stub_app(plans, hits)
    tr = fleet.LinkTrace(((0.0, "wifi"), (0.6, "3g")))
    specs = [fleet.ClientSpec(user=0, policy="load-aware", device="phone", link=tr, rate_qps=8.0, poisson=False),
             fleet.ClientSpec(user=1, policy="static", device="lowend", link=tr, rate_qps=8.0, poisson=False),
             fleet.ClientSpec(user=2, policy="fixed", device="phone", link=tr, rate_qps=8.0, poisson=False)]
    run = asyncio.run(_with_stub(app, lambda url: run_fleet_async(url, _table(), specs, 1.2, replan_s=5.0)))
    by = {p: [q for q in run.queries if q["policy"] == p] for p in ("load-aware", "static", "fixed")}
    assert {q["cut"] for q in by["load-aware"]} == {"dense"} == {q["cut"] for q in by["static"]}
    assert {q["cut"] for q in by["fixed"]} == {"pool"}
    # asked at start and again at the link change (replan_s 5 s is longer than the run)
    assert len([p for p in run.plans if p["user"] == 0]) == 2
    assert [p["query"] for p in plans].count({"planner": "static"}) == 2
    assert {p["body"]["device_model_ms"] for p in plans} == {40.0, 100.0}
    assert {p["body"]["rtt_ms"] for p in plans} == {get_network("wifi").rtt_ms, get_network("3g").rtt_ms}
    assert all(p["load"] == 1.5 for p in run.plans)
    dev = _table()
    dev.fixed_cut = "out"  # device-only: answered on the phone, nothing posted
    n0 = len(hits)
    spec = fleet.ClientSpec(user=9, policy="fixed", device="phone", link=tr, rate_qps=5.0, poisson=False)
    run = asyncio.run(_with_stub(_stub_app(plans, hits), lambda url: run_fleet_async(url, dev, [spec], 1.0)))
    assert len(hits) == n0 and all(q["ok"] and not q["server"] for q in run.queries)
    assert all(q["latency_ms"] >= 40.0 for q in run.queries)


def test_only_loopback_and_bounded_runs():
    spec = fleet.ClientSpec(user=0, policy="cloud-only", device="phone", link=fleet.LinkTrace.constant("wifi"),
                            rate_qps=1.0)
    with pytest.raises(InputError, match="loopback"):
        asyncio.run(run_fleet_async("http://10.0.0.1:80", _table(), [spec], 1.0))
    with pytest.raises(InputError, match="duration"):
        asyncio.run(run_fleet_async("http://127.0.0.1:9", _table(), [spec], 10_000.0))
    with pytest.raises(InputError, match="policy"):
        fleet.ClientSpec(user=0, policy="edge", device="phone", link=spec.link, rate_qps=1.0)


def _rows(policy: str, n: int, lat: float, ok_every: int = 1, t0: float = 0.0, cut: str = "input") -> list[dict]:
    return [{"t": t0 + i * 0.1, "policy": policy, "role": "fg", "ok": i % ok_every == 0, "latency_ms": lat + i % 3,
             "cut": cut, "server": cut != "out", "server_ms": 2.0, "error": None if i % ok_every == 0 else "late"}
            for i in range(n)]


def test_slo_users_served_and_ratio():
    slo = fleet.SLO(p95_ms=100.0, answered_frac=0.95)
    s = fleet.step_summary(_rows("x", 40, 50.0) + _rows("x", 10, 50.0, t0=10.0), (0.0, 4.0), server_cpu_s=0.2)
    assert s["issued"] == 40 and s["answered"] == 40 and s["answered_qps"] == 10.0
    assert s["server_cpu_ms_per_query"] == 5.0 and fleet.meets_slo(s, slo)
    assert not fleet.meets_slo(fleet.step_summary(_rows("x", 40, 150.0), (0.0, 4.0)), slo)  # too slow
    assert not fleet.meets_slo(fleet.step_summary(_rows("x", 40, 50.0, ok_every=2), (0.0, 4.0)), slo)  # too few
    steps = [{"policy": "cloud-only", "users": u, "answered_qps": q, "issued": 10, "answered_frac": f, "p95_ms": p}
             for u, q, f, p in ((2, 8, 1.0, 40), (4, 16, 1.0, 90), (8, 25, 0.8, 900), (16, 30, 1.0, 50))]
    steps += [{"policy": "load-aware", "users": u, "answered_qps": 4.0 * u, "issued": 10, "answered_frac": 1.0,
               "p95_ms": 60} for u in (2, 4, 8, 16)]
    served = fleet.users_served(steps, slo)
    # the largest passing count, flagged when a smaller one missed; never missing → a lower bound
    assert served["cloud-only"] == {"users": 16, "answered_qps": 30, "saturated": False, "unbroken": False,
                                    "largest_tried": 16}
    steps[3]["p95_ms"] = 300  # now 8 and 16 miss: 4 users, saturated, unbroken
    served = fleet.users_served(steps, slo)
    assert served["cloud-only"] == {"users": 4, "answered_qps": 16, "saturated": True, "unbroken": True,
                                    "largest_tried": 16}
    assert served["load-aware"]["users"] == 16 and not served["load-aware"]["saturated"]
    r = fleet.throughput_ratio(served)
    assert r["users_ratio"] == 4.0 and r["qps_ratio"] == 4.0 and r["lower_bound"]
    assert r["seed_reported"] == {"mean": 1.5, "max": 6.7}


def _step(policy: str, users: int, p95: float, frac: float = 1.0, rate: float = 8.0) -> dict:
    s = {"policy": policy, "users": users, "issued": 10 * users, "answered_frac": frac, "p95_ms": p95,
         "answered_qps": round(rate * users * frac, 3)}
    return {**s, "meets_slo": fleet.meets_slo(s, fleet.fleet_size("quick").slo)}


def test_a_ladder_stops_at_its_miss_and_served_is_the_count_before():
    """A synthetic sweep record on a 16, 48, 96 ladder stopping at the first miss (as quick's):
    cloud-only misses at 48 users (p95 over 250 ms), load-aware at 96 (too few answered).
    Served = the count before each miss, both saturated, so the ratio is a measured 3×, not a bound."""
    size = dataclasses.replace(fleet.fleet_size("quick"), users=(16, 48, 96))
    assert size.stop_after_misses == 1
    steps: list[dict] = []
    runs = {("load-aware", 16): (90.0, 1.0), ("load-aware", 48): (180.0, 0.99), ("load-aware", 96): (240.0, 0.9),
            ("cloud-only", 16): (60.0, 1.0), ("cloud-only", 48): (1300.0, 0.7), ("cloud-only", 96): (10.0, 1.0)}
    ran = []
    for pol in ("load-aware", "cloud-only"):
        for n in size.users:
            if fleet.ladder_stopped(steps, pol, size.stop_after_misses):
                continue
            ran.append((pol, n))
            steps.append(_step(pol, n, *runs[pol, n]))
    assert ("cloud-only", 96) not in ran and len(ran) == 5  # past its saturation: never run
    served = fleet.users_served(steps, size.slo)
    assert served["cloud-only"] == {"users": 16, "answered_qps": 128.0, "saturated": True, "unbroken": True,
                                    "largest_tried": 48}
    assert served["load-aware"]["users"] == 48 and served["load-aware"]["saturated"]
    r = fleet.throughput_ratio(served)
    assert r["users_ratio"] == 3.0 and r["qps_ratio"] == pytest.approx(380.16 / 128.0, abs=1e-3)
    assert not r["lower_bound"]
    # a policy that never misses is a lower bound, and one missing at its first count serves 0
    served = fleet.users_served([_step("load-aware", 16, 50.0), _step("cloud-only", 16, 900.0)], size.slo)
    assert not served["load-aware"]["saturated"] and served["cloud-only"]["users"] == 0
    assert fleet.throughput_ratio(served)["users_ratio"] is None and fleet.throughput_ratio(served)["lower_bound"]


def test_ladder_tolerates_a_single_miss_when_asked():
    miss, ok = _step("x", 1, 900.0), _step("x", 2, 50.0)
    assert not fleet.ladder_stopped([], "x", 1)
    assert fleet.ladder_stopped([miss], "x", 1) and not fleet.ladder_stopped([miss], "x", 2)
    assert not fleet.ladder_stopped([miss, ok], "x", 1)  # only the last steps count
    assert fleet.ladder_stopped([ok, miss, {**miss, "users": 3}], "x", 2)
    assert not fleet.ladder_stopped([miss, {**miss, "policy": "y"}], "x", 2)  # per policy
    with pytest.raises(InputError, match="stop_after_misses"):
        fleet.FleetSize("x", users=(1,), step_s=1, warmup_s=0, rate_qps=1, phase_s=1, adapt_users=1,
                        background_users=0, pages=0, stop_after_misses=0)


def test_reaction_times_on_a_synthetic_trace():
    # cloud-only cut until 10 s; the link drops at 10 s, the planner moves 0.4 s later; the load
    # comes at 20 s and nothing needs to move; back at 30 s it returns after 1.2 s
    rows = []
    for i in range(400):
        t = i * 0.1
        cut = "out" if 10.4 <= t < 31.2 else "input"
        rows.append({"t": round(t, 3), "policy": "load-aware", "role": "fg", "ok": True, "latency_ms": 1.0, "cut": cut})
    rows.append({"t": 12.0, "policy": "fixed", "role": "fg", "ok": True, "latency_ms": 1.0, "cut": "pool"})
    rs = fleet.reaction_times(rows, [10.0, 20.0, 30.0], 40.0)
    assert [r["moved"] for r in rs] == [True, False, True]
    assert rs[0]["react_s"] == pytest.approx(0.4) and rs[1]["react_s"] is None
    assert rs[2]["react_s"] == pytest.approx(1.2) and rs[2]["cut_after"] == "input"
    lat = fleet.latency_by_policy(rows)
    assert [r["policy"] for r in lat] == ["load-aware", "fixed"] and lat[0]["answered"] == 400


def test_sizes():
    for name in ("smoke", "quick", "full"):
        s = fleet.fleet_size(name)
        assert s.name == name and set(s.policies) <= set(fleet.POLICIES) and "cloud-only" in s.policies
        assert json.dumps(s.to_dict())
    assert fleet.fleet_size("quick").adapt_s <= 90 and fleet.fleet_size("smoke").pages == 0
    with pytest.raises(InputError):
        fleet.fleet_size("huge")
    with pytest.raises(InputError, match="users"):
        fleet.FleetSize("x", users=(4, 2), step_s=1, warmup_s=0, rate_qps=1, phase_s=1, adapt_users=1,
                        background_users=0, pages=0)


def test_figures_on_synthetic_results():
    import matplotlib

    matplotlib.use("Agg")
    steps = [{"policy": p, "users": u, "offered_qps": 4.0 * u, "answered_qps": 4.0 * u, "p95_ms": 50.0 + u}
             for p in ("load-aware", "cloud-only") for u in (2, 8)]
    thr = {"steps": steps, "served": {"load-aware": {"users": 8, "saturated": False},
                                      "cloud-only": {"users": 2, "saturated": True}},
           "settings": {"slo_p95_ms": 250.0}}
    assert fleet.plot_throughput(thr).axes
    q = [{**r, "role": "fg"} for r in _rows("load-aware", 50, 30.0) + _rows("cloud-only", 50, 80.0)]
    ada = {"queries": q, "phases": [{"start_s": 0, "end_s": 2.5, "link": "wifi", "load": False},
                                    {"start_s": 2.5, "end_s": 5, "link": "3g", "load": True}],
           "load": [{"t": 0.5, "factor": 1.0}, {"t": 3.0, "factor": 4.0}]}
    assert fleet.plot_adaptation(ada, CUTS).axes


def test_report_row_says_users_served_even_without_a_ratio():
    """When cloud-only met the SLO at no count tried (a loaded box), there is no ratio, but the
    report still says how many users each policy served, and '+' marks a count that is a bound."""
    from hybridlib.study.report import fleet as report_fleet

    fl = {"synthetic": True, "differences": ["one 2-core box"],
          "throughput": {"ratio": {"qps_ratio": None, "lower_bound": False}, "slo": "p95 ≤ 250 ms",
                         "served": {"load-aware": {"users": 12, "saturated": False},
                                    "cloud-only": {"users": 0, "saturated": True}}, "settings": {"users": [12, 32]}}}
    rows = report_fleet.fleet_rows(fl)
    assert len(rows) == 1 and rows[0].this_run.startswith("— (cloud-only met the SLO at no user count tried)")
    assert rows[0].this_run.endswith("users served: load-aware 12+, cloud-only 0")
