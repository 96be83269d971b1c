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
