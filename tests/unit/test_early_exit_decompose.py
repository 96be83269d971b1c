"""06's operating point decomposed (study/early_exit/decompose.py), the paired intervals behind it
(stats.paired_difference, bootstrap_ratio, paired_resolvable_difference) and the operating-point
rule without the 95% exit cap — on cases with known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridlib import stats
from hybridlib.study.early_exit import converter, decompose, edgent
from hybridlib.utils import InputError


def _tiny():
    """Five inputs: 0–2 exit (branch right, right, wrong), 3–4 ship (converter right, wrong)."""
    return dict(exited=[1, 1, 1, 0, 0], ok_exit=[1, 1, 0, 0, 0], ok_ship=[0, 0, 0, 1, 0],
                ok_ref=[1, 1, 1, 1, 0], ship_bytes=[50.0, 50.0, 50.0, 40.0, 60.0])


def test_decomposition_arithmetic_on_a_known_tiny_case():
    d = decompose.decompose(**_tiny(), alternatives={"crop raw": 2304.0, "crop PNG": [1000, 1000, 1000, 1500, 2500]},
                            n_boot=200)
    assert (d["n"], d["n_exited"], d["n_shipped"]) == (5, 3, 2)
    assert d["exit_share"]["value"] == pytest.approx(3 / 5)
    assert d["correct_at_edge"]["value"] == pytest.approx(2 / 5)  # exited AND right, over all inputs (004's measure)
    assert d["exited_acc"]["value"] == pytest.approx(2 / 3) and d["shipped_acc"]["value"] == pytest.approx(1 / 2)
    assert d["overall_acc"]["value"] == pytest.approx(3 / 5) and d["reference_acc"]["value"] == pytest.approx(4 / 5)
    assert d["acc_difference"]["value"] == pytest.approx(-1 / 5) and d["discordant_share"] == pytest.approx(1 / 5)
    assert d["bytes_per_shipped"]["value"] == pytest.approx(50.0)  # (40 + 60) / 2: the exited inputs' 50s never count
    assert d["bytes_per_input"]["value"] == pytest.approx(100.0 / 5)
    raw = d["ratios"]["crop raw"]
    assert raw["per_input"]["value"] == pytest.approx(2304 / 20) and raw["per_shipped"]["value"] == pytest.approx(2304 / 50)
    png = d["ratios"]["crop PNG"]  # per face: the shipped faces' own PNG sizes over their own bytes
    assert png["per_input"]["value"] == pytest.approx(1400 / 20) and png["per_shipped"]["value"] == pytest.approx(2000 / 50)
    for k in ("exit_share", "acc_difference", "bytes_per_input"):
        assert d[k]["lo"] <= d[k]["value"] <= d[k]["hi"]
    assert decompose.table({"tiny": d}).loc["exit share", "tiny"].startswith("60.0% [")


def test_nothing_shipped_has_no_ratio_and_meets_the_bytes_part():
    t = {**_tiny(), "exited": [1, 1, 1, 1, 1]}
    d = decompose.decompose(**t, alternatives={"crop raw": 2304.0}, n_boot=200)
    assert d["ratios"]["crop raw"]["per_input"] is None and d["ratios"]["crop raw"]["per_shipped"] is None
    assert d["shipped_acc"] is None and d["bytes_per_shipped"] is None
    g = decompose.goal(d)
    assert g["ratio_per_input"] is None and g["met"] is False  # −40 points fails the budget whatever the bytes


def test_goal_met_on_points_but_not_with_the_interval():
    rng = np.random.default_rng(0)
    n = 400
    ref = rng.random(n) < 0.7
    ok = ref.copy()
    flip = rng.choice(n, 40, replace=False)  # 20 lost, 20 gained: no change on the point value, wide interval
    ok[flip[:20]], ok[flip[20:]] = False, True
    ref[flip[20:]] = False
    ok[flip[:20]] = False
    ref[flip[:20]] = True
    d = decompose.decompose(np.ones(n, bool), ok, ok, ref, np.full(n, 50.0), {"crop raw": 2304.0}, n_boot=500)
    d["ratios"]["crop raw"]["per_input"] = {"value": 100.0, "lo": 90.0, "hi": 110.0}
    g = decompose.goal(d)
    assert d["acc_difference"]["value"] == pytest.approx(0.0)
    assert g["met"] and not g["met_with_interval"] and g["acc_difference_lo"] < -0.01
    assert g["budget_decided"] is False and g["resolvable_difference"] > 0.03  # 10% discordant on 400 faces
    with pytest.raises(InputError, match="no ratio"):
        decompose.goal(d, alternative="crop TIFF")


def test_paired_interval_covers_the_true_difference_in_simulation():
    """SIMULATION: two systems that agree on most cases; the paired bootstrap interval of their
    accuracy difference covers the true difference ~95% of the time, and is much narrower than
    the independent-samples resolvable difference."""
    rng = np.random.default_rng(3)
    n, true = 600, -0.02  # system a loses 5% of cases b gets right and gains 3%
    cover = []
    for i in range(300):
        b = rng.random(n) < 0.7
        u = rng.random(n)
        a = np.where(b & (u < 0.05 / 0.7), False, np.where(~b & (u < 0.03 / 0.3), True, b))
        e = stats.paired_difference(a, b, n_boot=400, seed=i)
        cover.append(e.lo <= true <= e.hi)
    assert 0.90 <= np.mean(cover) <= 0.985, np.mean(cover)
    assert stats.paired_resolvable_difference(0.08, n) < 0.5 * stats.resolvable_difference(0.7, n)
    with pytest.raises(InputError, match="same length"):
        stats.paired_difference([1, 0], [1])


def test_bootstrap_ratio_covers_a_known_ratio_and_refuses_nothing_sent():
    rng = np.random.default_rng(4)
    cover = []
    for i in range(200):
        num, den = rng.normal(2000, 200, 300), rng.exponential(50, 300)
        e = stats.bootstrap_ratio(num, den, n_boot=300, seed=i)
        cover.append(e.lo <= 2000 / 50 <= e.hi)
    assert 0.88 <= np.mean(cover) <= 0.99, np.mean(cover)
    assert stats.bootstrap_ratio([1.0, 2.0], [0.0, 0.0]) is None
    with pytest.raises(InputError):
        stats.bootstrap_ratio([1.0, -2.0], [1.0, 1.0])


def _curve(branch_ok, final_ok, ref_ok):
    h = np.linspace(0.0, 0.99, len(ref_ok))  # input i exits for every T above h_i
    return converter.operating_curve(h, branch_ok, final_ok, np.full(len(ref_ok), 40.0), [0.0, 0.5, 1.0],
                                     ok_ref=ref_ok, n_boot=300).assign(channels=1)


def test_interval_rule_has_no_exit_cap():
    """No 95% cap: when the branch agrees with the full model on every input, the paired interval is
    [0, 0] and every input exits (0 bytes) — above 004's 95%; the old cap would have stopped it."""
    ref = np.random.default_rng(5).random(200) < 0.7
    cu = _curve(ref, ref, ref)
    op = converter.choose_operating_point(cu, float(ref.mean()), budget=0.01, rule="interval")
    assert op["exit_fraction"] == 1.0 and op["bytes_per_input"] == 0.0 and op["acc_diff_lo"] == 0.0


def test_interval_rule_refuses_a_point_within_budget_only_on_its_point_value():
    """All exiting: the branch gains 30 inputs and loses 30 (no change on the point value, a wide
    interval); at T = 0.5 only the first half exits, where it agrees with the full model. The
    point rule exits everything (0 bytes); the interval rule stops at T = 0.5."""
    n = 300
    ref = np.random.default_rng(6).random(n) < 0.7
    branch = ref.copy()
    late = np.arange(160, n)  # h ≥ 0.5: exit only above T = 0.5
    lost, gained = late[ref[late]][:30], late[~ref[late]][:30]
    branch[lost], branch[gained] = False, True
    cu = _curve(branch, ref, ref)
    full = cu[cu.threshold == 1.0].iloc[0]
    assert full.acc_diff == pytest.approx(0.0) and full.acc_diff_lo < -0.02
    point = converter.choose_operating_point(cu, float(ref.mean()), budget=0.02, rule="point")
    inter = converter.choose_operating_point(cu, float(ref.mean()), budget=0.02, rule="interval")
    assert point["threshold"] == 1.0 and point["bytes_per_input"] == 0.0
    assert inter["threshold"] == 0.5 and inter["acc_diff_lo"] == 0.0 and 0.5 <= inter["exit_fraction"] < 0.55
    with pytest.raises(InputError, match="acc_diff_lo"):
        converter.choose_operating_point(pd.DataFrame({"threshold": [0.0], "exit_fraction": [0.0], "overall_acc": [0.7],
                                                       "bytes_per_input": [1.0], "channels": [1]}), 0.7, rule="interval")


def test_deadlines_around_the_options_separate_the_plans():
    opts = [{"name": "exit", "worst_ms": 20.0, "accuracy": 0.5}, {"name": "conv", "worst_ms": 60.0, "accuracy": 0.69},
            {"name": "device", "worst_ms": 150.0, "accuracy": 0.70}, {"name": "slow", "worst_ms": 400.0, "accuracy": 0.6}]
    ds = edgent.deadlines_around([opts])
    assert ds == [18.0, 22.0, 66.0, 160.0]  # below the fastest, then 1.1× each frontier option (2 significant digits)
    plans = [converter.edgent_plan(opts, d) for d in ds]
    assert not plans[0]["feasible"] and "fastest option 'exit'" in plans[0]["reason"]
    assert [p["name"] for p in plans[1:]] == ["exit", "conv", "device"]  # every deadline a different plan
    assert len(edgent.deadlines_around([opts * 3], n=3)) == 3
    with pytest.raises(InputError):
        edgent.deadlines_around([[]])


def test_report_rows_carry_the_intervals_and_the_goal():
    from hybridlib.study.report import early_exit as rep

    d = decompose.decompose(**_tiny(), alternatives={"crop raw": 2304.0}, n_boot=200)
    d["goal"] = decompose.goal(d)
    res = {"synthetic": True, "branch_at": "pool3", "converter": {
        "operating_point": {"channels": 2, "codec": "zlib", "threshold": 0.5, "exit_fraction": 0.6, "overall_acc": 0.6,
                            "bytes_per_input": 20.0, "bytes_shipped": 50.0},
        "reference_acc_test": 0.8, "budget": 0.01, "max_exit": None, "operating_rule": "interval rule",
        "decomposition": {"test": d, "enlarged": None, "goal": d["goal"], "extra": {"n": 0}},
        "executed": {"exit_page": {"decomposition": d, "summary": []}}}}
    rows = [r for r in rep.converter_rows(res) if r.topic == "early exit (decomposed)"]
    assert len(rows) == 3  # the test split, the goal on it, the goal in the page
    assert "exit 60.0% [" in rows[0].this_run and "change vs the full model -20.0 [" in rows[0].this_run
    assert all(r.this_run.startswith("NOT met") for r in rows[1:])  # −20 points is over the budget
