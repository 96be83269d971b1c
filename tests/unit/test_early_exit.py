"""Early exit: entropy, threshold sweep and rule, bandwidth, the Edgent planner, the branchy model."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hybridlib.study.early_exit import branches as E
from hybridlib.utils import InputError

# ---------------------------------------------------------------- entropy


def test_entropy_bounds_and_values():
    k = 7
    h = E.entropy(np.vstack([np.eye(k)[0], np.full(k, 1 / k), [0.5, 0.5] + [0] * (k - 2)]))
    assert h[0] == pytest.approx(0.0, abs=1e-12)
    assert h[1] == pytest.approx(1.0)
    assert h[2] == pytest.approx(math.log(2) / math.log(k))
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(k), size=200)
    hh = E.entropy(p)
    assert ((hh >= 0) & (hh <= 1)).all()
    assert E.entropy([0.25, 0.75]).shape == (1,)


@pytest.mark.parametrize("bad, needle", [([[0.5, 0.6]], "sum"), ([[-0.5, 1.5]], "-0.5"),
                                         ([[np.nan, 1.0]], "nan"), ([1.0], "shape")])
def test_entropy_bad_inputs(bad, needle):
    with pytest.raises(InputError, match=needle):
        E.entropy(bad)


# ---------------------------------------------------------------- sweep and threshold rule


def _toy_probs(n=300, k=7, seed=1):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    conf = rng.uniform(0.15, 0.99, n)
    pe = np.full((n, k), 0.0)
    for i in range(n):
        c = y[i] if rng.random() < conf[i] else (y[i] + 1) % k
        pe[i] = (1 - conf[i]) / (k - 1)
        pe[i, c] = conf[i]
    pf = np.full((n, k), 0.02 / (k - 1))
    pf[np.arange(n), y] = 0.98
    pf[:10] = np.roll(pf[:10], 1, axis=1)  # final exit wrong on 10 inputs
    return pe, pf, y


def test_sweep_monotone_and_endpoints():
    pe, pf, y = _toy_probs()
    sw = E.threshold_sweep(pe, pf, y, np.linspace(0, 1, 41))
    assert (np.diff(sw.exit_fraction) >= 0).all()
    assert sw.exit_fraction.iloc[0] == 0 and sw.overall_acc.iloc[0] == pytest.approx(sw.final_acc.iloc[0])
    assert sw.final_acc.iloc[0] == pytest.approx(1 - 10 / 300)
    # at T = 1 almost everything exits and the overall accuracy approaches the branch's
    assert sw.exit_fraction.iloc[-1] > 0.9


def test_choose_threshold_rule():
    pe, pf, y = _toy_probs()
    sw = E.threshold_sweep(pe, pf, y, np.linspace(0, 1, 41))
    ch = E.choose_threshold(sw, tolerance=0.01)
    ok = sw[sw.overall_acc >= sw.final_acc - 0.01]
    assert ch["exit_fraction"] == ok.exit_fraction.max()
    assert ch["overall_acc"] >= ch["final_acc"] - 0.01
    assert ch["threshold"] == ok[ok.exit_fraction == ok.exit_fraction.max()].threshold.min()
    # a zero tolerance never loses accuracy
    ch0 = E.choose_threshold(sw, tolerance=0.0)
    assert ch0["overall_acc"] >= ch0["final_acc"] - 1e-12 and ch0["exit_fraction"] <= ch["exit_fraction"]
    with pytest.raises(InputError, match="1.5"):
        E.choose_threshold(sw, tolerance=1.5)


def test_sweep_bad_inputs():
    pe, pf, y = _toy_probs(20)
    with pytest.raises(InputError, match="1.2"):
        E.threshold_sweep(pe, pf, y, [0.1, 1.2])
    with pytest.raises(InputError, match="shape"):
        E.threshold_sweep(pe, pf, y[:5])
    with pytest.raises(InputError, match="same shape"):
        E.threshold_sweep(pe, pf[:, :3] / pf[:, :3].sum(1, keepdims=True), y)


# ---------------------------------------------------------------- bandwidth


def test_feature_bytes_and_table():
    f = np.zeros((3, 12, 12, 64), np.float32)
    f[:, :2] = 1.5
    fb = E.feature_bytes(f)
    assert fb["float32"] == 12 * 12 * 64 * 4 and fb["float16"] == fb["float32"] / 2
    assert fb["uint8"] == 12 * 12 * 64 + 8 and fb["uint8+zlib"] < fb["uint8"]
    t = E.bandwidth_table(0.75, fb).set_index("scheme")
    assert t.loc["cloud-only (uint8 pixels)", "reduction_vs_cloud"] == 1
    assert t.loc["early exit + pixels", "reduction_vs_cloud"] == pytest.approx(4)
    # float32 features of this size are bigger than the pixels: the ratio says so (< 1 at 75% exit)
    assert t.loc["early exit + features float32", "reduction_vs_cloud"] == pytest.approx(2304 / (0.25 * 36864))
    with pytest.raises(InputError, match="1.1"):
        E.bandwidth_table(1.1, fb)


# ---------------------------------------------------------------- planner (hand-checked toy)

TRUNK = [{"id": "input", "out_bytes": 1000},
         {"id": "a", "device_ms": 10, "cloud_ms": 1, "out_bytes": 100},
         {"id": "b", "device_ms": 10, "cloud_ms": 1, "out_bytes": 10}]
EXITS = [E.Exit("e1", "a", 0.6, device_ms=1, cloud_ms=0.5), E.Exit("final", "b", 0.9)]
# uplink 0.08 Mbps → 0.1 ms per byte; downlink 8 Mbps → 0.001 ms per byte; RTT 2 → +1 ms each way
SLOW = {"uplink_mbps": 0.08, "downlink_mbps": 8, "rtt_ms": 2}
FAST = {"uplink_mbps": 8, "downlink_mbps": 8, "rtt_ms": 2}


def test_planner_toy_slow_uplink():
    # options: e1 cloud 101+1.5+1.028, e1 device 11; final cloud 101+2+1.028, split@a 10+11+1+1.028, device 20
    lat = {(o["exit"], o["split_after"]): o["latency_ms"] for o in E.options(TRUNK, EXITS, SLOW)}
    assert lat[("e1", "a")] == pytest.approx(11) and lat[("final", "b")] == pytest.approx(20)
    assert lat[("final", "a")] == pytest.approx(23.028)
    p = E.plan(TRUNK, EXITS, SLOW, deadline_ms=21)
    assert (p.feasible, p.exit, p.where, p.accuracy) == (True, "final", "device-only", 0.9)
    p = E.plan(TRUNK, EXITS, SLOW, deadline_ms=15)
    assert (p.exit, p.split_after, p.latency_ms) == ("e1", "a", pytest.approx(11))
    p = E.plan(TRUNK, EXITS, SLOW, deadline_ms=5)
    assert not p.feasible and p.latency_ms == pytest.approx(11)


def test_planner_toy_fast_uplink_and_deadline_respected():
    p = E.plan(TRUNK, EXITS, FAST, deadline_ms=6)  # final via cloud-only: 2 + 2 + 1.028
    assert (p.exit, p.where, p.latency_ms) == ("final", "cloud-only", pytest.approx(5.028))
    p = E.plan(TRUNK, EXITS, FAST, deadline_ms=5)  # only e1 via cloud (4.528) fits
    assert (p.exit, p.where, p.latency_ms) == ("e1", "cloud-only", pytest.approx(4.528))
    for d in (4.6, 5, 8, 12, 25, 200):
        for net in (SLOW, FAST, "3g", "lte", "wifi"):
            p = E.plan(TRUNK, EXITS, net, deadline_ms=d)
            best = max((o["accuracy"] for o in E.options(TRUNK, EXITS, net) if o["latency_ms"] <= d), default=None)
            assert (p.latency_ms <= d) == p.feasible
            if best is not None:
                assert p.accuracy == best


def test_planner_bad_inputs():
    with pytest.raises(InputError, match="-1"):
        E.plan(TRUNK, EXITS, FAST, deadline_ms=-1)
    with pytest.raises(InputError, match="'zz'"):
        E.plan(TRUNK, [E.Exit("x", "zz", 0.5)], FAST, deadline_ms=10)
    with pytest.raises(InputError, match="1.5"):
        E.plan(TRUNK, [E.Exit("x", "a", 1.5)], FAST, deadline_ms=10)
    with pytest.raises(InputError, match="device_ms"):
        E.plan([{"id": "input"}, {"id": "a", "device_ms": -3}], EXITS[:1], FAST, deadline_ms=10)


def test_trunk_from_graph():
    g = {"nodes": [{"id": "input", "device_ms": 0, "cloud_ms": 0, "out_bytes": 9},
                   {"id": "c1", "device_ms": 1, "cloud_ms": .1, "out_bytes": 50},
                   {"id": "c2", "device_ms": 2, "cloud_ms": .2, "out_bytes": 40},
                   {"id": "p", "device_ms": 3, "cloud_ms": .3, "out_bytes": 30},
                   {"id": "out", "device_ms": 4, "cloud_ms": .4, "out_bytes": 28}],
         "edges": [["input", "c1"], ["c1", "c2"], ["c2", "p"], ["p", "out"]], "input": "input", "output": "out"}
    tr = E.trunk_from_graph(g, ["p"])
    assert [t["id"] for t in tr] == ["input", "p", "out"]
    assert tr[1]["device_ms"] == 6 and tr[1]["out_bytes"] == 30 and tr[2]["cloud_ms"] == pytest.approx(.4)
    with pytest.raises(InputError, match="'nope'"):
        E.trunk_from_graph(g, ["nope"])


# ---------------------------------------------------------------- the branchy model


def test_add_branch_two_outputs_and_trains_branch_only():
    from hybridlib import models

    m = models.emotion_cnn()
    b = E.add_branch(m, at="pool2", filters=8)
    assert b.output_names == ["exit1", "predictions"]
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    pe, pf = E.predict_both(b, x)
    assert pe.shape == pf.shape == (6, 7)
    assert np.allclose(pe.sum(1), 1, atol=1e-5)
    before = [w.copy() for w in m.get_layer("conv1_1").get_weights()]
    hist = E.train_branch(b, "pool2", x, rng.integers(0, 7, 6), epochs=1, batch_size=3)
    assert hist["n_train"] == 6 and len(hist["loss"]) == 1
    assert all(np.array_equal(a, c) for a, c in zip(before, m.get_layer("conv1_1").get_weights()))
    with pytest.raises(InputError, match="'nope'"):
        E.add_branch(models.emotion_cnn(), at="nope")
