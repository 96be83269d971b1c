"""05_partition at smoke: the choice table is consistent with the cost model's guarantees."""
from __future__ import annotations

from itertools import pairwise

import pytest

from .conftest import read_result


def test_partition_result(smoke_reports):
    res = read_result(smoke_reports, "partition")
    ch = res["choices"]
    assert {c["network"] for c in ch} == {"3g", "lte", "wifi"}
    assert {c["objective"] for c in ch} == {"latency", "energy"}
    by = {(c["model"], c["scenario"], c["network"], c["objective"], c["schedule"]): c for c in ch}
    assert len(by) == len(ch)  # one row per model × scenario × network × objective × schedule
    for (m, scen, net, obj, sched), c in by.items():
        # optimal plans are never worse than either baseline, on their own objective
        if obj == "latency":
            assert c["speedup_vs_cloud"] >= 1 - 1e-9 and c["speedup_vs_device"] >= 1 - 1e-9
        # multi-switch is never worse than single cut
        if sched == "any":
            single = by[(m, scen, net, obj, "single")]
            key = "latency_ms" if obj == "latency" else "energy_mj"
            assert c[key] <= single[key] * (1 + 1e-9)
    assert set(res["scenarios"]) == {"measured", "fast server", "low-end phone (×10) + fast server"}
    # the sensitivity table: a slower device never makes offloading less attractive
    sens = res["sensitivity"]
    for m in {r["model"] for r in sens}:
        for net in ("3g", "lte", "wifi"):
            kinds = [r["choice"] for r in sorted(sens, key=lambda r: r["device_slowdown"])
                     if r["model"] == m and r["network"] == net]
            if "device-only" in kinds:
                assert kinds.index("device-only") == 0 and all(
                    k == "device-only" for k in kinds[: kinds.count("device-only")])
    assert all(v >= 1 for v in res["pareto_points"].values())
    assert res["compression"]["median_ratio"]["zstd/float32"] > 1
    assert set(res["networks"]) == {"3g", "lte", "wifi"}
    for fig in ("05_best_vs_baselines", "05_pareto", "05_load_sweep", "05_explorer_static"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000


def test_load_sweep_monotone(smoke_reports):
    sweep = read_result(smoke_reports, "partition")["load_sweep"]
    best = sorted((r["load"], r["latency_ms"]) for r in sweep if r["plan"] == "best")
    # a busier server can only make the best plan slower (or equal)
    assert all(b[1] >= a[1] - 1e-9 for a, b in pairwise(best))
    if not best:
        pytest.fail("no load sweep rows")


def test_decision_regret_result(smoke_reports):
    """Plans solved on predicted kernel costs are costed on the measured profile: regret ≥ 0
    (the measured best is the floor), for each predictor, trained with and without the network's family."""
    reg = read_result(smoke_reports, "partition")["decision_regret"]
    assert {k.split("/")[2] for k in reg} == {"rf", "linear", "additive+rf"}
    assert {k.split("/")[1] for k in reg} == {"families", "other-family"}
    assert {k.split("/")[3] for k in reg} == {"device"}  # smoke times no browser side
    for r in reg.values():
        assert -1e-9 <= r["mean"] <= r["max"] and 0 <= r["same_plan"] <= 1
