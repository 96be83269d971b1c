"""11_choice at smoke: 003's choice table made, executed and scored out of sample."""
from __future__ import annotations

import pandas as pd

from hybridlib.study.choice import sizes

from .conftest import read_result


def test_choice_result(smoke_reports):
    res = read_result(smoke_reports, "choice")
    size = sizes.size_for("smoke")
    assert res["n_cases"] == len(size.networks) * len(size.cells) and res["headline_engine"] == "uncalibrated"
    assert set(res["engines"]) == {"uncalibrated", "calibrated"}
    for eng in res["engines"].values():
        o, d = eng["overall"], eng["discriminating"]
        assert o["n"] == res["n_cases"] and 0 <= o["hits"] <= o["n"]
        assert o["hit_ci"][0] <= o["hit_rate"] <= o["hit_ci"][1]
        assert o["worst_regret"] >= o["median_regret"] >= 0
        assert d["n"] == res["n_discriminating"] <= o["n"]
    # the calibration came from the probe alone: other runs, another input
    cal = res["calibration"]
    assert cal["disjoint"] and not set(cal["calibration_runs"]) & set(cal["scored_runs"])
    assert cal["calibration_input_seeds"] == [cal["probe_seed"]] != cal["scored_input_seeds"]
    # every cut of the smoke network ran (≤ 30 cut points), the engine's pick among them
    for c in res["cuts"].values():
        assert c["label"] == f"all {c['points']} cuts" and len(c["cuts"]) == c["points"]
    for row in res["cases"]["uncalibrated"]:
        assert row["chosen"] in res["cuts"][row["model"]]["cuts"] and row["regret"] >= 0
    # 003's layout: rows load × device × link, a column per network; 003's own tables quoted
    t = res["tables"]["latency_pick"]
    assert len(t) == len(size.cells) and {"load", "device", "network"} <= set(t[0])
    assert len(res["seed_003_quoted"]["latency"]) == 6 and res["energy_source"] == "modelled: no power meter"
    # the 003 headline is never set beside a smaller network set
    assert all(h["seed_value"] is None and h["differs"] for h in res["headline_003"])
    for fig in ("11_choice_table", "11_choice_bars", "11_choice_scatter"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000


def test_calibration_rows_and_scored_records_are_disjoint(smoke_reports):
    """On the run's own records, not on what the result says about them: the probe's rows (the only
    calibration input) and the scored records share no server session and no input."""
    probe = pd.read_csv(smoke_reports / "results" / "choice_probe.csv")
    scored = pd.read_csv(smoke_reports / "results" / "choice_records.csv")
    assert len(probe) and len(scored) and set(probe["role"]) == {"probe"} and set(scored["role"]) == {"scored"}
    assert not set(probe["run_id"]) & set(scored["run_id"])
    assert not set(probe["input_seed"]) & set(scored["input_seed"])
    # every calibration factor in the result is the probe's median ÷ the profiled cloud ms: from these rows only
    res = read_result(smoke_reports, "choice")
    assert set(res["calibration"]["factors"]) == {f"{m}|{load}" for m, load in zip(probe["model"], probe["load"])}
    # the offload-overhead profile (priced by both engines) is unscored too: its own runs, the held-out input
    over = pd.read_csv(smoke_reports / "results" / "choice_overhead.csv")
    assert len(over) and set(over["role"]) == {"overhead"} and set(over["kind"]) == {"split", "upload", "download"}
    assert not set(over["run_id"]) & set(scored["run_id"]) and not set(over["input_seed"]) & set(scored["input_seed"])
    assert res["calibration"]["overhead_runs"] == sorted(set(over["run_id"]))
    priced = res["offload_overhead"]["fixed_ms"]
    assert set(priced) == set(over["device"]) and all(v >= 0 for v in priced.values())
    ab = res["overhead_ablation"]  # the engine with the overhead unpriced, scored on the same records
    assert ab["scored"] is (not ab["not_executed"]) and (not ab["scored"] or ab["overall"]["n"] == res["n_cases"])
