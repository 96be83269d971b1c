"""Per-layer-type latency predictors (Neurosurgeon §4) and a better default.

Neurosurgeon predicts each layer's latency from its configuration with one regression per
layer type, on few features (conv: (filter/stride)²·filters and input size; pooling:
input/output maps; dense: input/output neurons; activation/normalisation: neurons).
Re-implementations of that linear model miss by 40% to 2,000% (DESIGN §11), because
latency is neither linear in those features nor additive in them: it follows the FLOPs
(a *product* of sizes) and memory traffic, with a fixed per-call floor.

This module:

* draws a corpus of randomly configured layers (:func:`random_configs`) and times them with
  :mod:`hybridlib.profiling.profile`'s machinery on both sides (:func:`profile_corpus`);
* :class:`LayerLatencyPredictor` — a scikit-learn style estimator (``fit``/``predict``/
  ``score``, ``get_params``/``set_params``, parameters validated with messages naming the bad
  value) with one model per layer type: ``method="linear"`` is Neurosurgeon's (its features,
  ordinary least squares); ``"gbr"`` is gradient boosting on log latency with all config
  fields plus log-FLOPs and log-bytes; ``"huber"`` a robust power law in FLOPs and bytes;
  ``"rf"`` a random forest on the gbr features (nn-Meter's regressor; fused kernels are in
  :mod:`hybridlib.profiling.kernels` / :mod:`~hybridlib.profiling.kpredict`);
  ``"auto"`` (default) picks gbr or huber per layer type by cross-validation — the best on
  held-out configurations (:func:`evaluate`, ``benchmarks/bench_predict.py``).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib.profiling.profile import run_in_worker, time_model_calls
from hybridlib.utils import InputError, atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

TYPES = ("conv", "pool", "dense", "activation", "norm")
METHODS = ("auto", "gbr", "huber", "linear", "rf")
#: Keras class → predictor type
KERAS_TYPES = {"Conv2D": "conv", "MaxPooling2D": "pool", "AveragePooling2D": "pool", "Dense": "dense",
               "Activation": "activation", "ReLU": "activation", "BatchNormalization": "norm"}


# ------------------------------------------------------------------------------ configs


def random_configs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` random layer configurations, spread evenly over :data:`TYPES`.

    Sizes span what the emotion CNN and AlexNet contain (maps 2–56 px, 1–512 channels,
    dense 64–9216 inputs), drawn log-uniformly so small and large layers are both covered.
    """
    if n < len(TYPES) * 2:
        raise InputError(f"corpus size must be ≥ {len(TYPES) * 2} (two per layer type), got {n}")
    rng = np.random.default_rng(seed)

    def logint(lo: int, hi: int) -> int:
        return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))

    out = []
    for i in range(n):
        t = TYPES[i % len(TYPES)]
        hw = logint(3, 56)
        c = logint(1, 384)
        cfg: dict[str, Any] = {"type": t, "h": hw, "w": hw, "c_in": c}
        if t == "conv":
            k = int(rng.choice([1, 3, 5, 7, 11]))
            s = int(rng.choice([1, 1, 1, 2, 4])) if hw >= 12 else 1
            cfg.update(kernel=min(k, hw), stride=s, filters=logint(8, 384),
                       padding=str(rng.choice(["same", "valid"])))
        elif t == "pool":
            k = int(rng.choice([2, 3]))
            cfg.update(kernel=min(k, hw), stride=int(rng.choice([1, 2])) if hw > 3 else 1,
                       padding=str(rng.choice(["same", "valid"])))
        elif t == "dense":
            cfg = {"type": t, "h": 1, "w": 1, "c_in": logint(64, 9216), "units": logint(7, 4096)}
        out.append(cfg)
    return out


def _layer(cfg: dict[str, Any]) -> Any:
    import tf_keras as keras

    L = keras.layers
    t = cfg["type"]
    if t == "conv":
        return L.Conv2D(cfg["filters"], cfg["kernel"], strides=cfg["stride"], padding=cfg["padding"])
    if t == "pool":
        return L.MaxPooling2D(cfg["kernel"], strides=cfg["stride"], padding=cfg["padding"])
    if t == "dense":
        return L.Dense(cfg["units"])
    if t == "activation":
        return L.Activation("relu")
    if t == "norm":
        return L.BatchNormalization()
    raise InputError(f"unknown layer type {t!r}")


def _input_shape(cfg: dict[str, Any]) -> tuple[int, ...]:
    return (cfg["c_in"],) if cfg["type"] == "dense" else (cfg["h"], cfg["w"], cfg["c_in"])


def _layer_model(cfg: dict[str, Any]) -> Any:
    """A Keras model of the one layer of ``cfg`` (what :func:`profile.time_model_calls` times)."""
    import tf_keras as keras

    inp = keras.Input(_input_shape(cfg))
    return keras.Model(inp, _layer(cfg)(inp))


def profile_corpus(configs: list[dict[str, Any]], repeats: int = 5, warmup: int = 2,
                   sides: tuple[str, ...] = ("device", "cloud"), min_sample_ms: float = 3.0) -> pd.DataFrame:
    """Time every configuration on each side (device: TF 1 thread; cloud: TF all cores) with
    :func:`profile.time_model_calls` (loops of calls lasting ≥ ``min_sample_ms``, interleaved)."""


    frames = []
    for side in sides:
        threads = 1 if side == "device" else 0
        rows = run_in_worker(time_model_calls, (_layer_model, configs, repeats, warmup, min_sample_ms), threads)
        df = pd.DataFrame(rows)
        df["side"] = side
        df["config_id"] = range(len(df))
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------ features


def _num(df: pd.DataFrame, col: str, default: float = 0.0) -> np.ndarray:
    if col not in df:
        return np.full(len(df), default, float)
    return df[col].fillna(default).to_numpy(float)


def derived(df: pd.DataFrame) -> pd.DataFrame:
    """Output size, FLOPs and bytes of each configuration (columns added to a copy)."""
    d = df.copy()
    h, w, c = _num(d, "h", 1), _num(d, "w", 1), _num(d, "c_in", 1)
    k, s = _num(d, "kernel", 1), np.maximum(_num(d, "stride", 1), 1)
    same = (d["padding"] == "same").to_numpy() if "padding" in d else np.zeros(len(d), bool)
    ho = np.where(same, np.ceil(h / s), np.floor((h - k) / s) + 1)
    wo = np.where(same, np.ceil(w / s), np.floor((w - k) / s) + 1)
    t = d["type"].to_numpy()
    filters, units = _num(d, "filters", 0), _num(d, "units", 0)
    out_c = np.where(t == "conv", filters, c)
    ho = np.where(np.isin(t, ["conv", "pool"]), ho, h)
    wo = np.where(np.isin(t, ["conv", "pool"]), wo, w)
    d["out_h"], d["out_w"] = ho, wo
    d["in_size"] = h * w * c
    d["out_size"] = np.where(t == "dense", units, ho * wo * out_c)
    flops = np.select(
        [t == "conv", t == "pool", t == "dense"],
        [2 * ho * wo * filters * k * k * c, ho * wo * c * k * k, 2 * c * units],
        default=h * w * c)
    d["flops"] = flops
    d["weights"] = np.select([t == "conv", t == "dense", t == "norm"], [k * k * c * filters, c * units, 4 * c], 0)
    return d


def neurosurgeon_features(df: pd.DataFrame, layer_type: str) -> np.ndarray:
    """Neurosurgeon's regression variables for one layer type (its Table 2)."""
    d = derived(df)
    if layer_type == "conv":
        return np.c_[(_num(d, "kernel") / np.maximum(_num(d, "stride", 1), 1)) ** 2 * _num(d, "filters"),
                     d["in_size"]]
    if layer_type == "pool":
        return np.c_[d["in_size"], d["out_size"]]
    if layer_type == "dense":
        return np.c_[_num(d, "c_in"), _num(d, "units")]
    return np.c_[d["in_size"]]


def log_features(df: pd.DataFrame) -> np.ndarray:
    """log FLOPs, log input/output size, log weights: a power law in these is linear."""
    d = derived(df)
    return np.column_stack([np.log1p(d[c].to_numpy(float)) for c in ("flops", "in_size", "out_size", "weights")])


def rich_features(df: pd.DataFrame) -> np.ndarray:
    """All configuration fields plus log FLOPs, log in/out sizes and log weights."""
    d = derived(df)
    cols = [_num(d, c, 0) for c in ("h", "w", "c_in", "kernel", "stride", "filters", "units")]
    pad = (d["padding"] == "same").to_numpy(float) if "padding" in d else np.zeros(len(d))
    logs = [np.log1p(d[c].to_numpy(float)) for c in ("flops", "in_size", "out_size", "weights")]
    return np.column_stack(cols + [pad] + logs)


# ------------------------------------------------------------------------------ estimator


# ------------------------------------------------------------------------------ per-type models


def fit_per_type(X: pd.DataFrame, y: np.ndarray, col: str, what: str,
                 fit_one: Callable[[str, pd.DataFrame, np.ndarray], Any]) -> dict[str, Any]:
    """One model per value of ``X[col]`` (Neurosurgeon: one regression per layer type).

    Shared by the layer and the kernel predictors so both refuse a type with fewer than two
    samples the same way; ``fit_one(type, rows, targets)`` returns the fitted model.
    """
    models: dict[str, Any] = {}
    for t in sorted(set(X[col])):
        m = (X[col] == t).to_numpy()
        if m.sum() < 2:
            raise InputError(f"need at least 2 samples of {what} {t!r} to fit, got {int(m.sum())}")
        models[t] = fit_one(t, X[m].reset_index(drop=True), y[m])
    return models


def predict_per_type(X: pd.DataFrame, col: str, what: str, models: dict[str, Any],
                     predict_one: Callable[[str, pd.DataFrame], np.ndarray]) -> np.ndarray:
    """Route each row of ``X`` to its type's model; a type never fitted is an error, not a guess."""
    out = np.zeros(len(X))
    for t in sorted(set(X[col])):
        if t not in models:
            raise InputError(f"no model for {what} {t!r} (not in the training data)")
        m = (X[col] == t).to_numpy()
        out[m] = predict_one(t, X[m].reset_index(drop=True))
    return out


def _base_estimator() -> type:
    from sklearn.base import BaseEstimator

    return BaseEstimator


@dataclass(repr=False)
class LayerLatencyPredictor(_base_estimator()):
    """One latency regression per layer type, scikit-learn style.

    ``method``:

    * ``"linear"`` — Neurosurgeon: least squares on its per-type features (ms);
    * ``"gbr"`` — gradient boosting on log latency with all config fields + log FLOPs/sizes;
    * ``"rf"`` — random forest (nn-Meter's regressor) on log latency, same features as gbr;
    * ``"huber"`` — robust (Huber) regression of log latency on log FLOPs/sizes: a power law
      that extrapolates and shrugs off the latency spikes of a shared machine;
    * ``"auto"`` (default) — per layer type, whichever of gbr/huber has the lower 5-fold
      cross-validated MAPE on the training rows (``kinds_`` records the choice).

    ``fit(X, y)`` takes a DataFrame of configurations (with a ``type`` column, see
    :func:`random_configs`) and latencies in ms; ``predict(X)`` returns ms (never negative).
    """

    method: str = "auto"
    n_estimators: int = 300
    learning_rate: float = 0.05
    max_depth: int = 3
    random_state: int = 0

    def __post_init__(self) -> None:
        self._validate()
        self.models_: dict[str, Any] = {}
        self.kinds_: dict[str, str] = {}

    def _validate(self) -> None:
        """Check the parameters (again in ``fit``, as ``set_params`` may have changed them)."""
        if self.method not in METHODS:
            raise InputError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if not isinstance(self.n_estimators, int) or self.n_estimators < 1:
            raise InputError(f"n_estimators must be a positive int, got {self.n_estimators!r}")
        if not 0 < self.learning_rate <= 1:
            raise InputError(f"learning_rate must be in (0, 1], got {self.learning_rate!r}")
        if not isinstance(self.max_depth, int) or self.max_depth < 1:
            raise InputError(f"max_depth must be a positive int, got {self.max_depth!r}")

    def _check_X(self, X: pd.DataFrame) -> None:
        if "type" not in getattr(X, "columns", []):
            raise InputError("X must be a DataFrame of layer configurations with a 'type' column")
        bad = sorted(set(X["type"]) - set(TYPES))
        if bad:
            raise InputError(f"unknown layer type(s) {', '.join(map(repr, bad))}; known: {', '.join(TYPES)}")

    def _make(self, kind: str, n: int) -> Any:
        from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
        from sklearn.linear_model import HuberRegressor, LinearRegression

        if kind == "rf":
            return RandomForestRegressor(n_estimators=self.n_estimators, random_state=self.random_state, n_jobs=1)
        if kind == "linear":
            return LinearRegression()
        if kind == "huber":
            return HuberRegressor(max_iter=2000)
        return GradientBoostingRegressor(
            n_estimators=self.n_estimators, learning_rate=self.learning_rate, max_depth=self.max_depth,
            random_state=self.random_state, min_samples_leaf=max(1, min(3, n // 4)))

    @staticmethod
    def _features(kind: str, Xt: pd.DataFrame, t: str) -> np.ndarray:
        if kind == "linear":
            return neurosurgeon_features(Xt, t)
        if kind == "huber":
            return log_features(Xt)
        return rich_features(Xt)

    def _fit_one(self, kind: str, Xt: pd.DataFrame, t: str, yt: np.ndarray) -> Any:
        target = yt if kind == "linear" else np.log(np.maximum(yt, 1e-4))
        return self._make(kind, len(yt)).fit(self._features(kind, Xt, t), target)

    def _predict_one(self, kind: str, model: Any, Xt: pd.DataFrame, t: str) -> np.ndarray:
        p = model.predict(self._features(kind, Xt, t))
        return p if kind == "linear" else np.exp(p)

    def _choose(self, Xt: pd.DataFrame, t: str, yt: np.ndarray) -> str:
        """``auto``: the lower 5-fold cross-validated MAPE on the training rows of this type."""
        from sklearn.model_selection import KFold

        if len(yt) < 10:
            return "huber"
        best: tuple[float, str] | None = None
        for kind in ("gbr", "huber"):
            pred = np.zeros(len(yt))
            for tr, te in KFold(5, shuffle=True, random_state=self.random_state).split(Xt):
                mdl = self._fit_one(kind, Xt.iloc[tr].reset_index(drop=True), t, yt[tr])
                pred[te] = self._predict_one(kind, mdl, Xt.iloc[te].reset_index(drop=True), t)
            err = mape(yt, pred)
            if best is None or err < best[0]:
                best = (err, kind)
        return best[1]

    def fit(self, X: pd.DataFrame, y: Any) -> LayerLatencyPredictor:
        self._validate()
        self._check_X(X)
        y = np.asarray(y, float)
        if len(y) != len(X):
            raise InputError(f"X has {len(X)} rows but y has {len(y)}")
        if not np.all(np.isfinite(y)) or np.any(y < 0):
            raise InputError("y (latency ms) must be finite and ≥ 0")
        self.kinds_ = {}

        def fit_one(t: str, Xt: pd.DataFrame, yt: np.ndarray) -> Any:
            self.kinds_[t] = self._choose(Xt, t, yt) if self.method == "auto" else self.method
            return self._fit_one(self.kinds_[t], Xt, t, yt)

        self.models_ = fit_per_type(X, y, "type", "layer type", fit_one)
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not self.models_:
            raise InputError("predictor is not fitted: call fit(X, y) first")
        self._check_X(X)
        out = predict_per_type(X, "type", "layer type", self.models_,
                               lambda t, Xt: self._predict_one(self.kinds_[t], self.models_[t], Xt, t))
        return np.maximum(out, 0.0)

    def score(self, X: pd.DataFrame, y: Any) -> float:
        """Negative MAPE (higher is better, like scikit-learn scores)."""
        return -mape(np.asarray(y, float), self.predict(X))


def mape(y_true: np.ndarray, y_pred: np.ndarray, floor_ms: float = 1e-3) -> float:
    """Mean absolute percentage error in %, with a floor so sub-µs layers do not explode it."""
    y_true = np.asarray(y_true, float)
    return float(np.mean(np.abs(y_pred - y_true) / np.maximum(np.abs(y_true), floor_ms)) * 100)


def evaluate(corpus: pd.DataFrame, test_size: float = 0.25, seed: int = 0,
             methods: tuple[str, ...] = METHODS, target: str = "ms") -> pd.DataFrame:
    """Held-out MAPE per method × side × layer type (split by configuration, stratified by type).

    ``target`` is the latency column: ``ms`` (median of repeats per call) or ``ms_min``
    (fastest repeat — on a shared machine the better estimate of a layer's own cost, since
    other processes only ever add time).
    """
    from sklearn.model_selection import train_test_split

    if not 0 < test_size < 1:
        raise InputError(f"test_size must be in (0, 1), got {test_size}")
    if target not in corpus:
        raise InputError(f"corpus has no column {target!r}")
    rows = []
    for side, df in corpus.groupby("side"):
        df = df.reset_index(drop=True)
        tr, te = train_test_split(np.arange(len(df)), test_size=test_size, random_state=seed,
                                  stratify=df["type"])
        for method in methods:
            est = LayerLatencyPredictor(method=method).fit(df.iloc[tr], df[target].iloc[tr])
            pred = est.predict(df.iloc[te].reset_index(drop=True))
            test = df.iloc[te].reset_index(drop=True).assign(pred=pred)
            for t, g in test.groupby("type"):
                rows.append({"side": side, "method": method, "type": t, "n_test": len(g), "target": target,
                             "mape": mape(g[target].to_numpy(), g["pred"].to_numpy())})
    return pd.DataFrame(rows)


def configs_from_keras(model: Any) -> pd.DataFrame:
    """Predictor configurations of a Keras model's layers (types the predictor knows)."""
    import tf_keras as keras

    rows = []
    for l in model.layers:
        t = KERAS_TYPES.get(type(l).__name__)
        if t is None or (t == "activation" and getattr(l, "activation", None) is not keras.activations.relu):
            continue
        ishape = l.input_shape[0] if isinstance(l.input_shape, list) else l.input_shape
        if t == "dense":
            cfg = {"type": t, "h": 1, "w": 1, "c_in": int(ishape[-1]), "units": int(l.units)}
        else:
            cfg = {"type": t, "h": int(ishape[1]), "w": int(ishape[2]), "c_in": int(ishape[3])}
            if t == "conv":
                cfg.update(kernel=int(l.kernel_size[0]), stride=int(l.strides[0]), filters=int(l.filters),
                           padding=l.padding)
            elif t == "pool":
                cfg.update(kernel=int(l.pool_size[0]), stride=int(l.strides[0]), padding=l.padding)
        rows.append({"layer": l.name, **cfg})
    return pd.DataFrame(rows)


def ensure_corpus(ctx: Any, refresh: bool = False) -> pd.DataFrame:
    """The preset's profiled corpus (``Preset.predictor_corpus`` configs), cached in artifacts_dir."""



    path = Path(ctx.artifacts_dir) / "predictor_corpus.parquet"
    if path.is_file() and not refresh:
        return pd.read_parquet(path)
    df = profile_corpus(random_configs(ctx.preset.predictor_corpus, seed=0),
                        repeats=ctx.preset.profile_repeats, warmup=2)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return df


def layer_predictions(corpus: pd.DataFrame, measured: pd.DataFrame, configs: pd.DataFrame,
                      methods: tuple[str, ...] = ("auto", "linear"),
                      sides: tuple[str, ...] = ("device", "cloud")) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fit each method on the whole corpus of one side and predict a real network's layers.

    ``corpus``: the profiled configurations (``side``, feature columns, ``ms``); ``measured``:
    that network's per-layer profile (``side``, ``layer``, ``ms_raw``); ``configs``: its layer
    configurations (:func:`configs_from_keras`). The network's layers are configurations the
    predictor never saw, which is how Neurosurgeon uses it. Returns the per-layer table
    (``predicted_ms``, ``measured_ms``) and its MAPE per side and method.
    """

    rows = []
    for side in sides:
        c = corpus[corpus.side == side]
        meas = measured[measured.side == side].set_index("layer")
        if c.empty or meas.empty:
            raise InputError(f"no {side!r} rows in the corpus or the measured profile")
        for method in methods:
            est = LayerLatencyPredictor(method=method).fit(c, c["ms"])
            rows.append(configs.assign(side=side, method=method, predicted_ms=est.predict(configs),
                                       measured_ms=configs["layer"].map(meas["ms_raw"]).to_numpy()))
    pm = pd.concat(rows, ignore_index=True)
    err = (pm.groupby(["side", "method"])
           .apply(lambda g: mape(g.measured_ms.to_numpy(), g.predicted_ms.to_numpy()), include_groups=False)
           .rename("mape").reset_index())
    return pm, err
