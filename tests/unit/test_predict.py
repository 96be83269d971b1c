"""Per-layer-type predictors: features, estimator contract, held-out evaluation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridlib.profiling import predict
from hybridlib.utils import InputError


def synthetic_corpus(n: int = 150, noise: float = 0.05, seed: int = 0) -> pd.DataFrame:
    """A corpus whose latency is a known function of FLOPs (no TF needed)."""
    cfgs = pd.DataFrame(predict.random_configs(n, seed=seed))
    d = predict.derived(cfgs)
    rng = np.random.default_rng(seed)
    base = 0.05 + d["flops"].to_numpy() / 2e9 * 1000 + d["in_size"].to_numpy() * 4 / 1e10 * 1000
    frames = []
    for side, speed in (("device", 1.0), ("cloud", 3.0)):
        ms = base / speed * np.exp(rng.normal(0, noise, len(base)))
        frames.append(cfgs.assign(side=side, ms=ms, ms_min=ms * 0.95, config_id=range(n)))
    return pd.concat(frames, ignore_index=True)


def test_random_configs_cover_types_and_are_deterministic():
    a, b = predict.random_configs(50, seed=3), predict.random_configs(50, seed=3)
    assert a == b
    assert {c["type"] for c in a} == set(predict.TYPES)
    with pytest.raises(InputError, match="corpus size"):
        predict.random_configs(3)


def test_derived_conv_shapes_and_flops():
    df = pd.DataFrame([{"type": "conv", "h": 48, "w": 48, "c_in": 1, "kernel": 3, "stride": 1,
                        "filters": 32, "padding": "same"},
                       {"type": "conv", "h": 227, "w": 227, "c_in": 3, "kernel": 11, "stride": 4,
                        "filters": 96, "padding": "valid"},
                       {"type": "dense", "h": 1, "w": 1, "c_in": 1024, "units": 512}])
    d = predict.derived(df)
    assert list(d["out_h"][:2]) == [48, 55]  # AlexNet conv1: (227-11)/4+1 = 55
    assert d["flops"][0] == 2 * 48 * 48 * 32 * 9 * 1
    assert d["flops"][2] == 2 * 1024 * 512 + 512 and d["out_size"][2] == 512  # multiply-adds + bias
    assert d["weights"][0] == 3 * 3 * 1 * 32 + 32 and d["weights"][2] == 1024 * 512 + 512


def test_neurosurgeon_features_match_paper():
    df = pd.DataFrame([{"type": "conv", "h": 12, "w": 12, "c_in": 8, "kernel": 3, "stride": 1,
                        "filters": 16, "padding": "same"}])
    f = predict.neurosurgeon_features(df, "conv")
    assert f.tolist() == [[9 * 16, 12 * 12 * 8]]


@pytest.mark.parametrize("method", predict.METHODS)
def test_fit_predict_contract(method):
    """Fit on 3/4 of the configurations; on the held-out 1/4 the predictor must clearly beat
    constant predictors fitted on the same rows, and ``score`` must be −MAPE of ``predict``."""
    c = synthetic_corpus()
    dev = c[c.side == "device"].reset_index(drop=True)
    held_out = (dev["config_id"] % 4 == 0).to_numpy()
    tr, te = dev[~held_out].reset_index(drop=True), dev[held_out].reset_index(drop=True)
    est = predict.LayerLatencyPredictor(method=method, n_estimators=60).fit(tr, tr["ms"])
    pred = est.predict(te)
    y = te["ms"].to_numpy()
    assert pred.shape == (len(te),) and np.all(pred >= 0)
    err = predict.mape(y, pred)
    assert est.score(te, te["ms"]) == pytest.approx(-err)
    # Latencies span 4 orders of magnitude, so the training mean is a terrible guess (~8,700 %
    # MAPE here); every method, Neurosurgeon's linear one included, must be 5× better.
    const_mean = predict.mape(y, np.full(len(y), tr["ms"].mean()))
    assert err < 0.2 * const_mean, (err, const_mean)
    if method != "linear":
        # The training median is the best single constant for MAPE (~49 % here); the log-space
        # models must still cut its error by well over a quarter (measured 21–27 %).
        const_median = predict.mape(y, np.full(len(y), tr["ms"].median()))
        assert err < 0.7 * const_median, (err, const_median)


@pytest.mark.slow  # 300-tree boosting with 5-fold CV per type and side: 15–60 s
def test_gbr_beats_linear_on_held_out_and_is_accurate():
    ev = predict.evaluate(synthetic_corpus(200, noise=0.03), test_size=0.25, seed=0,
                          methods=("auto", "gbr", "linear"))
    mean = ev.groupby("method")["mape"].mean()
    assert mean["gbr"] < mean["linear"] and mean["auto"] < mean["linear"]
    assert mean["auto"] < 25  # a smooth law with 3% noise must be predicted well
    c = synthetic_corpus(100)
    est = predict.LayerLatencyPredictor(n_estimators=50).fit(c, c["ms"])
    assert est.method == "auto" and set(est.kinds_.values()) <= {"gbr", "huber"}
    assert set(ev["type"]) == set(predict.TYPES) and set(ev["side"]) == {"device", "cloud"}


def test_evaluate_min_target():
    ev = predict.evaluate(synthetic_corpus(100), target="ms_min", methods=("huber", "linear"))
    assert (ev["target"] == "ms_min").all()
    with pytest.raises(InputError, match="no column 'nope'"):
        predict.evaluate(synthetic_corpus(100), target="nope")


@pytest.mark.parametrize("kw,msg", [({"method": "svm"}, "method"), ({"n_estimators": 0}, "n_estimators"),
                                    ({"learning_rate": 2.0}, "learning_rate"), ({"max_depth": 0}, "max_depth")])
def test_params_validated(kw, msg):
    """scikit-learn's contract: the constructor only stores, ``fit`` names the bad value."""
    est = predict.LayerLatencyPredictor(**kw)
    assert est.get_params()[next(iter(kw))] == next(iter(kw.values()))
    c = synthetic_corpus(50)
    with pytest.raises(InputError, match=f"{msg}.*got {next(iter(kw.values()))!r}"):
        est.fit(c, c["ms"])


def test_sklearn_params_and_clone():
    from sklearn.base import clone, is_regressor

    est = predict.LayerLatencyPredictor(method="linear", max_depth=4)
    assert est.get_params() == {"method": "linear", "n_estimators": 300, "learning_rate": 0.05,
                                "max_depth": 4, "random_state": 0}
    assert is_regressor(est)
    c = clone(est)
    assert c.get_params() == est.get_params() and c is not est
    fitted = clone(est).fit(synthetic_corpus(50), synthetic_corpus(50)["ms"])
    again = clone(fitted)  # a clone is unfitted, with the same parameters
    assert again.get_params() == fitted.get_params() and not hasattr(again, "models_")
    assert predict.LayerLatencyPredictor(**est.get_params()).get_params() == est.get_params()
    est.set_params(learning_rate=5.0)
    c = synthetic_corpus(50)
    with pytest.raises(InputError, match="learning_rate"):
        est.fit(c, c["ms"])


def test_bad_inputs():
    c = synthetic_corpus(50)
    est = predict.LayerLatencyPredictor()
    with pytest.raises(InputError, match="not fitted"):
        est.predict(c)
    with pytest.raises(InputError, match="'type' column"):
        est.fit(pd.DataFrame({"h": [1, 2]}), [1, 2])
    with pytest.raises(InputError, match="rows"):
        est.fit(c, [1.0, 2.0])
    bad = c.copy()
    bad.loc[0, "type"] = "lstm"
    with pytest.raises(InputError, match="'lstm'"):
        est.fit(bad, bad["ms"])
    with pytest.raises(InputError, match="finite"):
        est.fit(c, np.r_[np.nan, c["ms"].to_numpy()[1:]])


def test_configs_from_keras_emotion_cnn():
    from hybridlib import models

    cfg = predict.configs_from_keras(models.emotion_cnn())
    assert set(cfg["type"]) == set(predict.TYPES)
    first = cfg[cfg.layer == "conv1_1"].iloc[0]
    assert (first.h, first.c_in, first.filters, first.kernel) == (48, 1, 32, 3)
    assert cfg[cfg.layer == "predictions"].iloc[0].units == 7


def _dense_rows(n: int = 120, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"type": "dense", "h": 1, "w": 1, "c_in": rng.integers(64, 4096, n),
                         "units": rng.integers(8, 2048, n)})


def test_linear_recovers_neurosurgeon_law_exactly():
    """SYNTHETIC, noise-free: dense layers cost 0.02 ms + 1e-5 ms per input + 2e-4 ms per unit,
    a law in Neurosurgeon's dense features: least squares must return its coefficients."""
    X = _dense_rows()
    y = 0.02 + 1e-5 * X["c_in"].to_numpy() + 2e-4 * X["units"].to_numpy()
    est = predict.LayerLatencyPredictor(method="linear").fit(X, y)
    m = est.models_["dense"]
    assert m.intercept_ == pytest.approx(0.02, rel=1e-6)
    assert m.coef_ == pytest.approx([1e-5, 2e-4], rel=1e-6)


def test_huber_recovers_a_power_law_on_unseen_configs():
    """SYNTHETIC, noise-free: dense layers cost 3e-7 ms × c_in × units (time per multiply-add),
    a power law in the sizes: the Huber fit on log sizes must predict configurations it never
    saw to within 1%."""
    X = _dense_rows()
    y = 3e-7 * X["c_in"].to_numpy() * X["units"].to_numpy()
    est = predict.LayerLatencyPredictor(method="huber").fit(X[:90], y[:90])
    assert est.kinds_ == {"dense": "huber"}
    assert predict.mape(y[90:], est.predict(X[90:].reset_index(drop=True))) < 1.0
