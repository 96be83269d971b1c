"""The report compares like with like: scenario, data and basis on every row, no pooled
what-ifs, one graph per network, a seed's number only under matching conditions."""
from __future__ import annotations

import json

import pytest

from hybridlib import config
from hybridlib.study import report
from hybridlib.pipeline import NotebookRun, PipelineResult

SCEN = {"measured": {"device_slowdown": 1.0, "load": 1.0}, "fast server": {"device_slowdown": 1.0, "load": 0.1},
        "low-end phone (×10) + fast server": {"device_slowdown": 10.0, "load": 0.1}}


def _choice(model, scenario, network, objective, speedup, saving, schedule="single"):
    return {"model": model, "scenario": scenario, "network": network, "objective": objective,
            "schedule": schedule, "speedup_vs_cloud": speedup, "energy_saving_vs_cloud_pct": saving}


def _partition(with_tfjs: bool = True) -> dict:
    """Speed-ups chosen so that any pooling (over scenarios or graphs) changes the numbers."""
    rows = []
    sp = {"measured": 1.5, "fast server": 2.0, "low-end phone (×10) + fast server": 400.0}
    for scen, base in sp.items():
        for i, net in enumerate(("3g", "lte", "wifi")):
            rows.append(_choice("emotion_cnn", scen, net, "latency", base + i, 10.0))
            rows.append(_choice("emotion_cnn", scen, net, "energy", 1.0, 80.0 + i))
            if with_tfjs:
                rows.append(_choice("emotion_cnn@tfjs", scen, net, "latency", 3 * base + i, 20.0))
                rows.append(_choice("emotion_cnn@tfjs", scen, net, "energy", 1.0, 30.0))
            rows.append(_choice("emotion_cnn", scen, net, "latency", 999.0, 99.0, schedule="any"))
    return {"synthetic": False, "scenarios": SCEN, "choices": rows}


def _train(synthetic=True, preset="quick", epochs=5, sweep_budget="1 ep × 1000 img") -> dict:
    return {"preset": preset, "synthetic": synthetic, "params": 3_147_431, "alexnet_params": 62_378_344,
            "config": {"epochs": epochs, "max_train": None},
            "cnn": {"val_accuracy": 0.55, "test_accuracy": 0.54},
            "baseline": {"accuracy": 0.30, "features": "pixels"},
            "comparison": [{"model": "CNN, default config (before tuning)", "budget": sweep_budget,
                            "val_accuracy": 0.25}]}


def _rows(results) -> list[dict]:
    return [r.to_dict() for r in report.comparisons(results)]


def test_every_row_names_scenario_data_and_basis():
    results = {"train": _train(), "partition": _partition(), "07_load": {"synthetic": True, "cpu_count": 2,
               "plan": {"users": [1, 2], "seed_users": [1, 2], "size": [640, 480], "fps": 15},
               "cloud_ratio": {"rows": [{"users": 1, "ratio": 9.5}, {"users": 2, "ratio": 8.0}],
                               "min_ratio": 8.0, "min_at_users": 2}},
               "early_exit": {"synthetic": True, "edge_exit_fraction": 0.6, "overall_acc": 0.5, "final_acc": 0.52,
                              "threshold": 0.4, "branch_at": "pool3"}}
    rows = _rows(results)
    assert len(rows) >= 12
    for r in rows:
        assert r["scenario"] and r["data"] in ("synthetic", "FER-2013", "any (architecture)"), r
        assert r["basis"].startswith(("measured", "modelled", "what-if")), r
        # a seed's number stands beside ours only when nothing differs
        assert (r["seed_value"] != "") == (r["like_for_like"] == "yes"), r
        if r["like_for_like"].startswith("no"):
            assert len(r["like_for_like"]) > len("no — ")
    energy = [r for r in rows if "energy" in r["quantity"]]
    assert energy and all("2 W × compute ms" in r["basis"] for r in energy)


def test_partition_never_pools_scenarios_and_counts_each_network_once():
    rows = [r for r in _rows({"partition": _partition()}) if r["topic"] == "partition"]
    lat = [r for r in rows if r["quantity"].startswith("latency")]
    # one row per scenario for the one emotion CNN graph (the TF.js one): 3, not 6
    assert len(lat) == 3
    assert all("TF.js wasm graph" in r["quantity"] for r in lat)
    by = {r["scenario"]: r for r in lat}
    measured = by['as measured ("measured")']
    # mean of the TF.js graph's measured rows only: (4.5 + 5.5 + 6.5) / 3 = 5.5, max 6.5
    assert measured["this_run"] == "5.50× (6.50×)"
    assert measured["basis"].startswith("modelled")
    phone = by['what-if: device ×10, server ÷10 ("low-end phone (×10) + fast server")']
    assert phone["basis"].startswith("what-if") and phone["this_run"] == "1201.0× (1202.0×)"
    assert 'what-if: server ÷10 ("fast server")' in by
    # Neurosurgeon's 3.1× never stands beside any of them
    assert all(r["seed"] == "003" and r["seed_value"] == "" for r in rows)


def test_graph_per_network_prefers_tfjs_and_falls_back_to_keras():
    assert report.graph_per_network(_partition()["choices"]) == {"emotion_cnn": "emotion_cnn@tfjs"}
    assert report.graph_per_network(_partition(with_tfjs=False)["choices"]) == {"emotion_cnn": "emotion_cnn"}
    rows = [r for r in _rows({"partition": _partition(with_tfjs=False)}) if r["topic"] == "partition"]
    assert all("Keras graph (no TF.js profile in this run)" in r["quantity"] for r in rows)
    measured = next(r for r in rows if r["quantity"].startswith("latency") and "as measured" in r["scenario"])
    assert measured["this_run"] == "2.50× (3.50×)"


def test_before_tuning_sweep_value_never_beside_61_percent():
    for synthetic, preset in ((True, "smoke"), (False, "quick"), (False, "full")):
        rows = {r["quantity"]: r for r in _rows({"train": _train(synthetic, preset)})}
        before = rows["CNN validation accuracy, default config (before tuning)"]
        assert before["this_run"] == "25.0%" and before["seed_value"] == ""
        assert "not 25 epochs on the full training set" in before["like_for_like"]
        assert ("synthetic data" in before["like_for_like"]) == synthetic


def test_after_tuning_alike_only_on_fer2013_with_25_epochs():
    q = "CNN validation accuracy, tuned config (after tuning)"
    alike = {r["quantity"]: r for r in _rows({"train": _train(False, "full", epochs=25)})}[q]
    assert alike["like_for_like"] == "yes" and alike["seed_value"] == "63.39%" and alike["data"] == "FER-2013"
    short = {r["quantity"]: r for r in _rows({"train": _train(False, "quick", epochs=5)})}[q]
    assert short["seed_value"] == "" and "5 epoch(s), not 25" in short["like_for_like"]
    synth = {r["quantity"]: r for r in _rows({"train": _train(True, "full", epochs=25)})}[q]
    assert synth["seed_value"] == "" and "synthetic data" in synth["like_for_like"]


def test_cloud_ratio_per_equal_user_count_or_flagged():
    new = {"cloud_ratio": {"rows": [{"users": 1, "ratio": 9.5}, {"users": 2, "ratio": 8.0},
                                    {"users": 4, "ratio": None}], "min_ratio": 8.0, "min_at_users": 2}}
    cr = report.cloud_ratio(new)
    assert cr["like_for_like"] and cr["value"] == 8.0 and cr["per_users"] == {1: 9.5, 2: 8.0}
    old = {"answered_per_cpu_s": {"ours": 86.0, "seed": 6.1, "ratio": 14.1},
           "plan": {"users": [1, 2, 4, 6], "seed_users": [1, 2, 4]}}
    cr = report.cloud_ratio(old)
    assert not cr["like_for_like"] and "unequal user counts" in cr["differs"]
    head = {h["what"]: h for h in report.headline({"07_load": {**old, "synthetic": True}})}
    assert "not like for like" in head["cloud efficiency ratio (ours ÷ seed pipeline)"]["this run"]
    head = {h["what"]: h for h in report.headline({"07_load": {**new, "synthetic": True}})}
    assert head["cloud efficiency ratio (ours ÷ seed pipeline)"]["this run"].startswith("8.00× (lowest of 2")


def test_headline_rows_and_missing_parts():
    results = {"data": {"synthetic": True, "rows": 720}, "train": _train(), "partition": _partition(),
               "early_exit": {"synthetic": True, "edge_exit_fraction": 0.6, "overall_acc": 0.5,
                              "final_acc": 0.52, "threshold": 0.4},
               "07_load": {"synthetic": True, "hybrid_vs_cloud_cpu_ratio": 0.004, "hybrid_claim": {"ratio": 0.004},
                           "hybrid": [{"client_ms_per_frame": 12.0}, {"client_ms_per_frame": 14.5}]}}
    head = {h["what"]: h for h in report.headline(results, [{"part": "x", "reason": "r", "required": True}])}
    assert head["data"]["this run"] == "synthetic FER-format faces, 720 rows"
    assert head["emotion CNN vs baseline (test accuracy)"]["this run"] == \
        "CNN 54.0% vs logistic baseline 30.0% (+24.0 points)"
    assert head["hybrid vs cloud server CPU (per user-minute)"]["this run"] == \
        "0.40% of cloud's; client pays 12.0–14.5 ms CPU per frame"
    part = head["partition speed-up vs cloud-only, like for like"]
    assert part["this run"] == "emotion_cnn (TF.js graph) 5.50× mean, 6.50× max"  # measured only, TF.js only
    assert "never pooled" in part["basis"]
    # an early_exit.json without the converter (written before 06 had one): the branch's own threshold, said so
    assert head["early-exit share (test inputs answered at the edge branch; no converter in this result)"][
        "this run"].startswith("60.0%")
    assert head["parts that did not run"]["this run"] == "1 (1 required)"
    assert head["executed split"]["this run"] == "not measured"
    empty = report.headline({})
    assert len(empty) == 7 and all(h["this run"] in ("not recorded", "not measured") for h in empty)


def test_executed_split_rows_show_seed_only_where_alike():
    res = {"synthetic": True, "cases": 4, "hit_rate": 0.75, "median_regret": 0.0, "worst_regret": 0.31,
           "speedup_vs_cloud": {"mean": 2.0, "max": 4.0},
           "like_for_like": [
               {"seed": "003", "claim": "mean speed-up", "unit": "×", "ours": 2.65, "seed_value": 3.1, "cases": 2,
                "like_for_like": True, "conditions": "phone, 3g/wifi", "seed_conditions": "Jetson TK1"},
               {"seed": "001", "claim": "73% lower", "unit": "%", "ours": None, "seed_value": 73.0, "cases": 0,
                "like_for_like": False, "conditions": "phone, wifi, alexnet", "seed_conditions": "AlexNet"},
               {"seed": "001", "claim": "lower latency", "unit": "%", "ours": 12.0, "seed_value": 73.0, "cases": 1,
                "like_for_like": False, "conditions": "desktop", "seed_conditions": "AlexNet"}]}
    head = {h["what"]: h for h in report.headline({"09_split": res})}
    row = head["executed split: engine's cut vs the measured best"]["this run"]
    assert row.startswith("75.0% hits over 4 cases, worst regret 31.0%") and "2.00× mean" in row
    rows = report.comparisons({"09_split": res})
    assert [r.this_run for r in rows] == ["75.0% of 4 cases; 0.0% / 31.0%", "2.65×", "12%"]  # no row for None
    assert rows[1].seed_value == "3.1×" and rows[1].like_for_like == "yes" and "Jetson TK1" in rows[1].scenario
    assert rows[2].seed_value == "" and rows[2].like_for_like.startswith("no — ")
    seeds = head["executed split vs the seeds, like for like (device class, links, model)"]
    assert "003 mean speed-up: 2.65× over 2 case(s) (phone, 3g/wifi; seed 3.1×)" in seeds["this run"]
    assert "001 73% lower: no case like the seed's (phone, wifi, alexnet)" in seeds["this run"]
    assert "73.0%" not in seeds["this run"]  # no seed number beside a case that is not the seed's


def test_executed_split_rows_name_what_still_differs():
    res = {"cases": 1, "hit_rate": 1.0, "median_regret": 0.0, "worst_regret": 0.0,
           "like_for_like": [{"seed": "001", "claim": "CollabDNN", "short": "max % less than best single",
                              "unit": "%", "ours": 37.2, "seed_value": 73.0, "cases": 1, "like_for_like": True,
                              "conditions": "phone, wifi, alexnet", "seed_conditions": "AlexNet, Wi-Fi",
                              "differs": ["001's latencies are modelled", "001 compresses shipped tensors losslessly"]}]}
    (row,) = [r for r in report.comparisons({"09_split": res}) if r.seed == "001"]
    assert row.this_run == "37%" and row.seed_value == "73.0%" and row.like_for_like == "yes"
    assert "still differs: 001's latencies are modelled; 001 compresses" in row.scenario
    head = {h["what"]: h for h in report.headline({"09_split": res})}
    seeds = head["executed split vs the seeds, like for like (device class, links, model)"]
    assert seeds["this run"] == ("001 max % less than best single: 37% over 1 case(s) (phone, wifi, alexnet; "
                                 "seed 73.0%)")
    assert "still differs: 001's latencies are modelled" in seeds["basis"]


def test_relativize_paths(tmp_path):
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    outside = tmp_path / "fer2013.csv"
    outside.write_text("x")
    obj = {"a": str(root / "data" / "x.csv"), "b": [str(outside)], "c": "/split", "d": "text / with slash"}
    assert report.relativize(obj, root) == {"a": "data/x.csv", "b": ["…/fer2013.csv"], "c": "/split",
                                            "d": "text / with slash"}


def test_summary_opens_with_headline_and_names_no_machine_path(tmp_path):
    root = tmp_path / "repo"
    ctx = config.context("smoke", root=root)
    ctx.save_result("data", {"rows": 720, "source": str(root / "data" / "synthetic" / "s.csv")})
    ctx.save_result("train", _train())
    ctx.save_result("partition", _partition())
    ctx.skip("browser profile", "chromium crashed", required=False)
    res = PipelineResult("smoke", str(ctx.reports_dir), None,
                         [NotebookRun("00_data", "ok", 1.0, str(ctx.reports_dir / "00_data.ipynb"))],
                         skipped=config.read_skipped(ctx.results_dir))
    jpath, mpath = report.write_summary(ctx, res)
    md = mpath.read_text()
    assert str(tmp_path) not in md and str(tmp_path) not in jpath.read_text()
    assert "| source | data/synthetic/s.csv |" in md
    order = [md.index(h) for h in ("## Headline", "## Comparisons, like for like", "## What the seeds report",
                                   "## Notebooks", "## Parts that did not run", "## train")]
    assert order == sorted(order)
    assert "| browser profile | 00_data | no | skipped: chromium crashed |" not in md  # notebook unknown here
    assert "| browser profile | ? | no | skipped: chromium crashed |" in md
    summary = json.loads(jpath.read_text())
    assert summary["pipeline"]["runs"][0]["output"] == "reports/smoke/00_data.ipynb"
    assert [h["what"] for h in summary["headline"]][:2] == ["data", "emotion CNN vs baseline (test accuracy)"]
    assert summary["skipped"][0]["status"] == "skipped: chromium crashed"


def test_seed_comparison_empty():
    t = report.seed_comparison({})
    assert len(t) == 0 and "like_for_like" in t.columns
    assert len(report.seed_claims()) == len(report.SEED_CLAIMS) >= 10


@pytest.mark.parametrize("s, label", [({"device_slowdown": 10, "load": 0.1}, "device ×10, server ÷10"),
                                      ({"device_slowdown": 1, "load": 0.1}, "server ÷10"),
                                      ({"device_slowdown": 1, "load": 1}, "as measured")])
def test_scenario_label(s, label):
    assert report.scenario_label(s) == label


def test_small_shares_are_not_rounded_to_zero():
    assert report.fmt_pct(0.00004, 2) == "0.004%"
    assert report.fmt_pct(0.0, 2) == "0.00%" and report.fmt_pct(0.5) == "50.0%" and report.fmt_pct(None) == "n/a"


# --------------------------------------------------------------------------- 06's converter, executed exit, Edgent


def _converter_result(synthetic: bool = True, executed: bool = True, video: bool = True,
                      bytes_per_input: float = 256.3) -> dict:
    """06's early_exit.json with the converter, the executed exit and Edgent; test and validation
    figures differ so a swap shows."""
    sav = {"crop raw": 2304 / bytes_per_input if bytes_per_input else None,
           "crop PNG": 1874 / bytes_per_input if bytes_per_input else None,
           "crop JPEG q90": 1251 / bytes_per_input if bytes_per_input else None}
    alts = {"crop raw": 2304.0, "crop PNG": 1874.0, "crop JPEG q90": 1251.0}
    vid = None
    if video:
        vid = {"bytes_per_frame": 5640.0, "fps": 10.0, "frame_size": [320, 240], "source": "measured in 06"}
        alts["cloud video / frame"] = 5640.0
        sav["cloud video / frame"] = 5640.0 / bytes_per_input if bytes_per_input else None
    cv = {"operating_point": {"threshold": 0.025, "exit_fraction": 0.191, "overall_acc": 0.723,
                              "bytes_per_input": bytes_per_input, "bytes_shipped": 316.7, "channels": 8.0,
                              "codec": "zlib", "split": "test"},
          "operating_point_val": {"threshold": 0.025, "exit_fraction": 0.201, "overall_acc": 0.729,
                                  "channels": 8, "codec": "zlib", "split": "val"},
          "reference_acc_val": 0.739, "reference_acc_test": 0.710, "budget": 0.01, "max_exit": 0.95,
          "branch_alone_within_budget_val": False, "alternatives_bytes": alts, "savings": sav, "video": vid,
          "executed": None}
    if executed:
        cv["executed"] = {
            "channels": 8, "device": "phone", "networks": ["3g", "lte"], "edgent_cost_model": "wasm profile",
            "edgent_sample": [{"deadline_ms": 50}, {"deadline_ms": 200}, {"deadline_ms": 50}],
            "edgent_by_cost_model": {
                "tf×throttle": {"plans": 8, "executed": 4, "infeasible": 1, "hit_rate": 0.75,
                                "pred_over_meas_median": 0.25},
                "wasm profile": {"plans": 8, "executed": 5, "infeasible": 0, "hit_rate": 1.0,
                                 "pred_over_meas_median": 1.04}},
            "exit_page": {"threshold": 0.025, "codec": "uint8+zlib", "summary": [
                {"device": "phone", "network": "3g", "n": 24, "exit_fraction": 0.25, "bytes_per_input": 240.4,
                 "accuracy": 0.75},
                {"device": "phone", "network": "lte", "n": 24, "exit_fraction": 0.25, "bytes_per_input": 240.4}],
                "vs_keras": {"n": 24, "decision_agreement": 1.0, "branch_probs_max_abs": 4.5e-8,
                             "code_max_abs": 3.9e-7}}}
    return {"synthetic": synthetic, "branch_at": "pool3", "edge_exit_fraction": 0.631, "overall_acc": 0.688,
            "final_acc": 0.710, "threshold": 0.475, "converter": cv}


def test_converter_operating_point_rows_test_and_validation():
    rows = [r for r in report.comparisons({"early_exit": _converter_result()}) if r.topic == "early exit (converter)"]
    op, bpi, crop, video = rows
    assert op.this_run == ("C = 8 (uint8 + zlib), T = 0.025: 19.1% exit at the edge, +1.3 points (72.3% vs 71.0%) "
                           "on test; validation 20.1% exit, -1.0 points")
    assert "chosen on validation" in op.scenario and "at most 95% exiting" in op.scenario
    assert "sits at the cap" not in op.scenario  # 20.1% is far from the cap
    assert bpi.this_run == "256 B/input (317 B per shipped input)" and bpi.seed == ""
    assert crop.this_run == "8.99× vs raw (2304 B), 7.31× vs PNG (1874 B), 4.88× vs JPEG q90 (1251 B)"
    assert video.this_run == "22.0× (5640 B/frame vs 256 B/input)"
    assert "320×240" in video.scenario and "measured in 06" in video.scenario
    for r in rows:
        assert r.data == "synthetic" and r.basis.startswith("measured") and r.scenario
    # 004's numbers never stand beside ours: its models, data and phone differ, and the row says which
    seeded = [r for r in rows if r.seed]
    assert [r.seed for r in seeded] == ["004", "004", "004"]
    for r in seeded:
        assert r.seed_value == "" and r.like_for_like.startswith("no — synthetic data; 004: ResNet/MobileNet")
    assert "correctly classified" in op.like_for_like and "48×48 face crop" in crop.like_for_like
    assert "not a video stream" in video.like_for_like


def test_converter_rows_on_fer2013_still_not_like_004():
    rows = [r for r in report.comparisons({"early_exit": _converter_result(synthetic=False)}) if r.seed == "004"]
    assert rows and all(r.data == "FER-2013" and r.seed_value == "" for r in rows)
    assert all("synthetic" not in r.like_for_like and "Mate10 Pro" in r.like_for_like for r in rows)


def test_converter_exit_share_at_the_cap_is_said():
    res = _converter_result()
    res["converter"]["operating_point_val"]["exit_fraction"] = 0.95
    res["converter"]["branch_alone_within_budget_val"] = True
    (op,) = [r for r in report.comparisons({"early_exit": res}) if r.quantity.startswith("operating point")]
    assert "the branch alone was within the budget" in op.scenario
    assert "sits at the cap: 95% is 004's figure, set by the rule, not found" in op.scenario


def test_converter_nothing_shipped_gives_no_ratio():
    res = _converter_result(bytes_per_input=0.0, executed=False)
    res["converter"]["operating_point"]["bytes_shipped"] = None
    rows = {r.quantity: r for r in report.comparisons({"early_exit": res})}
    assert rows["uplink bytes per input at the operating point (exited inputs send nothing)"].this_run == \
        "0 B/input (none shipped)"
    assert rows["uplink saving vs shipping the 48×48 crop (raw / PNG / JPEG q90)"].this_run.startswith(
        "nothing shipped")
    assert rows["uplink saving vs the cloud mode's video bytes per frame"].this_run.startswith("nothing shipped")


def test_exit_executed_in_page_and_keras_decisions():
    res = _converter_result()
    rows = [r for r in report.comparisons({"early_exit": res}) if r.topic == "early exit executed"]
    assert [r.this_run for r in rows[:2]] == ["25% answered in the page, 240 B/input, accuracy 75.0%",
                                              "25% answered in the page, 240 B/input"]
    assert "3g link, 24 test faces, T = 0.025, C = 8, uint8+zlib" in rows[0].scenario
    assert rows[2].this_run.startswith("yes: 100% of 24 agree")
    res["converter"]["executed"]["exit_page"]["vs_keras"]["decision_agreement"] = 23 / 24
    rows = [r for r in report.comparisons({"early_exit": res}) if r.topic == "early exit executed"]
    assert rows[2].this_run.startswith("NO: 96% of 24 agree")
    assert all(r.basis.startswith("measured") and r.data == "synthetic" for r in rows)


def test_edgent_executed_rows_per_cost_model():
    rows = [r for r in report.comparisons({"early_exit": _converter_result()}) if r.topic == "Edgent executed"]
    assert [r.this_run for r in rows] == [
        "3 of 4 met (75%); predicted ÷ measured 0.25; 1 of 8 plans infeasible",
        "5 of 5 met (100%); predicted ÷ measured 1.04; 0 of 8 plans infeasible"]
    assert rows[0].scenario == "phone class, 3g/lte, deadlines 50/200 ms; worst-case latency checked"
    assert rows[1].scenario.endswith("the cost model of 06's table")
    assert rows[0].basis == "measured (executed in Chromium) vs modelled (tf×throttle)"


def test_missing_inputs_become_skips_not_rows():
    parts = ["08 converter operating point", "08 early exit executed in the page", "08 Edgent executed"]
    assert [p for p, _ in report.missing_parts({})] == parts
    assert "06_early_exit did not run" in report.missing_parts({})[0][1]
    old = {"synthetic": True, "edge_exit_fraction": 0.6}  # an early_exit.json from before 06 had the converter
    assert [p for p, _ in report.missing_parts({"early_exit": old})] == parts
    # the branch-alone row stays; no converter, in-page or Edgent row is invented
    assert [r.topic for r in report.comparisons({"early_exit": old})] == ["early exit"]
    assert report.missing_parts({"early_exit": _converter_result()}) == []
    no_exec = report.missing_parts({"early_exit": _converter_result(executed=False, video=False)})
    assert [p for p, _ in no_exec] == ["08 converter vs cloud video bytes"] + parts[1:]
    rows = report.comparisons({"early_exit": _converter_result(executed=False, video=False)})
    assert not [r for r in rows if r.topic in ("early exit executed", "Edgent executed") or "video" in r.quantity]
    partial = _converter_result()
    del partial["converter"]["executed"]["exit_page"]
    assert [p for p, _ in report.missing_parts({"early_exit": partial})] == ["08 early exit executed in the page"]


def test_missing_06_recorded_as_skip_in_summary(tmp_path):
    ctx = config.context("smoke", root=tmp_path / "repo")
    for part, reason in report.missing_parts({}):  # what 08 does
        ctx.skip(part, reason, required=False)
    res = PipelineResult("smoke", str(ctx.reports_dir), None, [], skipped=config.read_skipped(ctx.results_dir))
    md = report.write_summary(ctx, res)[1].read_text()
    assert ("| 08 converter operating point | ? | no | skipped: results/early_exit.json missing: 06_early_exit "
            "did not run |") in md
    assert "| early-exit share | not measured | 06_early_exit did not run |" in md


def test_headline_early_exit_is_the_converter_operating_point():
    head = {h["what"]: h for h in report.headline({"early_exit": _converter_result()})}
    row = head["early-exit share at the converter operating point (test inputs answered at the edge)"]
    assert row["this run"] == ("19.1% at C = 8, T = 0.025; accuracy +1.3 points vs the no-exit model (validation "
                               "-1.0 points); 256 B/input, 8.99× less than the raw 48×48 crop, 22.0× less than "
                               "cloud mode's video per frame; in the page (phone): 3g 25% of 24, lte 25% of 24")
    assert "63.1%" not in row["this run"]  # the branch-alone threshold is not the headline any more
    assert "not like for like" in row["basis"] and "synthetic" in row["basis"]


def test_load_saturation_at_the_most_users_tried_is_a_lower_bound():
    ld = {"synthetic": True, "cpu_count": 2, "plan": {"users": [1, 3, 6], "seed_users": [1, 3, 6],
                                                      "size": [640, 480], "fps": 15},
          "saturation_users": {"ours": 6, "seed": 3}}
    rows = [r.this_run for r in report.comparisons({"07_load": ld}) if r.quantity.startswith("cloud mode users")]
    assert rows == ["≥6 (the most users tried)", "3 (next count tried: 6)"]  # ours, then the seed pipeline


def test_split_rows_name_pooled_models_and_a_slower_joint_plan():
    res = {"synthetic": True, "cases": 3, "hit_rate": 1.0, "median_regret": 0.0, "worst_regret": 0.0,
           "like_for_like": [
               {"seed": "003", "claim": "mean", "short": "mean × vs cloud-only", "unit": "×", "ours": 2.3,
                "seed_value": 3.1, "cases": 3, "like_for_like": True, "conditions": "phone, 3g/lte/wifi",
                "seed_conditions": "Jetson", "matched": ["emotion_cnn phone 3g idle: x", "alexnet phone wifi idle: y"]},
               {"seed": "001", "claim": "CollabDNN", "short": "max % less than best single", "unit": "%",
                "ours": -12.0, "seed_value": 73.0, "cases": 1, "like_for_like": True,
                "conditions": "phone, wifi, alexnet", "seed_conditions": "AlexNet",
                "matched": ["alexnet phone wifi idle: pool1"]}]}
    rows = [r for r in report.comparisons({"09_split": res}) if r.seed]
    assert "(models: alexnet, emotion_cnn)" in rows[0].scenario
    assert "models:" not in rows[1].scenario  # already named by the conditions
    assert rows[1].this_run == "-12% (slower than the best single platform)"


def test_recorded_scale_out_rows_name_their_file(tmp_path):
    assert report.recorded_rows(tmp_path) == []  # no docs/measurements: no row
    d = tmp_path / "docs" / "measurements"
    d.mkdir(parents=True)
    (d / "bench_ray_2026-01-01.json").write_text(json.dumps({
        "command": "benchmarks/bench_ray.py --users 1,2 --out /tmp/x/bench_ray.json", "cpus": 2, "note": "box B",
        "inprocess": [{"width": 640, "height": 480, "fps": 15}],
        "ratio": {"rows": [{"users": 1, "ratio": 0.475, "ray_answered_per_cpu_s": 36.0,
                            "inprocess_answered_per_cpu_s": 75.8},
                           {"users": 2, "ratio": 0.551, "ray_answered_per_cpu_s": 45.5,
                            "inprocess_answered_per_cpu_s": 82.6}]}}))
    (d / "bench_ray_broken.json").write_text("{not json")
    (d / "demo_ray_cluster_2026-01-01.json").write_text(json.dumps({
        "command": "benchmarks/demo_ray_cluster.py", "note": "2 raylets",
        "metrics": {"backend": "ray-media", "max_sessions": 2, "workers": [{"node": "a"}, {"node": "b"}]},
        "users": [{"admitted": True, "answered": 59, "frames_sent": 60},
                  {"admitted": True, "answered": 58, "frames_sent": 60},
                  {"admitted": False, "answered": 0, "frames_sent": 0}]}))
    bench, demo = report.recorded_rows(tmp_path)
    assert bench.this_run == "0.475× at 1 user, 0.551× at 2 users (ray 36 / 45.5 vs in-process 75.8 / 82.6)"
    assert bench.source == "docs/measurements/bench_ray_2026-01-01.json" and "not this run: box B" in bench.scenario
    assert bench.basis.startswith("measured (recorded file, not this run)") and "/tmp/x" not in bench.basis
    assert "…/bench_ray.json" in bench.basis
    assert demo.this_run == ("2 of 3 users admitted over 2 workers on 2 node(s), 1 refused (max_sessions 2); "
                             "117 of 120 frames answered")
    rows = report.comparisons({}, root=tmp_path)
    assert [r.topic for r in rows] == ["scale-out (recorded)"] * 2 and report.comparisons({}) == []


def test_fleet_and_choice_rows_never_put_a_seed_number_beside_other_conditions():
    """10's throughput ratio and 11's hit rates reach the report with their intervals, and 003's
    numbers sit beside ours only when the run was like the seed's (never here: one 2-core box)."""
    from hybridlib.study.report import fleet

    fl = {"synthetic": True, "throughput": {"ratio": {"qps_ratio": 4.0, "lower_bound": True},
                                            "served": {"load-aware": {"users": 16}, "cloud-only": {"users": 4}},
                                            "slo": "p95 ≤ 250 ms", "settings": {"users": [4, 16]}},
          "adaptation": {"latency": [{"policy": "load-aware", "mean_ms": 224.0, "p95_ms": 778.0}],
                         "reactions": [{"react_s": 0.2}], "phases": [{"link": "wifi"}, {"link": "3g", "load": True}]},
          "differences": ["one 2-core box plays the server and every phone"]}
    rows = fleet.fleet_rows(fl)
    assert len(rows) == 2 and "4.00×" in rows[0].this_run and "lower bound" in rows[0].this_run
    assert all(r.seed_value == "" and r.like_for_like.startswith("no") for r in rows)
    ch = {"synthetic": True, "n_cases": 11, "networks": ["dig", "asr"], "discriminating_rule": "interior best",
          "engines": {"uncalibrated": {"overall": {"n": 11, "hits": 9, "hit_rate": 9 / 11, "hit_ci": [0.52, 0.95],
                                                   "median_regret": 0.0, "worst_regret": 1.77},
                                       "discriminating": {"n": 1, "hits": 0, "hit_rate": 0.0, "hit_ci": [0.0, 0.79]}}},
          "headline_003": [{"networks": "DIG", "cases": 2, "ours_mean": 28.8, "ours_max": 49.5, "seed_value": 3.1,
                            "seed_quote": "003: 3.1×", "like_for_like": False, "differs": ["models"]}],
          "headline_engine": "uncalibrated"}
    rows = fleet.choice_rows(ch)
    assert [r.quantity.split(": ")[-1] for r in rows[:2]] == ["cut within 10% of the measured best (overall)",
                                                              "cut within 10% of the measured best (discriminating)"]
    assert "9/11" in rows[0].this_run and "[52.0%, 95.0%]" in rows[0].this_run
    assert rows[2].seed_value == "" and rows[2].like_for_like.startswith("no")
    ch["headline_003"][0].update(device="lowend", links="lte, wifi", vs_device_mean=0.8, vs_device_max=1.0)
    row = fleet.choice_rows(ch)[2]  # the pick over both ends, per device class
    assert "(lowend class, lte, wifi)" in row.quantity and "over device-only 0.80× mean, 1.00× max" in row.this_run
    from hybridlib.study.report.core import Headline
    out = Headline()
    fleet.add_headline({"fleet": fl, "choice": ch}, out)
    assert len(list(out)) == 2


def test_headline_accuracies_and_split_hits_carry_wilson_intervals():
    tr = _train()
    tr["cnn"]["confusion"] = [[27, 23], [23, 27]]  # 100 test faces; 54 right at 0.54
    sp = {"synthetic": True, "hit_rate": 0.75, "hits": 3, "cases": 4, "worst_regret": 0.1}
    head = {h["what"]: h for h in report.headline({"train": tr, "09_split": sp})}
    cnn = head["emotion CNN vs baseline (test accuracy)"]["this run"]
    # Wilson 95% on 54/100 and 30/100 (values from the closed form, rounded to 0.1 point)
    assert cnn == "CNN 54.0% [44.3, 63.4] (n=100) vs logistic baseline 30.0% [21.9, 39.6] (n=100) (+24.0 points)"
    split = head["executed split: engine's cut vs the measured best"]["this run"]
    assert split.startswith("3/4 hits = 75.0% [30.1, 95.4] (n=4) (Wilson 95%), worst regret 10.0%")
    # a result without the confusion matrix (older runs): the accuracy alone, never a made-up interval
    head = {h["what"]: h for h in report.headline({"train": _train()})}
    assert "[" not in head["emotion CNN vs baseline (test accuracy)"]["this run"]
