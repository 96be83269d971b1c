"""06_early_exit at smoke: the threshold rule, bandwidth arithmetic and planner hold on real outputs."""
from __future__ import annotations

from itertools import pairwise

import pytest

from .conftest import read_result


def test_early_exit_result(smoke_reports):
    res = read_result(smoke_reports, "early_exit")
    f = res["edge_exit_fraction"]
    assert isinstance(f, float) and 0.0 <= f <= 1.0
    assert 0.0 <= res["threshold"] <= 1.0 and res["synthetic"] is True
    for k in ("overall_acc", "branch_acc", "final_acc"):
        assert 0.0 <= res[k] <= 1.0
    # the rule holds on the split it was chosen on (validation)
    val = res["val"]
    assert val["overall_acc"] >= val["final_acc"] - res["tolerance"] - 1e-9
    # test sweep: exit fraction never decreases with the threshold, and T = 0 exits nothing
    sw = sorted(res["sweep_test"], key=lambda r: r["threshold"])
    assert all(b["exit_fraction"] >= a["exit_fraction"] for a, b in pairwise(sw))
    assert sw[0]["exit_fraction"] == 0.0
    assert any(r["threshold"] == pytest.approx(res["threshold"]) and r["exit_fraction"] == pytest.approx(f) for r in sw)


def test_early_exit_bandwidth(smoke_reports):
    res = read_result(smoke_reports, "early_exit")
    bw, f, px = res["bandwidth"], res["edge_exit_fraction"], res["pixel_bytes"]
    assert px == 48 * 48 and bw["cloud-only (uint8 pixels)"]["reduction_vs_cloud"] == 1
    assert bw["early exit + pixels"]["bytes_per_frame"] == pytest.approx((1 - f) * px)
    fb = res["feature_bytes"]
    n = 1
    for d in res["feature_shape"]:
        n *= d
    assert fb["float32"] == 4 * n and fb["float16"] == 2 * n and fb["uint8+zlib"] < fb["uint8"]
    for k, v in fb.items():
        assert bw[f"early exit + features {k}"]["bytes_per_frame"] == pytest.approx((1 - f) * v)


def test_early_exit_planner_and_figures(smoke_reports):
    res = read_result(smoke_reports, "early_exit")
    plans = res["planner"]
    assert {p["network"] for p in plans} == {"3g", "lte", "wifi"}
    for p in plans:
        assert p["feasible"] == (p["latency_ms"] <= p["deadline_ms"] + 1e-9)
        assert p["exit"] in {"exit1", "final"}
    for net in ("3g", "lte", "wifi"):
        acc = [p["accuracy"] for p in sorted(plans, key=lambda p: p["deadline_ms"]) if p["network"] == net and p["feasible"]]
        assert acc == sorted(acc)  # a looser deadline never lowers the accuracy
    for fig in ("06_threshold", "06_bandwidth"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
