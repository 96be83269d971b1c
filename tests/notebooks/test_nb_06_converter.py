"""06_early_exit at smoke, converter part: the operating point obeys its own rule on validation, the
bytes are consistent with the curve, and the planner never returns a plan over the deadline."""
from __future__ import annotations

import math

import pytest

from .conftest import read_result


def test_converter_operating_point(smoke_reports):
    c = read_result(smoke_reports, "early_exit")["converter"]
    op, opv = c["operating_point"], c["operating_point_val"]
    assert op["channels"] in c["channels"] and op["threshold"] == pytest.approx(opv["threshold"])
    assert opv["overall_acc"] >= c["reference_acc_val"] - c["budget"] - 1e-9  # the rule, on validation
    test_rows = [r for r in c["curve"] if r["split"] == "test" and r["channels"] == op["channels"]]
    row = next(r for r in test_rows if r["threshold"] == pytest.approx(op["threshold"]))
    assert row["exit_fraction"] == pytest.approx(op["exit_fraction"])
    if op["exit_fraction"] < 1:
        assert op["bytes_per_input"] == pytest.approx((1 - op["exit_fraction"]) * op["bytes_shipped"])
    for p in c["per_channels"]:  # uint8 codes: 6·6·C body bytes at least (codec none), plus header values
        n = math.prod(p["code_shape"])
        assert p["bytes_shipped_by_codec_test"]["none"] >= n
    assert c["alternatives_bytes"]["crop raw"] == 48 * 48


def test_converter_edgent(smoke_reports):
    c = read_result(smoke_reports, "early_exit")["converter"]
    for r in c["edgent"]:
        if r["edgent"] != "infeasible":
            assert r["edgent_worst_ms"] <= r["deadline_ms"] + 1e-9
            if r["neurosurgeon"] != "infeasible":
                assert r["edgent_acc"] >= r["neurosurgeon_acc"] - 1e-12  # Edgent's options include the single cuts
        else:
            assert r["reason"]


def test_early_exit_executed_in_the_page(smoke_reports):
    """The page ran the operating point's edge model on test faces: its branch probabilities and
    codes equal Keras' (fp32, ≤ 1e-4), it decided like the library, and its bytes add up."""
    ex = read_result(smoke_reports, "early_exit")["converter"]["executed"]
    if ex is None:
        pytest.skip("the executed part was skipped (see _skipped.json)")
    page = ex["exit_page"]
    vk = page["vs_keras"]
    assert vk["branch_probs_max_abs"] <= 1e-4
    assert vk["code_max_abs"] <= 1e-4 * max(1.0, vk["code_abs_max"])
    assert vk["entropy_max_abs"] <= 1e-5 and vk["decision_agreement"] == 1.0
    for r in page["summary"]:
        assert r["exit_fraction"] == pytest.approx(vk["keras_exit_fraction"])
        if r["exit_fraction"] < 1:
            assert r["bytes_per_input"] == pytest.approx((1 - r["exit_fraction"]) * r["bytes_shipped"])
            assert 0 < r["bytes_shipped"] < 48 * 48
    by = ex["edgent_by_cost_model"]
    assert "tf×throttle" in by and ex["edgent_cost_model"] in by
    for v in by.values():
        assert v["hit_rate"] is None or 0 <= v["hit_rate"] <= 1


def test_video_bytes_without_07(smoke_reports):
    c = read_result(smoke_reports, "early_exit")["converter"]
    v = c["video"]
    if v is None:
        pytest.skip("video bytes not measured (see _skipped.json)")
    assert v["bytes_per_frame"] > 0 and v["source"]
    assert c["alternatives_bytes"]["cloud video / frame"] == pytest.approx(v["bytes_per_frame"])
