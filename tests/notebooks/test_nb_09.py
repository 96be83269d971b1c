"""09_split at smoke: executed cuts checked against the engine's prediction, numbers consistent."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from hybridlib import config

from .conftest import read_result


def test_split_result(smoke_reports):
    res = read_result(smoke_reports, "09_split")
    cases = config.PRESETS["smoke"].split_cases
    n_conditions = sum(len(nets) * len(devs) * len(loads) for _m, _n, nets, devs, loads in cases)
    assert res["cases"] == n_conditions and res["energy_source"] == "model"
    assert 0 <= res["hit_rate"] <= 1 and res["hits"] == round(res["hit_rate"] * res["cases"])
    assert res["worst_regret"] >= res["median_regret"] >= 0
    # the engine's own choice was always among the executed cuts
    assert res["chosen_not_executed"] == 0
    for model, n, *_ in cases:
        cut_list = res["cuts"][model]
        assert len(cut_list) == n and len(set(cut_list)) == n
        assert cut_list[0] == "input" and cut_list[-1] == "predictions"  # cloud-only … device-only
    # the profiles the engine solved on add up to their whole-model times
    for p in res["profiles"]:
        assert math.isclose(p["reconciled_ms"], p["model_ms"], rel_tol=1e-6), p
    # seeds' claims only beside matching cases: no AlexNet at smoke → no 001 number
    lfl = {c["seed"] + str(c["seed_value"]): c for c in res["like_for_like"]}
    assert lfl["00173.0"]["ours"] is None and not lfl["00173.0"]["like_for_like"]
    assert lfl["0033.1"]["cases"] == sum(1 for r in res["runs"] if r["device"] == "phone")
    for fig in ("09_split_bars", "09_split_choice", "09_split_speedups"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000


def test_split_tables_agree_with_result(smoke_reports):
    res = read_result(smoke_reports, "09_split")
    rec = pd.read_csv(smoke_reports / "results" / "09_split_records.csv")
    comp = pd.read_csv(smoke_reports / "results" / "09_split_cases.csv")
    preset = config.PRESETS["smoke"]
    assert len(rec) == sum(len(c) for c in res["cuts"].values()) * preset.split_repeats * res["cases"]
    assert set(rec["shaper"]) <= {"devtools", "tc", "none"} and (rec["total_ms"] > 0).all()
    # device-only ships nothing; every other cut ships its tensor
    dev_only = rec["cut"] == "predictions"
    assert (rec.loc[dev_only, "up_bytes"] == 0).all() and (rec.loc[~dev_only, "up_bytes"] > 0).all()
    for _, c in comp.iterrows():
        sel = rec[(rec["network"] == c["network"]) & (rec["device"] == c["device"]) & (rec["model"] == c["model"])]
        med = sel.groupby("cut")["total_ms"].median()
        assert c["best"] == med.idxmin()
        assert c["measured_chosen_ms"] == pytest.approx(med[c["chosen"]])
        assert c["regret"] == pytest.approx(med[c["chosen"]] / med.min() - 1)
        assert c["speedup_vs_cloud"] == pytest.approx(med["input"] / med[c["chosen"]])
    assert res["hits"] == int(comp["hit"].sum())


def test_predicted_cost_plans_at_smoke(smoke_reports):
    """The issue-15 cells ran: at smoke no browser kernels are timed, so no plan is made on
    predicted costs, and the record says which predictor and device the quick run uses."""
    pc = read_result(smoke_reports, "09_split")["predicted_cost_plans"]
    assert "browser" not in config.PRESETS["smoke"].kernel_sides
    assert pc["n"] == 0 and pc["cases"] == [] and pc["worst_regret"] is None
    assert (pc["method"], pc["device_side"]) == ("additive+rf", "browser")
