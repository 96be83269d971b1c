"""07_load at smoke: both cloud pipelines at the same user counts, hybrid as Chromium pages with
the client's cost measured, the overload run at 4× capacity, and the seed's reported numbers."""
from __future__ import annotations

import json

from .conftest import read_result


def test_load_result(smoke_reports):
    res = read_result(smoke_reports, "07_load")
    assert res["preset"] == "smoke"
    skipped = res["skipped"]
    from hybridlib import browser

    if browser.have_chromium():  # nothing to excuse a missing hybrid run here
        assert "hybrid" not in skipped, skipped
    else:  # a part that could not run is recorded where summary.md reads it, not dropped
        parts = json.loads((smoke_reports / "results" / "_skipped.json").read_text())["parts"]
        assert any(p["part"] == "07 hybrid load run" and not p["required"] for p in parts)
    series = {s["series"] for s in res["steps"]}
    assert series == {"cloud · ours", "cloud · seed pipeline"} | ({"hybrid"} - set(skipped))
    for s in res["steps"]:
        assert s["refused"] == 0  # no cap in the main runs
        if s["series"] == "cloud · seed pipeline":  # its event loop may be too busy to connect
            assert s["admitted"] >= 1
        else:
            assert s["admitted"] == s["users"] and s["errors"] == 0
        assert s["cpu_pct"] >= 0 and s["window_s"] > 0 and s["server_up"] is True
        if s["series"].startswith("cloud"):
            assert 0 < s["answered"] <= s["frames_sent"] and s["bytes_in_per_s"] > 0
            assert s["rtt_p95_ms"] >= s["rtt_p50_ms"] > 0
        else:  # Chromium pages ran the app for the whole step: they processed frames, at a cost
            assert s["setup_bytes_per_user"] > 1e5 and s["answered"] > 0
            assert s["client_ms_per_frame"] > 0 and s["client_proc_ms_per_frame"] > 0
    # the efficiency ratio: per user count both pipelines ran, the minimum as the headline
    r = res["cloud_ratio"]
    assert [row["users"] for row in r["rows"]] == res["plan"]["users"] == res["plan"]["seed_users"]
    assert r["unmatched"] == {"ours": [], "seed": []}
    rated = [row["ratio"] for row in r["rows"] if row["ratio"] is not None]
    assert rated and r["min_ratio"] == min(rated) and r["min_ratio"] > 1
    for row in r["rows"]:
        if row["ratio"] is not None:
            assert row["ratio"] == round(row["ours_answered_per_cpu_s"] / row["seed_answered_per_cpu_s"], 3)
    # the seed pipeline's frame ledger is recorded per step
    assert [f["users"] for f in res["seed_pipeline_frames"]] == res["plan"]["seed_users"]
    assert all(f["frames_queued"] is not None and f["frames_dropped"] is not None
               for f in res["seed_pipeline_frames"])
    # hybrid: server CPU per user-minute ≤ 1% of cloud mode's measured here, and the pages worked
    if "hybrid" not in skipped:
        c = res["hybrid_claim"]
        assert c["holds"], c
        assert c["client_frames"] > 0 and c["ratio"] <= c["limit"] == 0.01
        h = res["hybrid"][0]
        assert h["client_ms_per_frame"] > 0 and h["frames"] > 0
    # overload at 4× capacity, measured right after the capacity step on the same capped server
    o = res["overload"]
    assert o["users"] == 4 * res["capacity"] == 4 * o["max_sessions"] and o["factor"] == 4
    assert o["holds"], o["checks"]
    assert o["admitted"] == o["max_sessions"] and o["refused"] == o["users"] - o["max_sessions"]
    assert o["fps_per_user"] >= 0.5 * o["baseline_fps_per_user"] > 0 and o["server_up"] is True
    assert res["seed_reported"]["cloud_cpu_pct"] == {"1": 40.0, "5": 82.0}
    for fig in ("07_cpu_bandwidth", "07_latency", "07_costs_overload"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
