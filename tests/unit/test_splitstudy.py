"""Predicted vs executed splits: the engine's per-cut prediction and the analysis over records."""
from __future__ import annotations

import math

import pandas as pd
import pytest

from hybridlib import partition
from hybridlib.study.split import analysis as ss
from hybridlib.study.split import predict as sp
from hybridlib.utils import InputError

# 1 Mbit/s both ways, no RTT: 1000 bytes = 8 ms each way
NET = partition.Network(uplink_mbps=1.0, downlink_mbps=1.0, rtt_ms=0.0, name="flat")


def chain():
    return partition.Graph.from_dict({
        "nodes": [{"id": "input", "device_ms": 0, "cloud_ms": 0, "out_bytes": 1000, "device_mj": 0},
                  {"id": "a", "device_ms": 5, "cloud_ms": 1, "out_bytes": 250, "device_mj": 10},
                  {"id": "b", "device_ms": 20, "cloud_ms": 2, "out_bytes": 100, "device_mj": 40},
                  {"id": "out", "device_ms": 1, "cloud_ms": 0.5, "out_bytes": 4, "device_mj": 2}],
        "edges": [["input", "a"], ["a", "b"], ["b", "out"]], "input": "input", "output": "out", "name": "chain"})


def dag():
    return partition.Graph.from_dict({
        "nodes": [{"id": i, "device_ms": 1, "cloud_ms": 1, "out_bytes": 8, "device_mj": 0}
                  for i in ("input", "a", "b1", "b2", "cat", "out")],
        "edges": [["input", "a"], ["a", "b1"], ["a", "b2"], ["b1", "cat"], ["b2", "cat"], ["cat", "out"]],
        "input": "input", "output": "out", "name": "dag"})


def test_predict_cuts_pieces_by_hand():
    df = sp.predict_cuts(chain(), NET).set_index("cut")
    # cloud-only: up 1000 B = 8 ms, cloud 1+2+0.5, down 4 B = 0.032 ms
    assert df.loc["input", ["device_ms", "upload_ms", "cloud_ms"]].tolist() == pytest.approx([0, 8, 3.5])
    assert df.loc["input", "download_ms"] == pytest.approx(0.032)
    # cut after a: device 5, up 250 B = 2 ms, cloud 2.5, down 0.032 → 9.532 (the optimum)
    assert df.loc["a", "total_ms"] == pytest.approx(9.532)
    assert df.loc["b", "total_ms"] == pytest.approx(25 + 0.8 + 0.5 + 0.032)
    assert df.loc["out", ["device_ms", "upload_ms", "download_ms"]].tolist() == pytest.approx([26, 0, 0])
    assert df["chosen"].tolist() == [False, True, False, False] and df.attrs["chosen"] == "a"
    assert df["kind"].tolist() == ["cloud-only", "split", "split", "device-only"]
    assert (df["total_ms"] == df[list(sp.PIECES)].sum(axis=1)).all()
    # a loaded server (×10 cloud compute: a 32, b 30.8, out 26 ms) pushes the choice to device-only
    loaded = sp.predict_cuts(chain(), NET, load=10.0)
    assert loaded.attrs["chosen"] == "out"
    assert loaded.set_index("cut").loc["input", "cloud_ms"] == pytest.approx(35.0)


def test_cut_points_and_placement_on_a_dag():
    assert sp.cut_points(dag()) == ["input", "a", "cat", "out"]
    assert sp.cut_placement(dag(), "a") == {"input": "device", "a": "device", "b1": "cloud", "b2": "cloud",
                                             "cat": "cloud", "out": "cloud"}
    with pytest.raises(InputError, match="b1.*not a single-tensor cut"):
        sp.cut_placement(dag(), "b1")
    with pytest.raises(InputError, match="'zz' is not a layer"):
        sp.cut_placement(dag(), "zz")
    assert sp.predict_cuts(dag(), NET)["cut"].tolist() == ["input", "a", "cat", "out"]


def test_wire_graph_dtype_changes_shipped_bytes():
    g = sp.wire_graph(chain(), "float16", input_dtype="uint8")
    n = {x.id: x for x in g.nodes}
    assert n["a"].wire_bytes == 125 and n["input"].wire_bytes == 250 and n["a"].out_bytes == 250
    df = sp.predict_cuts(g, NET).set_index("cut")
    assert df.loc["a", "up_bytes"] == 125 and df.loc["a", "upload_ms"] == pytest.approx(1.0)
    with pytest.raises(InputError, match="wire dtype"):
        sp.wire_graph(chain(), "int4")


def _records(case, totals, device="phone", model="m"):
    """Hand-built executed rows: ``totals`` maps cut → list of total ms (one per rep)."""
    rows = []
    for cut, ts in totals.items():
        for rep, t in enumerate(ts):
            rows.append({"model": model, "cut": cut, "device": device, "network": case, "load": "idle",
                         "shaper": "devtools", "backend": "wasm", "rep": rep, "head_ms": t * 0.5,
                         "encode_ms": 0.1, "upload_ms": t * 0.2, "tail_ms": t * 0.1, "download_ms": 0.2,
                         "decode_ms": 0.05, "total_ms": t, "up_bytes": 100, "down_bytes": 40})
    return rows


def _pred(case, totals, chosen, device="phone", model="m"):
    kinds = {"input": "cloud-only", "out": "device-only"}
    return pd.DataFrame([{"model": model, "device": device, "network": case, "load": "idle", "cut": c,
                          "kind": kinds.get(c, "split"), "total_ms": t, "device_ms": t, "upload_ms": 0.0,
                          "cloud_ms": 0.0, "download_ms": 0.0, "engine_choice": chosen}
                         for c, t in totals.items()])


def test_compare_hit_regret_speedups_on_hand_records():
    # case wifi: engine picks a (measured 105, median of 100/105/900), best is b (100): 5% → hit
    # case 3g: engine picks input (measured 130), best is out (100): 30% → miss
    rec = pd.DataFrame(_records("wifi", {"input": [400, 400, 400], "a": [100, 105, 900], "b": [100, 100, 100],
                                         "out": [250, 250, 250]})
                       + _records("3g", {"input": [130, 130, 130], "a": [200] * 3, "out": [100] * 3}))
    pred = pd.concat([_pred("wifi", {"input": 300, "a": 90, "b": 95, "out": 260}, "a"),
                      _pred("3g", {"input": 80, "a": 150, "out": 110}, "input")])
    comp = ss.compare(pred, rec).set_index("network")
    w, g = comp.loc["wifi"], comp.loc["3g"]
    assert w["chosen"] == "a" and w["best"] == "b" and w["measured_chosen_ms"] == 105
    assert w["hit"] and w["regret"] == pytest.approx(0.05)
    assert w["speedup_vs_cloud"] == pytest.approx(400 / 105) and w["speedup_vs_device"] == pytest.approx(250 / 105)
    assert w["best_speedup_vs_cloud"] == pytest.approx(4.0)
    assert w["pred_error"] == pytest.approx(90 / 105 - 1)
    assert w["reduction_vs_best_single_pct"] == pytest.approx((1 - 105 / 250) * 100)
    assert not g["hit"] and g["regret"] == pytest.approx(0.3) and g["chosen_kind"] == "cloud-only"
    assert g["best_kind"] == "device-only" and g["speedup_vs_cloud"] == pytest.approx(1.0)
    s = ss.summarize(comp.reset_index())
    assert s["cases"] == 2 and s["hit_rate"] == 0.5 and s["worst_regret"] == pytest.approx(0.3)
    assert s["median_regret"] == pytest.approx(0.175) and s["worst_case"]["network"] == "3g"
    assert [c["network"] for c in s["intermediate_chosen"]] == ["wifi"]
    assert [c["network"] for c in s["intermediate_best"]] == ["wifi"]
    assert s["speedup_vs_cloud"]["max"] == pytest.approx(400 / 105)
    neuro_mean = next(c for c in s["like_for_like"] if c["seed"] == "003" and c["seed_value"] == 3.1)
    assert neuro_mean["ours"] == pytest.approx((400 / 105 + 1.0) / 2) and neuro_mean["cases"] == 2
    collab = next(c for c in s["like_for_like"] if c["seed"] == "001")
    assert collab["ours"] is None and not collab["like_for_like"]  # model m is not AlexNet
    neuro_max = next(c for c in s["like_for_like"] if c["seed"] == "003" and c["seed_value"] == 40.7)
    assert neuro_max["ours"] == pytest.approx(400 / 105) and len(s["like_for_like"]) == 3


def test_executed_regret_of_an_outside_choice():
    """A cut chosen elsewhere (on predicted costs) is scored on the executed medians; a cut
    that was not executed, or a case that was not, is said so, never guessed."""
    rec = pd.DataFrame(_records("wifi", {"input": [400, 400, 400], "a": [100, 105, 900], "b": [100, 100, 100]}))
    m = ss.measured_cuts(rec)
    case = tuple(rec.iloc[0][list(sp.CASE)])
    r = ss.executed_regret(m, {case: "a"}).iloc[0]
    assert r["executed"] and r["best"] == "b" and r["regret"] == pytest.approx(0.05) and r["hit"]
    r = ss.executed_regret(m, {case: "input"}).iloc[0]
    assert r["regret"] == pytest.approx(3.0) and not r["hit"]
    r = ss.executed_regret(m, {case: "never-run"}).iloc[0]
    assert not r["executed"] and math.isnan(r["regret"]) and not r["hit"]
    assert ss.executed_regret(m, {}).empty
    with pytest.raises(InputError, match="not executed"):
        ss.executed_regret(m, {(case[0], case[1], "3g", case[3]): "a"})


def test_like_for_like_excludes_other_device_classes():
    rec = pd.DataFrame(_records("wifi", {"input": [300] * 3, "a": [100] * 3, "out": [200] * 3},
                                device="desktop", model="alexnet"))
    comp = ss.compare(_pred("wifi", {"input": 300, "a": 100, "out": 200}, "a", device="desktop",
                            model="alexnet"), rec)
    s = ss.summarize(comp)
    assert all(c["ours"] is None for c in s["like_for_like"])
    rec_p = rec.assign(device="phone")
    comp_p = ss.compare(_pred("wifi", {"input": 300, "a": 100, "out": 200}, "a", model="alexnet"), rec_p)
    collab = next(c for c in ss.summarize(comp_p)["like_for_like"] if c["seed"] == "001")
    assert collab["ours"] == pytest.approx(50.0)  # 100 vs best single 200


def test_collab_like_for_like_needs_both_end_cuts_and_names_what_differs():
    """001 compares with the *better* single platform: both end cuts must be executed; where
    they are, the entry names the matched case and what still differs (its wire included)."""
    pred = _pred("wifi", {"input": 300, "a": 100, "out": 200}, "a", model="alexnet")
    both = ss.compare(pred, pd.DataFrame(_records("wifi", {"input": [300] * 3, "a": [100] * 3, "out": [450] * 3},
                                                  model="alexnet")))
    collab = next(c for c in ss.summarize(both)["like_for_like"] if c["seed"] == "001")
    assert collab["ours"] == pytest.approx(100 * (1 - 100 / 300)) and collab["like_for_like"]  # best single = cloud
    assert collab["matched"] == ["alexnet phone wifi idle: a (100 ms vs device-only 450, cloud-only 300)"]
    assert any("modelled" in d for d in collab["differs"])
    assert any("losslessly" in d and "codec none" in d for d in collab["differs"])
    zl = next(c for c in ss.summarize(both, wire={"dtype": "uint8", "codec": "zlib"})["like_for_like"]
              if c["seed"] == "001")
    assert not any("losslessly" in d for d in zl["differs"]) and zl["ours"] == collab["ours"]
    neuro = next(c for c in ss.summarize(both)["like_for_like"] if c["seed"] == "003")
    assert not any("losslessly" in d for d in neuro["differs"])  # 003 says nothing about compression
    # device-only not executed: no "best single platform" to compare with, so no 001 number
    no_dev = ss.compare(pred, pd.DataFrame(_records("wifi", {"input": [300] * 3, "a": [100] * 3}, model="alexnet")))
    assert math.isnan(no_dev["reduction_vs_best_single_pct"].iloc[0])
    collab = next(c for c in ss.summarize(no_dev)["like_for_like"] if c["seed"] == "001")
    assert collab["ours"] is None and not collab["like_for_like"] and collab["differs"] == []


def test_quick_preset_runs_alexnet_in_001s_case():
    from hybridlib import config

    q = config.get_preset("quick")
    alex = [c for c in q.split_cases if c[0] == "alexnet"]
    assert alex and "wifi" in alex[0][2] and "phone" in alex[0][3] and alex[0][1] >= 3  # both ends + a choice
    assert dict(q.split_profile_repeats)["alexnet"] >= 3


def test_compare_falls_back_when_choice_not_executed():
    rec = pd.DataFrame(_records("lte", {"input": [300] * 3, "out": [200] * 3}))
    comp = ss.compare(_pred("lte", {"input": 250, "a": 100, "out": 260}, "a"), rec)
    r = comp.iloc[0]
    assert not r["chosen_executed"] and r["engine_choice"] == "a" and r["chosen"] == "input"
    assert not r["hit"] and r["regret"] == pytest.approx(0.5)
    assert ss.summarize(comp)["chosen_not_executed"] == 1


def test_measured_pieces_and_bad_records():
    rec = pd.DataFrame(_records("wifi", {"a": [100, 100, 100]}))
    m = ss.measured_cuts(rec).iloc[0]
    assert m["device_ms"] == 50 and m["upload_ms"] == pytest.approx(20.1) and m["cloud_ms"] == 10
    assert m["download_ms"] == pytest.approx(0.25) and m["other_ms"] == pytest.approx(100 - 80.35)
    assert m["reps"] == 3
    with pytest.raises(InputError, match="tail_ms"):
        ss.measured_cuts(rec.drop(columns=["tail_ms"]))
    with pytest.raises(InputError, match="no prediction"):
        ss.compare(_pred("3g", {"a": 1}, "a"), rec)


def test_disagreements_name_the_piece():
    rec = pd.DataFrame(_records("wifi", {"input": [100] * 3, "a": [100] * 3}))
    pred = _pred("wifi", {"input": 100.0, "a": 100.0}, "a")
    pred.loc[pred.cut == "a", ["device_ms", "upload_ms", "cloud_ms", "download_ms"]] = [50, 60, 10, 0.25]
    pred.loc[pred.cut == "a", "total_ms"] = 120.25
    d = ss.disagreements(pred, rec)
    assert d.iloc[0]["cut"] == "a" and d.iloc[0]["worst_piece"] == "upload_ms"
    assert d.iloc[0]["total_error"] == pytest.approx(0.2025)
    assert math.isclose(d.iloc[0]["upload_ms_gap"], 60 - 20.1)


def test_select_cuts_keeps_ends_and_choices():
    g = partition.chain_graph([{"id": f"l{i}", "device_ms": 1, "cloud_ms": 1, "out_bytes": 4} for i in range(10)])
    ids = g.ids
    sel = sp.select_cuts(g, 4, must=[ids[7]])
    assert sel[0] == g.input and sel[-1] == g.output and ids[7] in sel and len(sel) == 4
    assert sel == [c for c in ids if c in sel]  # graph order
    assert sp.select_cuts(g, 0) == sp.cut_points(g) == ids
    assert sp.select_cuts(g, 3, allowed=[ids[2]]) == [g.input, ids[2], g.output]


def test_piece_errors_median_gap():
    rec = pd.DataFrame(_records("wifi", {"input": [100.0] * 3, "a": [100.0] * 3}))
    pred = _pred("wifi", {"input": 100.0, "a": 100.0}, "a")
    pred["device_ms"] = [0.0, 60.0]
    pred["total_ms"] = [90.0, 130.0]
    e = ss.piece_errors(pred, rec).iloc[0]
    # measured device = head = 50 on both cuts; predicted 0 and 60 → gaps −50, +10 → median −20
    assert e["device_gap_ms"] == pytest.approx(-20.0) and e["total_gap_ms"] == pytest.approx(10.0)
    assert e["total_rel_error"] == pytest.approx(0.1)


def test_server_factor_sources():
    g = chain()  # profiled cloud whole model = 1 + 2 + 0.5 = 3.5 ms
    rec = pd.DataFrame(_records("wifi", {"input": [70.0] * 3, "a": [100.0] * 3}))  # tail = 0.1 × total = 7
    f, src = sp.server_factor(g, rec)
    assert f == pytest.approx(2.0) and "cloud-only" in src
    f, src = sp.server_factor(g, rec, {"measured": True, "loaded_ms": 14.0})
    assert f == pytest.approx(4.0) and "under load" in src
    f, src = sp.server_factor(g, rec[rec.cut == "a"])
    assert f == 1.0 and src.startswith("assumed")


def test_score_choice_is_the_one_definition_of_hit_and_regret():
    sc = ss.score_choice({"input": 400.0, "a": 105.0, "b": 100.0}, "a")
    assert sc.best == "b" and sc.best_ms == 100 and sc.chosen_ms == 105
    assert sc.regret == pytest.approx(0.05) and sc.hit
    assert not ss.score_choice({"a": 111.0, "b": 100.0}, "a").hit
    miss = ss.score_choice({"a": 100.0}, "zz")
    assert math.isnan(miss.chosen_ms) and math.isnan(miss.regret) and not miss.hit
    with pytest.raises(InputError, match="no executed cuts"):
        ss.score_choice({}, "a")


def test_execute_cases_predicts_every_executed_case_and_records_its_provenance():
    """09's execution loop on a stand-in grid: one call per (model, load), one prediction per
    (device, network) calibrated by the measured server factor, one uncalibrated, and a run record."""
    from hybridlib.study.split import run as study

    calls = []

    def fake_grid(model, cuts, *, devices, networks, load, repeats, warmup, dtype, codec, ctx):
        calls.append((model, tuple(cuts), tuple(devices), tuple(networks), load, repeats, warmup, dtype, codec))
        rows = []
        for d in devices:
            for n in networks:
                rows += _records(n, {"input": [70.0] * repeats, "a": [10.0] * repeats, "out": [40.0] * repeats},
                                 device=d)
        df = pd.DataFrame(rows).assign(load=load, load_factor=1.0)
        df.attrs.update(load=None, link={"wifi": {"up_mbps": 5.0, "down_mbps": 20.0, "rtt_ms": 30.0, "x": 1}},
                        device={"phone": {"measured_rate": 3.9}})
        return df

    cases = [("m", 3, ("wifi", "3g"), ("phone",), ("idle",))]
    graphs = {("m", "phone"): chain()}
    ex = study.execute_cases(None, cases, {"m": ["input", "a", "out"]}, graphs, repeats=2, warmup=1,
                             run_grid=fake_grid)
    assert calls == [("m", ("input", "a", "out"), ("phone",), ("wifi", "3g"), "idle", 2, 1, "float32", "none")]
    assert len(ex.records) == 2 * 3 * 2 and list(ex.seconds) == ["execute_m"]
    # cloud-only's tail = 0.1 × 70 = 7 ms served vs 3.5 ms profiled: the engine is given factor 2
    assert [r["server_factor"] for r in ex.runs] == [pytest.approx(2.0)] * 2
    assert ex.runs[0]["link"] == {"up_mbps": 5.0, "down_mbps": 20.0, "rtt_ms": 30.0}
    assert ex.runs[0]["measured_cpu_rate"] == 3.9
    assert ex.runs[1]["link"] == {k: None for k in ("up_mbps", "down_mbps", "rtt_ms")}
    assert ex.predicted["load_factor"].tolist() == pytest.approx([2.0] * 8)
    assert set(ex.predicted_raw["load_factor"]) == {1.0}
    assert len(ex.predicted) == len(ex.predicted_raw) == 2 * 4  # every cut point of the graph, per case
    sc = study.score(ex, {})
    assert sc.summary["cases"] == 2 and (sc.cases["best"] == "a").all() and sc.predicted_plans.empty
    prof = study.Profiles(graphs, pd.DataFrame([{"model": "m", "cpu_throttle": 4.0, "model_ms": 1.0}]),
                          {"profiles_m": 1.0}, 1.5)
    res = study.result_record(prof, {"m": ["input", "a", "out"]}, ex, sc, dtype="float32", codec="none",
                              repeats=2, warmup=1)
    assert res["records"] == 12 and res["cuts"] == {"m": ["input", "a", "out"]} and res["runs"] == ex.runs
    assert res["profiles"] == [{"model": "m", "model_ms": 1.0}] and res["predicted_cost_plans"]["n"] == 0
    assert list(res["seconds"]) == ["profiles", "execute", "profiles_m", "execute_m"]
    assert set(res["uncalibrated"]) == set(study.UNCALIBRATED_KEYS) and res["hits"] == sc.summary["hits"]
