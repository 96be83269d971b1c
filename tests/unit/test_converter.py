"""hybridlib.study.early_exit.converter: the operating curve, the budget rule, latency, image/video bytes, the planner,
and the converter's shipped round trip (real Keras layers, real wire codec)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridlib import partition
from hybridlib import wire
from hybridlib.study.early_exit import converter
from hybridlib.utils import InputError


def test_operating_curve_hand_values():
    h = np.array([0.1, 0.3, 0.5, 0.9])
    ok_e = np.array([1, 1, 0, 0], bool)
    ok_f = np.array([0, 1, 1, 1], bool)
    b = np.array([10.0, 20.0, 30.0, 40.0])
    cu = converter.operating_curve(h, ok_e, ok_f, b, [0.0, 0.2, 0.4, 1.0]).set_index("threshold")
    # T = 0 exits nothing: the cloud path everywhere, every input ships
    assert cu.loc[0.0, "exit_fraction"] == 0 and cu.loc[0.0, "overall_acc"] == 0.75
    assert cu.loc[0.0, "bytes_per_input"] == 25.0 and cu.loc[0.0, "bytes_shipped"] == 25.0
    # T = 0.2: input 0 exits (branch right) → 1 + 1 + 1 + 1 correct; bytes (0 + 20 + 30 + 40) / 4
    assert cu.loc[0.2, "exit_fraction"] == 0.25 and cu.loc[0.2, "overall_acc"] == 1.0
    assert cu.loc[0.2, "bytes_per_input"] == 22.5 and cu.loc[0.2, "bytes_shipped"] == 30.0
    # T = 0.4: inputs 0, 1 exit
    assert cu.loc[0.4, "bytes_per_input"] == 17.5 and cu.loc[0.4, "overall_acc"] == 1.0
    # T = 1 exits everything: nothing shipped, the branch's accuracy
    assert cu.loc[1.0, "exit_fraction"] == 1.0 and cu.loc[1.0, "bytes_per_input"] == 0.0
    assert cu.loc[1.0, "overall_acc"] == 0.5 and np.isnan(cu.loc[1.0, "bytes_shipped"])


def test_operating_curve_rejects_bad_input():
    with pytest.raises(InputError, match="same length"):
        converter.operating_curve([0.1], [1, 0], [1], [1.0], [0.5])
    with pytest.raises(InputError, match="thresholds"):
        converter.operating_curve([0.1], [1], [1], [1.0], [1.5])
    with pytest.raises(InputError, match="ship_bytes"):
        converter.operating_curve([0.1], [1], [1], [-1.0], [0.5])


def test_choose_operating_point_budget():
    curve = pd.DataFrame([
        {"channels": 1, "threshold": 0.5, "overall_acc": 0.80, "bytes_per_input": 5.0},   # too lossy
        {"channels": 4, "threshold": 0.5, "overall_acc": 0.895, "bytes_per_input": 30.0},  # within 1 point
        {"channels": 4, "threshold": 0.3, "overall_acc": 0.90, "bytes_per_input": 30.0},   # tie on bytes → higher acc
        {"channels": 32, "threshold": 0.0, "overall_acc": 0.91, "bytes_per_input": 300.0},
    ])
    op = converter.choose_operating_point(curve, reference_acc=0.90, budget=0.01)
    assert (op["channels"], op["threshold"]) == (4, 0.3)
    op = converter.choose_operating_point(curve, reference_acc=0.90, budget=0.2)
    assert op["channels"] == 1
    with pytest.raises(InputError, match="no \\(C, T\\)"):
        converter.choose_operating_point(curve, reference_acc=0.99, budget=0.01)


def test_choose_operating_point_max_exit():
    curve = pd.DataFrame([
        {"channels": 1, "threshold": 1.0, "exit_fraction": 1.0, "overall_acc": 0.90, "bytes_per_input": 0.0},
        {"channels": 1, "threshold": 0.6, "exit_fraction": 0.94, "overall_acc": 0.90, "bytes_per_input": 4.0},
        {"channels": 2, "threshold": 0.6, "exit_fraction": 0.94, "overall_acc": 0.91, "bytes_per_input": 6.0},
    ])
    assert converter.choose_operating_point(curve, 0.90)["threshold"] == 1.0  # everything exits
    op = converter.choose_operating_point(curve, 0.90, max_exit=0.95)
    assert (op["channels"], op["threshold"]) == (1, 0.6)
    with pytest.raises(InputError, match="exit fraction ≤ 0.5"):
        converter.choose_operating_point(curve, 0.90, max_exit=0.5)
    with pytest.raises(InputError, match="max_exit"):
        converter.choose_operating_point(curve, 0.90, max_exit=1.5)


def test_expected_latency_formula():
    net = partition.NETWORKS["lte"]
    e = converter.expected_latency_ms(10.0, 0.75, 1000.0, 5.0, "lte", down_bytes=28)
    remote = 1000 * 8 / (net.uplink_mbps * 1000) + net.rtt_ms / 2 + 5.0 + 28 * 8 / (net.downlink_mbps * 1000) + net.rtt_ms / 2
    assert e["worst_ms"] == pytest.approx(10.0 + remote)
    assert e["expected_ms"] == pytest.approx(10.0 + 0.25 * remote)
    assert converter.expected_latency_ms(10.0, 1.0, 1000.0, 5.0, "lte")["expected_ms"] == pytest.approx(10.0)
    with pytest.raises(InputError, match="exit_fraction"):
        converter.expected_latency_ms(1.0, 1.5, 1.0, 1.0, "wifi")


def test_edgent_plan_never_misses_and_says_infeasible():
    opts = [{"name": "a", "worst_ms": 50.0, "accuracy": 0.9}, {"name": "b", "worst_ms": 10.0, "accuracy": 0.6},
            {"name": "c", "worst_ms": 10.0, "accuracy": 0.6001}]
    assert converter.edgent_plan(opts, 100)["name"] == "a"
    p = converter.edgent_plan(opts, 20)
    assert p["feasible"] and p["name"] == "c" and p["worst_ms"] <= 20
    for d in (1, 5, 9.99, 10, 49, 50, 1000):
        p = converter.edgent_plan(opts, d)
        assert (not p["feasible"]) or p["worst_ms"] <= d
    p = converter.edgent_plan(opts, 5)
    assert not p["feasible"] and "10.0 ms > deadline 5 ms" in p["reason"] and "'b'" in p["reason"]


def test_image_bytes_and_video():
    rng = np.random.default_rng(0)
    flat = np.full((3, 48, 48), 128, np.uint8)
    noise = rng.integers(0, 256, (3, 48, 48), dtype=np.uint8)
    a, b = converter.image_bytes(flat), converter.image_bytes(noise)
    assert a["raw"] == b["raw"] == 2304
    assert a["png"] < 200 < b["png"] and a["jpeg_q90"] < b["jpeg_q90"]
    with pytest.raises(InputError, match="uint8"):
        converter.image_bytes(flat.astype(np.float32))
    res = {"steps": [{"mode": "cloud", "users": 4, "admitted": 4, "fps": 15, "bytes_in_per_s": 6000.0},
                     {"mode": "cloud", "users": 1, "admitted": 1, "fps": 15, "bytes_in_per_s": 3000.0},
                     {"mode": "hybrid", "users": 1, "admitted": 1, "fps": 15, "bytes_in_per_s": 10.0}]}
    v = converter.video_bytes_per_frame(res)
    assert v["bytes_per_frame"] == pytest.approx(200.0) and v["users"] == 1
    assert converter.video_bytes_per_frame({}) is None and converter.video_bytes_per_frame(None) is None


def test_converter_ship_round_trip_bounded_and_counted():
    rng = np.random.default_rng(1)
    codes = rng.normal(size=(5, 6, 6, 2)).astype(np.float32)
    for codec in ("none", "zlib"):
        d, nb = converter.ship(codes, codec)
        for i in range(len(codes)):
            _, s, _ = wire.quantize_uint8(codes[i:i + 1])
            assert np.abs(d[i] - codes[i]).max() <= s * 1.0001
        body, hdr = wire.encode(codes[:1], "uint8", codec)
        assert nb[0] == len(body) + len(hdr["X-Shape"]) + len(hdr["X-Scale"]) + len(hdr["X-Zero-Point"])
    _, nb = converter.ship(codes, "none")
    assert (nb >= 72).all()  # 6·6·2 body bytes at least


def test_build_and_train_shapes():
    import tf_keras as keras

    inp = keras.Input((6, 6, 8))
    tail = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp)))
    head_in = keras.Input((12, 12, 1))
    head = keras.Model(head_in, keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(head_in))
    w0 = [w.copy() for w in tail.get_weights()]
    cv = converter.build(head, tail, "x", channels=2, branch_filters=4)
    assert tuple(cv.encoder.output.shape[1:]) == (6, 6, 2) and tuple(cv.restore.output.shape[1:]) == (6, 6, 8)
    rng = np.random.default_rng(0)
    f = rng.random((32, 6, 6, 8)).astype(np.float32)
    converter.train(cv, f, rng.integers(0, 3, 32), epochs=1)
    assert all(np.array_equal(a, b) for a, b in zip(w0, tail.get_weights()))  # the tail is frozen
    ev = converter.evaluate(cv, f, codecs=("none", "zlib"))
    assert ev["p_final"].shape == (32, 3) and set(ev["codec"]) == {"none", "zlib"}
    with pytest.raises(InputError, match="channels"):
        converter.build(head, tail, "x", channels=0)


def test_chain_model_equals_parts_and_cuts_at_encoder(tmp_path):
    import tf_keras as keras

    from hybridlib import export, models
    from hybridlib.study.early_exit import converter_exec
    from hybridlib.study.split import execute as split

    L = keras.layers
    inp = keras.Input((12, 12, 1), name="input")
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="c1")(inp)
    x = L.MaxPooling2D(2, name="pool3")(x)
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="c2")(x)
    out = L.Dense(3, activation="softmax", name="predictions")(L.Flatten(name="flat")(x))
    m = keras.Model(inp, out)
    head, tail = converter.split_trunk(m, "pool3")
    cv = converter.build(head, tail, "pool3", channels=2, branch_filters=4)
    rng = np.random.default_rng(0)
    xs = rng.random((4, 12, 12, 1)).astype(np.float32)
    parts = cv.tail.predict(cv.restore.predict(cv.encoder.predict(head.predict(xs, verbose=0), verbose=0), verbose=0),
                            verbose=0)
    h5 = converter_exec.save_chain(m, cv, tmp_path / "chain.h5")
    km = export.load_model(h5)
    np.testing.assert_allclose(km.predict(xs, verbose=0), parts, atol=1e-6)
    assert "conv_enc2" in models.chain_cut_points(km)
    # the chain runs through execute_grid's model_path (no patch of split.model_h5 any more)
    with pytest.raises(InputError, match="model_path .*missing.h5"):
        split.execute_grid("emotion_cnn", ["conv_enc2"], model_path=tmp_path / "missing.h5")
    with pytest.raises(InputError, match="does not exist"):
        converter_exec.execute(tmp_path / "missing.h5", 2)


def test_build_warm_starts_branch():
    import tf_keras as keras

    inp = keras.Input((6, 6, 8))
    tail = keras.Model(inp, keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(inp)))
    head_in = keras.Input((12, 12, 1))
    head = keras.Model(head_in, keras.layers.Conv2D(8, 3, strides=2, padding="same")(head_in))
    a = converter.build(head, tail, "x", channels=1, branch_filters=4, seed=1)
    b = converter.build(head, tail, "x", channels=1, branch_filters=4, seed=2, init_branch=a.branch)
    assert all(np.array_equal(x, y) for x, y in zip(a.branch.get_weights(), b.branch.get_weights()))
    with pytest.raises(InputError, match="init_branch"):
        converter.build(head, tail, "x", channels=1, branch_filters=5, init_branch=a.branch)


def test_alternatives_and_savings_hand_values():
    imgs = {"raw": 2304.0, "png": 1500.0, "jpeg_q90": 900.0}
    alts = converter.alternatives_bytes(imgs, None)
    assert alts == {"crop raw": 2304.0, "crop PNG": 1500.0, "crop JPEG q90": 900.0}
    alts = converter.alternatives_bytes(imgs, {"bytes_per_frame": 5000.0})
    assert alts[converter.VIDEO_LABEL] == 5000.0
    s = converter.savings(alts, 25.0)
    # 2304 / 25 = 92.16, 1500 / 25 = 60, 900 / 25 = 36, 5000 / 25 = 200
    assert s == {"crop raw": 92.16, "crop PNG": 60.0, "crop JPEG q90": 36.0, converter.VIDEO_LABEL: 200.0}
    # nothing shipped (every input exits): no ratio, not infinity
    assert converter.savings(alts, 0.0) == {k: None for k in alts}
    with pytest.raises(InputError, match="bytes_per_input"):
        converter.savings(alts, float("nan"))
    with pytest.raises(InputError, match="bytes_per_input"):
        converter.savings(alts, -1.0)


def test_plan_cut_names():
    from hybridlib.study.early_exit import converter_exec as cx

    assert cx.plan_cut("device-only", "predictions", 4) == "predictions"
    assert cx.plan_cut("cloud-only (PNG)", "predictions", 4) == "input"
    assert cx.plan_cut("cut @pool2", "predictions", 4) == "pool2"
    assert cx.plan_cut("exit1 + converter C=4", "predictions", 4) == "conv_enc4"
    assert cx.plan_cut("exit1 only (device)", "predictions", 4) is None  # no branch in the page
    assert cx.plan_cut("infeasible", "predictions", 4) is None
    assert cx.plan_cut(None, "predictions", 4) is None


def test_executed_sample_met_and_hit_rate():
    from hybridlib.study.early_exit import converter_exec as cx

    runs = pd.DataFrame({"cut": ["input", "input", "input", "pool2", "pool2", "conv_enc4"],
                         "network": ["lte"] * 6,
                         **{c: [1.0] * 6 for c in cx.STAGE_COLUMNS if c != "total_ms"},
                         "total_ms": [10.0, 30.0, 20.0, 80.0, 120.0, 40.0]})
    med = cx.stage_medians(runs).set_index("cut")
    # medians: input 20, pool2 100, conv_enc4 40
    assert med.loc["input", "total_ms"] == 20.0 and med.loc["pool2", "total_ms"] == 100.0
    sample = pd.DataFrame({"cut": ["input", "pool2", "conv_enc4", None, "predictions"],
                           "network": ["lte"] * 5, "deadline_ms": [50, 50, 20, 100, 100]})
    out, hit = cx.executed_sample(sample, med.reset_index())
    assert out.measured_ms.tolist()[:3] == [20.0, 100.0, 40.0]
    assert out.measured_ms.iloc[3:].isna().all()  # not executed: no measurement, no verdict
    assert out.met.tolist() == [True, False, False, None, None]
    assert hit == pytest.approx(1 / 3)
    _, none_hit = cx.executed_sample(sample.assign(cut=None), med.reset_index())
    assert none_hit is None
    with pytest.raises(InputError, match="deadline_ms"):
        cx.executed_sample(sample.drop(columns="deadline_ms"), med.reset_index())
    runs.attrs["device"] = {"measured_rate": 3.9}
    res = cx.executed_result(runs, 4, ("lte",), 3, 12.5, out, hit, 1e-3)
    assert [r["cut"] for r in res["converter_stages_median"]] == ["conv_enc4"]
    assert len(res["stages_median"]) == 3 and res["networks"] == ["lte"] and res["edgent_hit_rate"] == hit
    assert res["device_readback"] == {"measured_rate": 3.9} and res["browser_probs_vs_keras_max_abs"] == 1e-3
