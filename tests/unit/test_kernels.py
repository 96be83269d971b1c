"""Fused-kernel detection, kernel predictors, adaptive sampling and the decision regret."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from hybridlib import partition
from hybridlib.profiling import decision, kernels, kpredict
from hybridlib.utils import InputError

CBR, CR, MP = "conv-bn-relu", "conv-relu", "maxpool"


def _inception(p: str) -> list[tuple[str, str]]:
    return [(f"{p}_b3x3_reduce", CR), (f"{p}_b5x5_reduce", CR), (f"{p}_bpool", MP), (f"{p}_b1x1", CR),
            (f"{p}_b3x3", CR), (f"{p}_b5x5", CR), (f"{p}_bpool_proj", CR), (p, "concat"), (f"{p}_bn", "bn-relu")]


EMOTION_KERNELS = ([("conv1_1", CBR), ("conv1_2", CBR), ("pool1", MP), ("conv2_1", CBR), ("conv2_2", CBR),
                    ("pool2", MP), ("conv3_1", CBR)] + _inception("incept3") + [("pool3", MP)]
                   + _inception("incept4") + [("pool4", MP), ("conv5_1", CBR), ("conv5_2", CBR), ("pool5", MP),
                                              ("dense1", "fc-relu"), ("dense2", "fc-relu"), ("predictions", "fc")])
ALEXNET_KERNELS = [("conv1", CR), ("pool1", MP), ("conv2", CR), ("pool2", MP), ("conv3", CR), ("conv4", CR),
                   ("conv5", CR), ("pool5", MP), ("fc6", "fc-relu"), ("fc7", "fc-relu"), ("fc8", "fc")]


def test_detect_kernels_emotion_cnn():
    from hybridlib import models

    m = models.emotion_cnn()
    ks = kernels.detect_kernels(m)
    assert [(k.name, k.kernel_type) for k in ks] == EMOTION_KERNELS
    conv = ks[0]
    assert conv.layers == ["conv1_1", "conv1_1_bn", "conv1_1_relu"] and conv.last == "conv1_1_relu"
    assert (conv.config["h"], conv.config["c_in"], conv.config["c_out"], conv.config["kernel"]) == (48, 1, 32, 3)
    concat = next(k for k in ks if k.name == "incept3")
    assert concat.config["n_inputs"] == 4 and concat.config["c_in"] == 192
    # every compute layer is in exactly one kernel; identities (input, flatten, dropout) in none
    grouped = [l for k in ks for l in k.layers]
    assert len(grouped) == len(set(grouped))
    identity = {"input", "flatten", "dropout1", "dropout2"}
    assert set(grouped) == {l.name for l in m.layers} - identity


def test_detect_kernels_alexnet():
    from hybridlib import models

    ks = kernels.detect_kernels(models.alexnet())
    assert [(k.name, k.kernel_type) for k in ks] == ALEXNET_KERNELS
    c1 = ks[0].config
    assert (c1["h"], c1["kernel"], c1["stride"], c1["padding"], c1["c_out"]) == (227, 11, 4, "valid", 96)
    assert ks[-3].config["c_in"] == 9216 and ks[-3].config["c_out"] == 4096


def test_fusion_needs_a_sole_consumer():
    """A conv whose output is also read elsewhere cannot absorb its BN (the tensor must exist)."""
    import tf_keras as keras

    L = keras.layers
    x = keras.Input((8, 8, 4), name="in")
    c = L.Conv2D(4, 3, padding="same", name="c")(x)
    b = L.BatchNormalization(name="b")(c)
    r = L.ReLU(name="r")(b)
    s = L.Add(name="s")([r, c])           # c has two consumers → conv alone
    s = L.Activation("relu", name="sr")(s)
    f = L.Flatten(name="f")(s)
    d = L.Dense(5, name="d")(f)
    d = L.ReLU(name="dr")(d)
    m = keras.Model(x, d)
    got = [(k.name, k.kernel_type, k.layers) for k in kernels.detect_kernels(m)]
    assert got == [("c", "conv", ["c"]), ("b", "bn-relu", ["b", "r"]), ("s", "add-relu", ["s", "sr"]),
                   ("d", "fc-relu", ["d", "dr"])]


def test_kernel_model_builds_every_type():
    for t in kernels.KERNEL_TYPES:
        cfg = {"kernel_type": t, "h": 8, "w": 8, "c_in": 6, "c_out": 6 if not t.startswith(("conv", "fc")) else 4,
               "kernel": 3, "stride": 1, "padding": "same", "n_inputs": 3 if t == "concat" else 2}
        m = kernels.kernel_model(cfg)
        # the one-kernel model is detected as exactly that kernel
        ks = kernels.detect_kernels(m)
        assert [k.kernel_type for k in ks] == [t], t
    with pytest.raises(InputError, match="lstm"):
        kernels.kernel_model({"kernel_type": "lstm", "h": 1, "w": 1, "c_in": 1, "c_out": 1})


def test_random_kernel_configs():
    a = kernels.random_kernel_configs(70, "emotion", seed=1)
    assert a == kernels.random_kernel_configs(70, "emotion", seed=1)
    assert {c["kernel_type"] for c in a} == set(kernels.CORPUS_TYPES)
    assert max(c["h"] for c in a) <= 48
    al = kernels.random_kernel_configs(70, "alexnet", seed=1)
    assert max(c["c_in"] for c in al if c["kernel_type"].startswith("fc")) > 2048
    with pytest.raises(InputError, match="family"):
        kernels.random_kernel_configs(70, "vgg")
    with pytest.raises(InputError, match="corpus size"):
        kernels.random_kernel_configs(3)


def test_derived_alexnet_conv1():
    d = kpredict.derived(pd.DataFrame([{"kernel_type": "conv-relu", "h": 227, "w": 227, "c_in": 3, "c_out": 96,
                                        "kernel": 11, "stride": 4, "padding": "valid"},
                                       {"kernel_type": "fc", "h": 1, "w": 1, "c_in": 4096, "c_out": 1000,
                                        "kernel": 1, "stride": 1, "padding": "same"}]))
    assert d["out_h"][0] == 55
    assert d["flops"][0] == 2 * 55 * 55 * 96 * 11 * 11 * 3 + 55 * 55 * 96
    assert d["params"][0] == 11 * 11 * 3 * 96 + 96 and d["params"][1] == 4096 * 1000 + 1000


def synthetic_latency(cfgs: pd.DataFrame, seed: int = 0, noise: float = 0.03) -> np.ndarray:
    """SYNTHETIC latency (no TF): 0.05 ms + FLOPs at 2 GFLOP/s + bytes at 10 GB/s, with a
    3× cliff for convolutions on ≥ 100 input channels, and 3% log-normal noise."""
    d = kpredict.derived(cfgs)
    rng = np.random.default_rng(seed)
    ms = 0.05 + d["flops"].to_numpy() / 2e6 + d["bytes"].to_numpy() / 1e7
    cliff = cfgs["kernel_type"].str.startswith("conv").to_numpy() & (cfgs["c_in"].to_numpy() >= 100)
    return ms * np.where(cliff, 3.0, 1.0) * np.exp(rng.normal(0, noise, len(ms)))


def synthetic_profile(cfgs: list[dict], seed: int = 0) -> pd.DataFrame:
    df = pd.DataFrame(cfgs)
    frames = [df.assign(side=side, ms_min=synthetic_latency(df, seed + i) / speed, row=range(len(df)))
              for i, (side, speed) in enumerate((("device", 1.0), ("cloud", 2.5)))]
    out = pd.concat(frames, ignore_index=True)
    return out.assign(ms_adj=out["ms_min"])


def synthetic_corpus(n: int = 140, seed: int = 0) -> pd.DataFrame:
    cfgs = [{**c, "source": f"{fam}-family"} for i, fam in enumerate(("emotion", "alexnet"))
            for c in kernels.random_kernel_configs(n, fam, seed=seed + i)]
    df = synthetic_profile(cfgs, seed)
    df["source"] = [cfgs[r]["source"] for r in df["row"]]
    return df.rename(columns={"row": "config_id"})


def test_rf_beats_constant_and_linear_on_held_out():
    c = synthetic_corpus()
    ev = kpredict.evaluate_configs(c, methods=("rf", "linear"), seeds=(0,))
    assert set(ev.kernel_type) == set(kernels.CORPUS_TYPES) and set(ev.side) == {"device", "cloud"}
    fam = c[c.side == "device"].reset_index(drop=True)
    test = fam.config_id % 4 == 0
    tr, te = fam[~test], fam[test].reset_index(drop=True)
    rf = kpredict.KernelLatencyPredictor("rf", n_estimators=100).fit(tr, tr["ms_min"])
    err = kpredict.metrics(te["ms_min"], rf.predict(te))
    # the best constant for MAPE (the training median) misses by far; the forest must beat it 3×
    const = kpredict.metrics(te["ms_min"], np.full(len(te), tr["ms_min"].median()))
    assert err["mape"] < const["mape"] / 3, (err, const)
    assert rf.score(te, te["ms_min"]) == pytest.approx(-err["mape"])
    mean = ev.groupby("method")["mape"].mean()
    assert mean["rf"] < mean["linear"]


def test_metrics():
    m = kpredict.metrics([1.0, 2.0, 4.0, 10.0], [1.05, 2.4, 4.0, 5.0])
    assert m["mape"] == pytest.approx((5 + 20 + 0 + 50) / 4)
    assert m["rmspe"] == pytest.approx(math.sqrt((0.05 ** 2 + 0.2 ** 2 + 0 + 0.5 ** 2) / 4) * 100)
    assert m["within10"] == pytest.approx(50.0) and m["n"] == 4
    with pytest.raises(InputError):
        kpredict.metrics([1.0], [1.0, 2.0])


def test_predictor_validation():
    c = synthetic_corpus(30)
    with pytest.raises(InputError, match="method must be one of .*got 'svm'"):
        kpredict.KernelLatencyPredictor(method="svm").fit(c, c.ms_min)
    with pytest.raises(InputError, match="n_estimators must be a positive int, got 0"):
        kpredict.KernelLatencyPredictor(n_estimators=0).fit(c, c.ms_min)
    est = kpredict.KernelLatencyPredictor()
    with pytest.raises(InputError, match="not fitted"):
        est.predict(c)
    with pytest.raises(InputError, match="'kernel_type' column"):
        est.fit(pd.DataFrame({"h": [1, 2]}), [1, 2])
    with pytest.raises(InputError, match="> 0"):
        est.fit(c, np.zeros(len(c)))
    est.fit(c[c.kernel_type != "concat"], c.ms_min[c.kernel_type != "concat"])
    with pytest.raises(InputError, match="'concat'"):
        est.predict(c)


def test_network_predictions_exclude_the_network():
    c = synthetic_corpus(70)
    net = kernels.kernel_table(__import__("hybridlib.models", fromlist=["alexnet"]).alexnet(), "alexnet")
    prof = synthetic_profile(net.to_dict("records"), seed=5)
    prof["config_id"] = prof["row"] + 10_000
    c = pd.concat([c, prof.drop(columns="row")], ignore_index=True)
    p = kpredict.network_predictions(c, methods=("rf",))
    assert set(p.network) == {"alexnet"} and set(p.train) == {"families", "other-family"}
    assert len(p[(p.train == "families") & (p.side == "device")]) == len(ALEXNET_KERNELS)
    ev = kpredict.evaluate_networks(p)
    assert set(ev.split) == {"families→alexnet", "other-family→alexnet"}


@pytest.mark.slow  # refits 200-tree forests each round: 15–36 s
def test_adaptive_sampling_adds_configs_near_high_error_points():
    c = synthetic_corpus(42, seed=3)
    grown, hist = kpredict.adaptive_sampling(c, synthetic_profile, rounds=2, per_round=6, n_neighbours=2,
                                             threshold=10.0, seed=0)
    new = grown[grown.config_id > c.config_id.max()]
    assert len(hist) >= 1 and hist.iloc[0].n_flagged > 0
    assert new.config_id.nunique() == sum(h.get("n_added", 0) for h in hist.to_dict("records") if h.get("n_added"))
    flagged = {k: v for f in hist["flagged"] for k, v in f.items()}
    assert all(v > 10.0 for v in flagged.values())
    first = grown.drop_duplicates("config_id").set_index("config_id")
    for cid, r in new.drop_duplicates("config_id").set_index("config_id").iterrows():
        assert r.parent_id in flagged  # every new config comes from a flagged (> 10% error) one ...
        p = first.loc[r.parent_id]
        assert r.kernel_type == p.kernel_type and r.kernel == p.kernel and r.stride == p.stride
        for f in ("c_in", "c_out", "h"):  # ... and lies near it (±25% in log size, + rounding)
            assert abs(math.log(r[f] / p[f])) <= 0.25 + math.log((p[f] + 1) / p[f]) + 1e-9, (f, r[f], p[f])
    assert hist.iloc[0].n_configs == c.config_id.nunique() < grown.config_id.nunique()
    with pytest.raises(InputError, match="rounds"):
        kpredict.adaptive_sampling(c, synthetic_profile, rounds=0)


def _chain(dev: list[float], cloud: list[float], out_bytes: list[float]) -> partition.Graph:
    ids = ["input"] + [f"l{i}" for i in range(1, len(dev))]
    return partition.chain_graph([{"id": i, "device_ms": d, "cloud_ms": c, "out_bytes": b, "device_mj": 2 * d}
                                  for i, d, c, b in zip(ids, dev, cloud, out_bytes)])


def test_regret_zero_when_predicted_equals_measured_and_positive_when_misled():
    g = _chain([0, 40, 40, 1], [0, 2, 2, 0.1], [150_000, 600_000, 4_000, 40])
    t = decision.regret_table(g, g)
    assert (t.regret == 0).all() and t.same_plan.all()
    assert len(t) == len(decision.SCENARIOS) * len(partition.NETWORKS)
    # predictions that call the device 100× faster make every plan device-only; where the
    # measured optimum offloads, that choice costs latency
    wrong = partition.scale(g, device=0.01)
    t2 = decision.regret_table(g, wrong)
    assert (t2.regret >= -1e-12).all() and (t2.regret > 0.05).any()
    assert (t2[t2.regret > 0].plan_cloud_layers == 0).all()


def test_predicted_graph_puts_kernel_time_on_last_layer():
    g = _chain([0, 1, 1, 1], [0, 1, 1, 1], [10, 10, 10, 10])
    k = pd.DataFrame({"last_layer": ["l2", "l3"], "device_ms": [5.0, 7.0], "cloud_ms": [0.5, 0.7]})
    p = decision.predicted_graph(g, k)
    got = {n.id: (n.device_ms, n.cloud_ms, n.device_mj) for n in p.nodes}
    assert got == {"input": (0, 0, 0), "l1": (0, 0, 0), "l2": (5.0, 0.5, 10.0), "l3": (7.0, 0.7, 14.0)}
    # the per-inference fixed cost: device side on the first compute node, cloud side on the output
    pf = decision.predicted_graph(g, k, fixed_ms={"device": 0.3, "cloud": 0.2})
    got = {n.id: (n.device_ms, n.cloud_ms) for n in pf.nodes}
    assert got == {"input": (0, 0), "l1": (0.3, 0), "l2": (5.0, 0.5), "l3": (7.0, pytest.approx(0.9))}
    with pytest.raises(InputError, match="not in graph"):
        decision.predicted_graph(g, k.assign(last_layer=["l2", "nope"]))


def test_repeatability_separates_a_run_wide_shift():
    c = synthetic_corpus(28)
    same = kpredict.repeatability(c, c)
    assert (same.mape == 0).all() and (same.median_ratio == 1).all()
    twice = kpredict.repeatability(c, c.assign(ms_adj=c.ms_adj * 2))
    assert np.allclose(twice.mape, 100) and np.allclose(twice.median_ratio, 2)
    assert np.allclose(twice.mape_run_shift_removed, 0)
    with pytest.raises(InputError, match="in common"):
        kpredict.repeatability(c, c.assign(config_id=c.config_id + 10_000))


@pytest.mark.slow  # 200-tree forests per kernel type, side and training set: 15–26 s
def test_decision_cost_on_a_network_never_trained_on():
    """End to end on SYNTHETIC timings: AlexNet's kernels are test rows only; the measured
    graph carries the same synthetic law per layer, so good predictions give (near) 0 regret."""
    from hybridlib import models
    from hybridlib.profiling import graphs

    m = models.alexnet()
    net = kernels.kernel_table(m, "alexnet")
    prof = synthetic_profile(net.to_dict("records"), seed=5)
    prof["config_id"] = prof["row"] + 10_000
    prof = prof.assign(source="alexnet", last_layer=[net.last_layer[r] for r in prof["row"]])
    c = pd.concat([synthetic_corpus(70).assign(call_overhead_ms=0.0), prof.drop(columns="row")], ignore_index=True)
    floor = decision.call_floor_ms(c)
    assert set(floor) == {"device", "cloud"} and 0 < floor["cloud"] < floor["device"]
    dev = prof[prof.side == "device"].set_index("last_layer")["ms_min"].to_dict()
    cl = prof[prof.side == "cloud"].set_index("last_layer")["ms_min"].to_dict()
    g = graphs.keras_graph(m, dev, cl)
    rg = decision.decision_cost(c, {"alexnet": g, "other": g}, methods=("rf",))
    assert set(rg.model) == {"alexnet"} and set(rg.train) == {"families", "other-family"}
    assert (rg.regret >= -1e-9).all() and len(rg) == 2 * len(decision.SCENARIOS) * len(partition.NETWORKS)
    # the graphs 09 executes: same structure, compute predicted, one per network with predictions
    pg = decision.predicted_graphs(c, {"alexnet": g, "other": g}, method="rf", train="other-family")
    assert set(pg) == {"alexnet"} and set(pg["alexnet"].ids) == set(g.ids)
    assert pg["alexnet"].edges == g.edges
    assert [n.device_ms for n in pg["alexnet"].nodes] != [n.device_ms for n in g.nodes]
    assert decision.predicted_graphs(c, {"alexnet": g}, method="rf", train="nothing") == {}


# ------------------------------------------------------------------------------ timing, sides, additive


def test_round_robin_autorange_loops_and_interleaves():
    """Loop counts follow the probe (capped), every sample is a loop, fns interleave per round."""
    import gc

    from hybridlib.profiling import timing

    calls: list[int] = []
    fns = [lambda i=i: calls.append(i) for i in range(3)]
    wall, cpu, loops = timing.round_robin_autorange(fns, repeats=2, warmup=1, min_sample_ms=1e6, max_loops=4)
    assert loops == [4, 4, 4]  # a no-op would need millions of calls to last 1e6 ms: capped
    assert all(len(w) == 2 for w in wall) and all(len(c) == 2 for c in cpu)
    assert calls.count(0) == 1 + 3 + 2 * 4  # warmup + 3 probes + repeats × loops
    timed = calls[3 * (1 + 3):]  # after each fn's warmup and probes: round 1 = 0000 1111 2222, round 2 again
    assert timed == ([0] * 4 + [1] * 4 + [2] * 4) * 2
    assert gc.isenabled()
    _, _, one = timing.round_robin_autorange(fns, repeats=1, warmup=0, min_sample_ms=0)
    assert one == [1, 1, 1]
    with pytest.raises(InputError, match="repeats"):
        timing.round_robin_autorange(fns, repeats=0, warmup=0)


def test_time_model_calls_columns_in_process():
    """The shared worker on two tiny kernels and the reference (in this process)."""
    from hybridlib.profiling import timing

    cfgs = [{"kernel_type": "relu", "h": 4, "w": 4, "c_in": 3, "c_out": 3},
            {"kernel_type": "fc", "h": 1, "w": 1, "c_in": 16, "c_out": 4}]
    rows = timing.time_model_calls((kernels.kernel_model, cfgs, 2, 1, 0.2, timing.REFERENCE_KERNEL))
    df = pd.DataFrame(rows)
    assert list(df.kernel_type) == ["relu", "fc"] and list(df.out_bytes) == [4 * 4 * 3 * 4, 16]
    for c in ("ms", "ms_min", "ms_net", "cpu_ms_min", "ref_ms", "ref_cpu_ms", "drift", "ms_adj", "loops"):
        assert np.isfinite(df[c]).all() and (df[c] >= 0).all(), c
    assert (df.ms_min <= df.ms).all() and (df.loops >= 1).all() and df.drift.median() == pytest.approx(1.0)
    assert (df.ms_adj > 0).all() and "_ratio" not in df


def test_profile_kernels_sides(monkeypatch):
    cfg = [{"kernel_type": "relu", "h": 4, "w": 4, "c_in": 3, "c_out": 3, "source": "x"}]
    with pytest.raises(InputError, match="sides"):
        kernels.profile_kernels(cfg, sides=("phone",))
    seen = {}

    def profile_kernels_tfjs(configs, repeats=7, warmup=2, cpu_throttle=4.0, reference=None):
        seen.update(configs=configs, throttle=cpu_throttle, reference=reference)
        return pd.DataFrame([{**c, "ms": 2.0, "ms_min": 1.5, "ms_net": 1.0, "call_overhead_ms": 0.5}
                             for c in configs])

    # no Chromium here: the browser side's timing function is replaced; its target is the
    # page's median sample (its fastest may have escaped the throttle)
    monkeypatch.setattr(kernels.kernels_tfjs, "profile_kernels_tfjs", profile_kernels_tfjs)
    monkeypatch.setattr(kernels.kernels_tfjs, "BROWSER_TARGET", "ms")
    df = kernels.profile_kernels(cfg, sides=("browser",), cpu_throttle=6.0)
    assert seen["throttle"] == 6.0 and "source" not in seen["configs"][0]  # only configuration fields
    assert seen["reference"] == kernels.REFERENCE_KERNEL  # the in-page drift reference, as native TF's
    assert list(df.side) == ["browser"] and list(df.row) == [0] and list(df.ms_adj) == [2.0]


def test_kernel_predictor_is_a_sklearn_regressor():
    """``clone``/``get_params`` round trip; the per-layer predictor is the same estimator class."""
    from sklearn.base import clone, is_regressor

    from hybridlib.profiling import estimator, predict

    est = kpredict.KernelLatencyPredictor("additive+rf", n_estimators=20, random_state=3)
    assert est.get_params() == {"method": "additive+rf", "n_estimators": 20, "learning_rate": 0.05,
                                "max_depth": 3, "random_state": 3}
    assert is_regressor(est) and isinstance(est, estimator.PerTypeLatencyRegressor)
    assert isinstance(predict.LayerLatencyPredictor(), estimator.PerTypeLatencyRegressor)
    c = synthetic_corpus(30)
    fitted = est.fit(c, c.ms_min)
    twin = clone(fitted)
    assert twin.get_params() == fitted.get_params() and not hasattr(twin, "models_")
    assert np.allclose(twin.fit(c, c.ms_min).predict(c), fitted.predict(c))  # same seed, same model
    twin.set_params(method="linear")
    assert twin.get_params()["method"] == "linear" and est.get_params()["method"] == "additive+rf"


def test_additive_predictor_recovers_the_law_per_type():
    """SYNTHETIC, noise-free: a different floor + time per FLOP + time per input byte for each
    of two kernel types; the ``additive`` method fits one law per type and recovers both."""
    cfgs = pd.DataFrame(kernels.random_kernel_configs(80, "emotion", seed=4, types=("conv-relu", "maxpool")))
    d = kpredict.derived(cfgs)
    conv = (cfgs.kernel_type == "conv-relu").to_numpy()
    y = np.where(conv, 0.3 + d["flops"] / 2e6 + d["in_bytes"] / 5e6, 0.05 + d["in_bytes"] / 1e7)
    est = kpredict.KernelLatencyPredictor("additive").fit(cfgs, y)
    assert est.models_["conv-relu"].coef_[:3] == pytest.approx([0.3, 1 / 2e6, 1 / 5e6], rel=1e-3)
    assert est.models_["maxpool"].coef_[0] == pytest.approx(0.05, rel=1e-3)
    assert np.allclose(est.predict(cfgs), y, rtol=1e-3)


def test_additive_law_recovers_floor_and_rates():
    """SYNTHETIC: ms = 0.3 + FLOPs at 2 GFLOP/s + input bytes at 5 GB/s, exactly."""
    cfgs = pd.DataFrame(kernels.random_kernel_configs(60, "emotion", seed=2, types=("conv-relu",)))
    d = kpredict.derived(cfgs)
    y = 0.3 + d["flops"].to_numpy() / 2e6 + d["in_bytes"].to_numpy() / 5e6
    m = kpredict.AdditiveLatency().fit(cfgs, y)
    assert (m.coef_ >= 0).all()
    assert m.coef_[0] == pytest.approx(0.3, rel=1e-3) and m.coef_[1] == pytest.approx(1 / 2e6, rel=1e-3)
    assert np.allclose(m.predict(cfgs), y, rtol=1e-3)


def test_methods_on_three_sides_and_additive_beats_linear():
    """kpredict is generic over the corpus' sides (a third, 'browser', 4× slower), and on
    SYNTHETIC floor + FLOPs + bytes latencies the additive law beats Neurosurgeon's linear."""
    c = synthetic_corpus()
    dev = c[c.side == "device"]
    c = pd.concat([c, dev.assign(side="browser", ms_min=dev.ms_min * 4, ms_adj=dev.ms_adj * 4)], ignore_index=True)
    ev = kpredict.evaluate_configs(c, methods=("additive", "additive+rf", "linear"), seeds=(0,))
    assert set(ev.side) == {"device", "cloud", "browser"}
    mean = ev.groupby("method")["mape"].mean()
    assert mean["additive"] < mean["linear"] / 2 and mean["additive+rf"] < mean["linear"]


def test_decision_cost_needs_its_sides():
    c = synthetic_corpus(28)
    with pytest.raises(InputError, match="browser"):
        decision.decision_cost(c, {}, device_side="browser")
    k = pd.DataFrame({"last_layer": ["a"], "side": ["browser"], "pred": [1.0]})
    with pytest.raises(InputError, match="'cloud'"):
        decision.kernel_costs(k, {}, device_side="browser")
    k2 = pd.concat([k, k.assign(side="cloud", pred=0.5)])
    got = decision.kernel_costs(k2, {"browser": 0.25}, device_side="browser")
    assert got.iloc[0].device_ms == 0.75 and got.iloc[0].cloud_ms == 0.5
