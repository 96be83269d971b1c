"""Notebook 06's steps as library functions: Edgent's cost models and plans, the page-vs-Keras check,
the results record (the keys tests/notebooks/test_nb_06*.py and 08's report read) and the seeds' table."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from hybridlib import partition
from hybridlib.profiling import devices
from hybridlib.study.early_exit import (
    branches,
    converter_study,
    edgent,
    edgent_study,
    executed,
    results,
    study,
)

TRUNK = [{"id": "input", "device_ms": 0.0, "cloud_ms": 0.0, "out_bytes": 9216.0},
         {"id": "pool1", "device_ms": 100.0, "cloud_ms": 1.0, "out_bytes": 20000.0},
         {"id": "pool3", "device_ms": 200.0, "cloud_ms": 1.0, "out_bytes": 27648.0},
         {"id": "predictions", "device_ms": 50.0, "cloud_ms": 0.5, "out_bytes": 28.0}]
OP = {"threshold": 0.4, "exit_fraction": 0.6, "bytes_shipped": 150.0, "bytes_per_input": 60.0, "overall_acc": 0.70,
      "channels": 4, "codec": "zlib", "split": "test"}


class Ctx:
    """What the steps read of a RunContext, recording skips."""

    def __init__(self):
        self.preset = SimpleNamespace(name="smoke", profile_repeats=3, exit_epochs=1)
        self.data_label = "synthetic"
        self.skipped = []

    def skip(self, part, reason, required=True):
        self.skipped.append((part, reason, required))


def _parts():
    g0 = partition.chain_graph([{"id": c["id"], "device_ms": c["device_ms"] / 10, "cloud_ms": c["cloud_ms"],
                                 "out_bytes": c["out_bytes"]} for c in TRUNK])
    pl = study.Planner(10.0, 0.1, g0, g0, [c["id"] for c in TRUNK], TRUNK, 0.5, 2.0, pd.DataFrame())
    sw = SimpleNamespace(op=OP, ref_test=0.71, branch_acc=0.4)
    pics = SimpleNamespace(images={"png": 900.0})
    lat = converter_study.Latency(trunk_device_ms=30.0, edge_heads_ms=1.0, tail_cloud_ms=1.5, restore_ms=0.1,
                                  crop_cloud_ms=2.5, device_cloud_ratio=2.0, table=pd.DataFrame())
    bundle = edgent_study.Bundle(4, Path("conv"), Path("conv/chain.h5"), Path("conv/exit_bundle"))
    return pl, sw, pics, lat, bundle


def test_edgent_study_without_chromium_plans_on_tf_times_throttle(monkeypatch):
    """The wasm profile failing (no Chromium) is recorded, not fatal: tf×throttle is then the main
    cost model, its device side the trunk's ×device_slowdown undone × each class's throttle."""
    pl, sw, pics, lat, bundle = _parts()

    def no_wasm(*a, **k):
        raise RuntimeError("Chromium not found")

    seen = {}

    def served(h5, cuts, repeats):
        seen.update(h5=h5, cuts=cuts, repeats=repeats)
        return {c: 2.0 for c in cuts}

    monkeypatch.setattr(edgent_study, "wasm_cost_model", no_wasm)
    monkeypatch.setattr(edgent, "served_tail_ms", served)
    ctx = Ctx()
    ed = edgent_study.edgent_study(ctx, None, pl, sw, pics, lat, bundle, deadlines=(50, 500))
    assert ctx.skipped == [("06 wasm device profile", "RuntimeError: Chromium not found", False)]
    assert seen == {"h5": bundle.chain_h5, "cuts": ["input", "pool1", "pool3", "conv_enc4"], "repeats": 3}
    assert list(ed.cost_models) == [edgent_study.TF_THROTTLE] and ed.main_cost == edgent_study.TF_THROTTLE
    assert ed.wasm_info is None and ed.served_tails == {c: 2.0 for c in seen["cuts"]}
    per_dev, tails = ed.cost_models[edgent_study.TF_THROTTLE]
    phone = devices.get_device("phone").cpu_throttle
    assert tails is None and per_dev["phone"][0] == pytest.approx([phone * c["device_ms"] / 10 for c in TRUNK])
    assert per_dev["phone"][1] == pytest.approx(phone * (30.0 + 2.0 * 1.0)) == lat.edge_ms(phone)
    # the given deadlines and those placed around the phone's option costs (the executed ones)
    assert len(ed.deadlines) >= 2 and set(ed.deadlines) <= set(ed.plans.deadline_ms)
    assert len(ed.plans) == len(devices.DEVICES) * len(partition.NETWORKS) * len({50.0, 500.0} | set(ed.deadlines))
    phone = ed.plans[(ed.plans.device == "phone") & ed.plans.deadline_ms.isin(ed.deadlines)]
    assert (phone[phone.deadline_ms == min(ed.deadlines)].edgent == "infeasible").all()  # below the fastest: why
    assert phone[phone.edgent == "infeasible"].reason.str.contains("fastest option").all()
    assert phone.groupby("network").edgent.nunique().min() >= 2  # the deadlines separate plans
    assert (ed.main.cost_model == edgent_study.TF_THROTTLE).all() and len(ed.main) == len(ed.plans)


def test_edgent_study_with_wasm_adds_the_served_tails_model(monkeypatch):
    pl, sw, pics, lat, bundle = _parts()
    wasm = {d: ([1.0, 2.0, 3.0, 4.0], 5.0) for d in devices.DEVICES}
    monkeypatch.setattr(edgent_study, "wasm_cost_model", lambda *a, **k: (wasm, {"phone_model_ms": 10.0}))
    monkeypatch.setattr(edgent, "served_tail_ms", lambda h5, cuts, repeats: {c: 2.0 for c in cuts})
    ed = edgent_study.edgent_study(Ctx(), None, pl, sw, pics, lat, bundle, deadlines=(50,))
    assert list(ed.cost_models) == [edgent_study.TF_THROTTLE, edgent_study.WASM, edgent_study.WASM_SERVED]
    assert ed.main_cost == edgent_study.WASM_SERVED and ed.cost_models[edgent_study.WASM_SERVED][1] == ed.served_tails
    assert set(ed.plans.cost_model) == set(ed.cost_models) and set(ed.main.cost_model) == {edgent_study.WASM_SERVED}
    for r in ed.plans.itertuples():  # a plan never exceeds its deadline (worst case)
        assert r.edgent == "infeasible" or r.edgent_worst_ms <= r.deadline_ms + 1e-9


def test_page_vs_keras_compares_like_the_library_decides():
    probs = np.array([[0.97, 0.01, 0.02], [1 / 3, 1 / 3, 1 / 3], [0.1, 0.8, 0.1]])
    codes = np.arange(6, dtype=np.float32).reshape(3, 2)
    y = np.array([0, 1, 2])
    h = branches.entropy(probs)
    t = 0.6  # exits: input 0 (confident) and 2 (entropy 0.58); input 1 is uniform and ships
    assert (h < t).tolist() == [True, False, True]
    page = pd.DataFrame({"entropy": h + 1e-7, "exited": [True, False, False]})
    vk = executed.page_vs_keras(page, probs + 1e-6, codes - 0.5, probs, codes, final_ok=np.array([False, True, True]),
                                code_bytes=np.array([30.0, 40.0, 50.0]), y=y, threshold=t)
    assert vk["n"] == 3 and vk["branch_probs_max_abs"] == pytest.approx(1e-6) and vk["code_max_abs"] == 0.5
    assert vk["code_abs_max"] == 5.0 and vk["entropy_max_abs"] == pytest.approx(1e-7)
    assert vk["decision_agreement"] == pytest.approx(2 / 3) and vk["keras_exit_fraction"] == pytest.approx(2 / 3)
    # exited: 0 right (argmax 0), 2 wrong (argmax 1 ≠ 2); shipped: 1 right by the tail
    assert vk["keras_acc"] == pytest.approx(2 / 3) and vk["keras_bytes_per_input_zlib"] == pytest.approx(40.0 / 3)


def _record():
    sweep = pd.DataFrame({"threshold": [0.0, 0.5], "exit_fraction": [0.0, 0.5], "overall_acc": [0.7, 0.69],
                          "branch_acc": [0.5, 0.5], "final_acc": [0.7, 0.7], "exited_acc": [np.nan, 0.9]})
    eb = SimpleNamespace(synthetic=True, branch_at="pool3", history={"n_train": 100}, train_s=1.0)
    th = study.Thresholds(sweep, sweep, {"threshold": 0.5, "overall_acc": 0.69}, 0.5,
                          sweep.set_index("threshold").loc[0.5])
    bw = study.Bandwidth([6, 6, 192], {"float32": 27648.0}, 2304.0,
                         pd.DataFrame({"scheme": ["cloud-only (uint8 pixels)"], "bytes_per_frame": [2304.0],
                                       "reduction_vs_cloud": [1.0]}))
    pl = study.Planner(10.0, 0.1, None, None, [], [], 0.5, 2.0,
                       pd.DataFrame({"network": ["lte"], "feasible": [True], "choice": ["x"]}))
    op = {**OP, "channels": np.int64(4), "exit_fraction": np.float64(0.6)}
    sw = SimpleNamespace(channels=(1, 4), epochs=1, n_train=50, train_s=2.0, ref_val=0.7, ref_test=0.71,
                         per_channels=[{"channels": 4}], curve=pd.DataFrame({"channels": [4]}), op=op,
                         op_val={"threshold": 0.4}, branch_alone_ok=False)
    video = {"bytes_per_frame": 5000.0, "source": "measured here"}
    pics = converter_study.PictureBytes({"raw": 2304.0}, video, {"crop raw": 2304.0}, {
        "crop raw": 38.4, "crop JPEG q90": 10.0, "cloud video / frame": 83.3})
    lat = converter_study.Latency(30.0, 1.0, 1.5, 0.1, 2.5, 2.0, pd.DataFrame({"device": ["phone"]}))
    ed = SimpleNamespace(main=pd.DataFrame({"edgent": ["device-only"]}))
    ex = executed.Executed(result=None, error="RuntimeError: Chromium not found")
    return results.result_record(Ctx(), eb, th, bw, pl, sw, pics, lat, ed, ex, tolerance=0.01, max_exit=0.95,
                                 runtime_s=9.0)


def test_result_record_keys_and_values():
    res = _record()
    assert list(res) == ["data_label", "synthetic", "branch_at", "exit_epochs", "n_train", "branch_train_s",
                         "threshold_rule", "threshold", "tolerance", "edge_exit_fraction", "overall_acc", "branch_acc",
                         "final_acc", "exited_acc", "val", "sweep_test", "feature_shape", "pixel_bytes",
                         "feature_bytes", "bandwidth", "planner_scenario", "planner", "runtime_s", "converter"]
    assert res["edge_exit_fraction"] == 0.5 and res["exited_acc"] == 0.9 and res["planner"] == [
        {"network": "lte", "feasible": True}]
    assert res["bandwidth"] == {"cloud-only (uint8 pixels)": {"bytes_per_frame": 2304.0, "reduction_vs_cloud": 1.0}}
    assert res["planner_scenario"] == {"device_slowdown": 10.0, "load": 0.1, "head_ms_measured": 0.5,
                                       "device_cloud_ratio": 2.0}
    c = res["converter"]
    assert c["operating_point"]["channels"] == 4.0 and isinstance(c["operating_point"]["channels"], float)
    assert c["operating_point"]["codec"] == "zlib" and c["accuracy_loss"] == pytest.approx(0.01)
    assert c["channels"] == [1, 4] and c["budget"] == 0.01 and c["executed"] is None
    assert c["latency_inputs"] == {"trunk_device_ms_desktop": 30.0, "edge_heads_ms": 1.0, "tail_cloud_ms": 1.5,
                                   "restore_ms": 0.1, "device_cloud_ratio": 2.0}


def test_seeds_table_from_the_record():
    tab = results.seeds_table(_record()).set_index("claim")["here"]
    assert tab["inputs answered at the edge"] == "60.0% (converter operating point, test)"
    assert tab["bandwidth saving vs the 48×48 crop"] == "×38.4 raw, ×10.0 vs JPEG"
    assert tab["vs cloud mode's video bytes per frame"] == "×83 (5000 B/frame; measured here)"
    assert tab["accuracy loss at the operating point"] == "+0.010 vs final exit only (budget 0.01)"
    assert tab["Edgent plans meeting their deadline when executed"] == "not executed"
