"""Per-layer-type latency predictors (Neurosurgeon §4) and a better default.

Neurosurgeon predicts each layer's latency from its configuration with one regression per
layer type, on few features (conv: (filter/stride)²·filters and input size; pooling:
input/output maps; dense: input/output neurons; activation/normalisation: neurons).
Re-implementations of that linear model miss by 40% to 2,000% (DESIGN §11), because
latency is neither linear in those features nor additive in them: it follows the FLOPs
(a *product* of sizes) and memory traffic, with a fixed per-call floor.

This module:

* draws a corpus of randomly configured layers (:func:`random_configs`) and times them on both
  sides with the kernel corpus' machinery (:func:`hybridlib.profiling.timing.time_on_sides`,
  :func:`profile_corpus`);
* :class:`LayerLatencyPredictor` — a :class:`~hybridlib.profiling.estimator.PerTypeLatencyRegressor`
  (scikit-learn: ``fit``/``predict``/``score``, ``get_params``/``set_params``/``clone``,
  parameters validated in ``fit`` with messages naming the bad value; sizes and FLOPs from
  :func:`hybridlib.profiling.geometry.derived`, shared with the kernel predictor) with one model
  per layer type: ``method="linear"`` is Neurosurgeon's (its features,
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
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridlib.profiling.estimator import PerTypeLatencyRegressor, mape
from hybridlib.profiling.geometry import column, derived
from hybridlib.profiling.timing import NATIVE_SIDES, time_on_sides
from hybridlib.utils import InputError, atomic_path

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


def keras_layer(cfg: dict[str, Any]) -> Any:
    """The Keras layer of one configuration (weights initialised when it is first called)."""
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


def input_shape(cfg: dict[str, Any]) -> tuple[int, ...]:
    """The input shape (batch left out) of one configuration's layer."""
    return (cfg["c_in"],) if cfg["type"] == "dense" else (cfg["h"], cfg["w"], cfg["c_in"])


def layer_model(cfg: dict[str, Any]) -> Any:
    """A Keras model of the one layer of ``cfg`` (what :func:`timing.time_model_calls` times)."""
    import tf_keras as keras

    inp = keras.Input(input_shape(cfg))
    return keras.Model(inp, keras_layer(cfg)(inp))


def profile_corpus(configs: list[dict[str, Any]], repeats: int = 5, warmup: int = 2,
                   sides: tuple[str, ...] = NATIVE_SIDES, min_sample_ms: float = 3.0) -> pd.DataFrame:
    """Time every configuration on each side (device: TF 1 thread; cloud: TF all cores) with
    :func:`timing.time_on_sides` (loops of calls lasting ≥ ``min_sample_ms``, interleaved), as
    the kernel corpus is timed; ``config_id`` is the position in ``configs``."""
    df = time_on_sides(layer_model, configs, sides, repeats, warmup, min_sample_ms)
    return df.rename(columns={"row": "config_id"})


# ------------------------------------------------------------------------------ features


def neurosurgeon_features(df: pd.DataFrame, layer_type: str) -> np.ndarray:
    """Neurosurgeon's regression variables for one layer type (its Table 2)."""
    d = derived(df)
    if layer_type == "conv":
        k, s = column(d, "kernel", 0), np.maximum(column(d, "stride", 1), 1)
        return np.c_[(k / s) ** 2 * column(d, "filters", 0), d["in_size"]]
    if layer_type == "pool":
        return np.c_[d["in_size"], d["out_size"]]
    if layer_type == "dense":
        return np.c_[column(d, "c_in", 0), column(d, "units", 0)]
    return np.c_[d["in_size"]]


def log_features(df: pd.DataFrame) -> np.ndarray:
    """log FLOPs, log input/output size, log weights: a power law in these is linear."""
    d = derived(df)
    return np.column_stack([np.log1p(d[c].to_numpy(float)) for c in ("flops", "in_size", "out_size", "weights")])


def rich_features(df: pd.DataFrame) -> np.ndarray:
    """All configuration fields plus log FLOPs, log in/out sizes and log weights."""
    d = derived(df)
    cols = [column(d, c, 0) for c in ("h", "w", "c_in", "kernel", "stride", "filters", "units")]
    pad = (d["padding"] == "same").to_numpy(float) if "padding" in d else np.zeros(len(d))
    logs = [np.log1p(d[c].to_numpy(float)) for c in ("flops", "in_size", "out_size", "weights")]
    return np.column_stack(cols + [pad] + logs)


# ------------------------------------------------------------------------------ estimator


class LayerLatencyPredictor(PerTypeLatencyRegressor):
    """One latency regression per layer type (:data:`TYPES`), scikit-learn style.

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

    type_column = "type"
    type_label = "layer type"
    known_types = TYPES
    methods = METHODS

    def __init__(self, method: str = "auto", n_estimators: int = 300, learning_rate: float = 0.05,
                 max_depth: int = 3, random_state: int | None = 0) -> None:
        super().__init__(method=method, n_estimators=n_estimators, learning_rate=learning_rate,
                         max_depth=max_depth, random_state=random_state)

    def design(self, X: pd.DataFrame, kind: str, type_: str) -> np.ndarray:
        if kind == "linear":
            return neurosurgeon_features(X, type_)
        if kind == "huber":
            return log_features(X)
        return rich_features(X)


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
