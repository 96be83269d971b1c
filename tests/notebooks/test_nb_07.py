"""07_load at smoke: the three series, the overload run and the seed's reported numbers."""
from __future__ import annotations

from .conftest import read_result


def test_load_result(smoke_reports):
    res = read_result(smoke_reports, "07_load")
    assert res["preset"] == "smoke"
    series = {s["series"] for s in res["steps"]}
    assert series == {"cloud · ours", "cloud · seed pipeline", "hybrid"}
    for s in res["steps"]:
        assert s["refused"] == 0  # no cap in the main runs
        if s["series"] == "cloud · seed pipeline":  # its event loop may be too busy to connect
            assert s["admitted"] >= 1
        else:
            assert s["admitted"] == s["users"] and s["errors"] == 0
        assert s["cpu_pct"] >= 0 and s["window_s"] > 0
        if s["series"].startswith("cloud"):
            assert 0 < s["answered"] <= s["frames_sent"] and s["bytes_in_per_s"] > 0
            assert s["rtt_p95_ms"] >= s["rtt_p50_ms"] > 0
        else:
            assert s["setup_bytes_per_user"] > 1e5 and s["answered"] == 0
    # ours answers more frames per server CPU-second than the seed pipeline
    e = res["answered_per_cpu_s"]
    assert e["ours"] > e["seed"] > 0 and e["ratio"] > 1
    # hybrid costs the server less per user-minute than cloud mode
    assert 0 <= res["hybrid_vs_cloud_cpu_ratio"] < 1
    # overload at 2× capacity: exactly capacity admitted, the rest refused with 503
    o = res["overload"]
    assert o["users"] == 2 * res["capacity"] == 2 * o["max_sessions"]
    assert o["admitted"] == o["max_sessions"] and o["refused"] == o["users"] - o["max_sessions"]
    assert o["fps_per_user"] > 0
    assert res["seed_reported"]["cloud_cpu_pct"] == {"1": 40.0, "5": 82.0}
    for fig in ("07_cpu_bandwidth", "07_latency", "07_costs_overload"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
