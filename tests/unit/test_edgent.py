"""hybridlib.study.early_exit.edgent (options, plans, executed sample) and exit_exec's input checks."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from hybridlib import partition
from hybridlib.study.early_exit import edgent, execute as exit_exec
from hybridlib.utils import InputError

TRUNK = [{"id": "input", "cloud_ms": 0.0}, {"id": "pool1", "cloud_ms": 1.0}, {"id": "pool3", "cloud_ms": 1.0},
         {"id": "predictions", "cloud_ms": 0.5}]
OP = {"exit_fraction": 0.6, "bytes_shipped": 150.0, "overall_acc": 0.70, "channels": 8}


def _opts(seg=(0.0, 10.0, 20.0, 5.0), edge=32.0, net="lte"):
    return edgent.options(list(seg), TRUNK, edge, net, ref_acc=0.71, op=OP, branch_acc=0.4, crop_bytes=2000.0,
                          crop_cloud_ms=2.5, tail_cloud_ms=1.6, cut_bytes={"pool1": 5000.0, "pool3": 1800.0})


def test_options_hand_values():
    net = partition.NETWORKS["lte"]
    o = {x["name"]: x for x in _opts()}
    assert set(o) == {"device-only", "cloud-only (PNG)", "cut @pool1", "cut @pool3", "exit1 + converter C=8",
                      edgent.EXIT_ONLY}
    assert o["device-only"]["worst_ms"] == pytest.approx(35.0)
    assert o["cut @pool3"]["worst_ms"] == pytest.approx(30.0 + net.up_ms(1800.0) + 0.5 + net.down_ms(28))
    ee = o["exit1 + converter C=8"]
    remote = net.up_ms(150.0) + 1.6 + net.down_ms(28)
    assert ee["worst_ms"] == pytest.approx(32.0 + remote) and ee["expected_ms"] == pytest.approx(32.0 + 0.4 * remote)
    assert ee["accuracy"] == 0.70 and ee["kind"] == "exit" and o[edgent.EXIT_ONLY]["worst_ms"] == 32.0
    assert {x["kind"] for x in o.values() if x["name"].startswith(("cut", "device", "cloud"))} == {"single-cut"}
    with pytest.raises(InputError, match="one device cost per trunk segment"):
        edgent.options([1.0], TRUNK, 1.0, "lte", ref_acc=1, op=OP, branch_acc=0, crop_bytes=1, crop_cloud_ms=1,
                       tail_cloud_ms=1, cut_bytes={})


def test_options_with_served_tails():
    net = partition.NETWORKS["wifi"]
    tails = {"input": 40.0, "pool3": 20.0, "conv_enc8": 18.0}
    o = {x["name"]: x for x in edgent.options([0.0, 10.0, 20.0, 5.0], TRUNK, 32.0, "wifi", ref_acc=0.71, op=OP,
                                             branch_acc=0.4, crop_bytes=2000.0, crop_cloud_ms=2.5, tail_cloud_ms=1.6,
                                             cut_bytes={"pool1": 5000.0, "pool3": 1800.0}, tail_ms=tails,
                                             converter_cut="conv_enc8")}
    assert o["cloud-only (PNG)"]["worst_ms"] == pytest.approx(net.up_ms(2000.0) + 40.0 + net.down_ms(28))
    assert o["cut @pool3"]["worst_ms"] == pytest.approx(30.0 + net.up_ms(1800.0) + 20.0 + net.down_ms(28))
    assert o["exit1 + converter C=8"]["worst_ms"] == pytest.approx(32.0 + net.up_ms(150.0) + 18.0 + net.down_ms(28))
    assert o["device-only"]["worst_ms"] == pytest.approx(35.0)  # no cloud part
    assert "cut @pool1" not in o  # no served tail timed there: not offered


def test_served_tail_ms_times_the_server_path(tmp_path):
    import tf_keras as keras

    from hybridlib import models

    keras.utils.set_random_seed(0)
    p = tmp_path / "m.h5"
    models.emotion_cnn().save(p)
    t = edgent.served_tail_ms(p, ["input", "pool3"], repeats=2)
    assert set(t) == {"input", "pool3"} and all(v > 0 for v in t.values())
    with pytest.raises(InputError, match="not in model"):
        edgent.served_tail_ms(p, ["nope"], repeats=1)


def test_plans_never_exceed_the_deadline_and_say_why_when_infeasible():
    rng = np.random.default_rng(0)
    for _ in range(200):
        seg = rng.uniform(0, 60, size=4)
        seg[0] = 0
        opts = _opts(seg, float(rng.uniform(1, 80)), str(rng.choice(["3g", "lte", "wifi"])))
        for r in edgent.plan_rows(opts, [1, 5, 20, 50, 100, 300]):
            if r["edgent"] == "infeasible":
                assert "deadline" in r["reason"] and min(o["worst_ms"] for o in opts) > r["deadline_ms"]
            else:
                assert r["edgent_worst_ms"] <= r["deadline_ms"] + 1e-9
                # the most accurate option that fits: nothing fitting is more accurate
                assert all(o["accuracy"] <= r["edgent_acc"] for o in opts if o["worst_ms"] <= r["deadline_ms"])
            if r["neurosurgeon"] != "infeasible":
                assert r["neurosurgeon_ms"] <= r["deadline_ms"] + 1e-9


def test_measured_and_executed_hit_rate():
    chain = {("predictions", "lte"): 80.0, ("input", "lte"): 120.0, ("pool3", "lte"): 90.0}
    run = {"lte": {"ship_total_ms": 150.0, "edge_ms": 60.0}}
    assert edgent.measured_ms("device-only", "lte", chain, run, "predictions") == 80.0
    assert edgent.measured_ms("cloud-only (PNG)", "lte", chain, run, "predictions") == 120.0
    assert edgent.measured_ms("cut @pool3", "lte", chain, run, "predictions") == 90.0
    assert edgent.measured_ms("exit1 + converter C=8", "lte", chain, run, "predictions") == 150.0
    assert edgent.measured_ms(edgent.EXIT_ONLY, "lte", chain, run, "predictions") == 60.0
    assert edgent.measured_ms("infeasible", "lte", chain, run, "predictions") is None
    assert edgent.measured_ms("cut @pool1", "lte", chain, run, "predictions") is None  # not executed
    s = pd.DataFrame([
        {"cost_model": "a", "network": "lte", "deadline_ms": 100, "edgent": "device-only", "edgent_worst_ms": 20.0},
        {"cost_model": "a", "network": "lte", "deadline_ms": 200, "edgent": "exit1 + converter C=8", "edgent_worst_ms": 100.0},
        {"cost_model": "b", "network": "lte", "deadline_ms": 50, "edgent": "infeasible", "edgent_worst_ms": None},
        {"cost_model": "b", "network": "lte", "deadline_ms": 100, "edgent": "device-only", "edgent_worst_ms": 80.0},
    ])
    out, summ = edgent.executed(s, chain, run, "predictions")
    assert out.met.tolist() == [True, True, None, True]
    assert summ["a"] == {"plans": 2, "executed": 2, "infeasible": 0, "hit_rate": 1.0,
                         "pred_over_meas_median": pytest.approx(np.median([20 / 80, 100 / 150]))}
    assert summ["b"]["infeasible"] == 1 and summ["b"]["executed"] == 1 and summ["b"]["pred_over_meas_median"] == 1.0
    with pytest.raises(InputError, match="cost_model"):
        edgent.executed(s.drop(columns="cost_model"), chain, run, "predictions")


def test_cut_of():
    assert edgent.cut_of("device-only", "predictions") == "predictions"
    assert edgent.cut_of("cloud-only (PNG)", "predictions") == "input"
    assert edgent.cut_of("cut @pool2", "predictions") == "pool2"
    assert edgent.cut_of("exit1 + converter C=4", "predictions") is None
    assert edgent.cut_of("infeasible", "predictions") is None


def test_exit_bundle_and_threshold_checks(tmp_path):
    assert exit_exec.check_threshold(0) == 0.0 and exit_exec.check_threshold("1") == 1.0
    for bad in (-0.1, 1.5, "x", None, True):
        with pytest.raises(InputError, match="threshold"):
            exit_exec.check_threshold(bad)
    with pytest.raises(InputError, match="exit.json is missing"):
        exit_exec.read_bundle(tmp_path)
    (tmp_path / "exit.json").write_text(json.dumps({"channels": 4, "cut": "conv_enc4", "threshold": 0.4, "codec": "zlib"}))
    with pytest.raises(InputError, match="chain.h5 is missing"):
        exit_exec.read_bundle(tmp_path)
    (tmp_path / "exit.json").write_text("{not json")
    with pytest.raises(InputError, match="not JSON"):
        exit_exec.read_bundle(tmp_path)


def test_serve_exit_mode_needs_a_bundle(tmp_path):
    from hybridlib.serving import app as serve

    with pytest.raises(InputError, match="--exit-bundle"):
        serve.make_app("exit")
    with pytest.raises(InputError, match="exit.json is missing"):
        serve.make_app("exit", exit_bundle=tmp_path)
