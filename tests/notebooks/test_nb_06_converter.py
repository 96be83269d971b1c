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
    dec = page["decomposition"]  # distinct faces shared out over the networks, decomposed with intervals
    assert dec["n"] == page["n_faces"] == vk["n"] == sum(r["n"] for r in page["summary"])
    assert dec["exit_share"]["value"] == pytest.approx(vk["keras_exit_fraction"])
    assert dec["exit_share"]["lo"] <= dec["exit_share"]["value"] <= dec["exit_share"]["hi"]
    assert dec["overall_acc"]["value"] == pytest.approx(vk["keras_acc"])
    for r in page["summary"]:
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


def test_converter_decomposition_with_intervals(smoke_reports):
    """06's operating point decomposed on test (smoke: no extra faces): the parts add up to the
    operating point, every interval holds its value, and the rule is the interval rule, no cap."""
    c = read_result(smoke_reports, "early_exit")["converter"]
    assert c["max_exit"] is None and "lower 95% bound" in c["operating_rule"]
    dd, op = c["decomposition"], c["operating_point"]
    d = dd["test"]
    assert d["exit_share"]["value"] == pytest.approx(op["exit_fraction"])
    assert d["overall_acc"]["value"] == pytest.approx(op["overall_acc"])
    assert d["reference_acc"]["value"] == pytest.approx(c["reference_acc_test"])
    assert d["acc_difference"]["value"] == pytest.approx(op["overall_acc"] - c["reference_acc_test"])
    assert d["bytes_per_input"]["value"] == pytest.approx(op["bytes_per_input"])
    assert d["correct_at_edge"]["value"] <= d["exit_share"]["value"] + 1e-12
    for k in ("exit_share", "correct_at_edge", "overall_acc", "acc_difference", "bytes_per_input"):
        assert d[k]["lo"] - 1e-12 <= d[k]["value"] <= d[k]["hi"] + 1e-12
    g = dd["goal"]
    assert g["met"] == bool((g["ratio_per_input"] is None or g["ratio_per_input"] >= 40)
                            and g["acc_difference"] >= -0.01 - 1e-12)
    deadlines = c["edgent_deadlines_around"]
    assert deadlines == sorted(deadlines) and len(deadlines) >= 2
