"""10_fleet at smoke: the throughput sweep per policy with the SLO and the ratio beside seed 003's
1.5× / 6.7×, the adaptation trace with per-policy latency, the planner's reactions, the server's
load over time, what differs from the seed, and both figures."""
from __future__ import annotations

from .conftest import read_result


def test_fleet_result(smoke_reports):
    res = read_result(smoke_reports, "fleet")
    assert res["preset"] == "smoke" and res["size"]["name"] == "smoke"
    assert {"throughput", "adaptation", "differences", "measured", "modelled", "machine", "model"} <= set(res)
    m = res["model"]
    assert m["cut_names"][0] == "input" and m["fixed_cut"] in m["cut_names"][1:-1]
    assert set(m["device_model_ms"]) >= {"phone", "lowend"} and m["device_source"]
    thr = res["throughput"]
    policies = res["size"]["policies"]
    assert {s["policy"] for s in thr["steps"]} == set(policies)
    for s in thr["steps"]:
        assert s["users"] in res["size"]["users"] and s["issued"] > 0
        assert 0 <= s["answered_frac"] <= 1 and s["server_cpu_s"] is not None
        if s["answered"]:
            assert s["p95_ms"] >= s["p50_ms"] > 0
        assert s["meets_slo"] == (s["p95_ms"] is not None and s["p95_ms"] <= thr["settings"]["slo_p95_ms"]
                                  and s["answered_frac"] >= thr["settings"]["slo_answered_frac"])
    # a policy's ladder climbs in order and stops after stop_after_misses misses in a row
    k = thr["settings"]["stop_after_misses"]
    for p in policies:
        own = [s for s in thr["steps"] if s["policy"] == p]
        assert [s["users"] for s in own] == sorted(s["users"] for s in own)
        ss = [s["meets_slo"] for s in own]
        assert not any(not any(w) for w in (ss[i:i + k] for i in range(len(ss) - k))), ss
    assert set(thr["served"]) == set(policies)
    r = thr["ratio"]
    assert r["policy"] == "load-aware" and r["baseline"] == "cloud-only"
    assert r["seed_reported"] == {"mean": 1.5, "max": 6.7}
    a = res["adaptation"]
    assert [p["link"] for p in a["phases"]] == [p["link"] for p in res["size"]["phases"]]
    assert any(p["load"] for p in a["phases"]) and a["background"]["issued"] > 0
    assert {row["policy"] for row in a["latency"]} == set(res["size"]["adapt_policies"])
    assert all(row["answered"] > 0 and row["p95_ms"] >= row["p50_ms"] > 0 for row in a["latency"])
    assert len(a["reactions"]) == len(a["phases"]) - 1
    assert all(x["react_s"] is None or x["react_s"] >= 0 for x in a["reactions"])
    assert a["load"] and all(x["factor"] >= 1.0 for x in a["load"])
    assert a["queries"] and all(q["role"] == "fg" for q in a["queries"])
    assert any("2-core" in d or "-core machine" in d for d in res["differences"])
    for fig in ("10_fleet_throughput", "10_fleet_adaptation"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
