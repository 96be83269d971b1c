"""One latency regression per layer or kernel type: the estimator both predictors are.

Neurosurgeon fits one regression per *layer* type, nn-Meter one per fused *kernel* type; the
per-layer predictor (:class:`hybridlib.profiling.predict.LayerLatencyPredictor`) and the
per-kernel one (:class:`hybridlib.profiling.kpredict.KernelLatencyPredictor`) are both
:class:`PerTypeLatencyRegressor`, differing only in their type column and vocabulary, the
methods they offer and each method's features. What they share, here:

* the scikit-learn contract (``BaseEstimator`` + ``RegressorMixin``): ``get_params`` /
  ``set_params`` / ``clone`` work; the constructor only stores its arguments and ``fit``
  validates them, raising :class:`~hybridlib.utils.InputError` naming the bad value;
  ``fit(X, y)`` takes a DataFrame of configurations and latencies in ms, ``predict`` returns ms,
  ``score`` is the negative MAPE (higher is better, as scikit-learn scores are);
* one model per type (:func:`fit_per_type` / :func:`predict_per_type`): a type with fewer than
  two samples is refused, a type never fitted is an error, not a guess;
* the regressions (:func:`make_regressor`): ``linear`` is Neurosurgeon's least squares in ms;
  ``huber``, ``gbr`` and ``rf`` are fitted on *log* latency (latencies span four orders of
  magnitude; errors that matter are relative); a subclass may add *direct* methods whose model
  takes the configuration DataFrame and predicts ms itself (the kernel predictor's additive law);
* ``method="auto"`` where a subclass offers it: per type, the candidate with the lower
  cross-validated MAPE on the training rows (``kinds_`` records the choice).
"""
from __future__ import annotations

import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from hybridlib.utils import InputError

#: the regressions :func:`make_regressor` builds
REGRESSORS = ("gbr", "rf", "huber", "linear")
#: below this a latency is read as this when its log is taken (a sub-0.1 µs time is noise)
LOG_FLOOR_MS = 1e-4


def mape(y_true: Any, y_pred: Any, floor_ms: float = 1e-3) -> float:
    """Mean absolute percentage error in %, with a floor so sub-µs latencies do not explode it."""
    y_true = np.asarray(y_true, float)
    return float(np.mean(np.abs(np.asarray(y_pred, float) - y_true) / np.maximum(np.abs(y_true), floor_ms)) * 100)


def metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """MAPE and RMSPE (%), and the share (%) of predictions within ±10% of the measurement
    (nn-Meter's headline metric)."""
    y, p = np.asarray(y_true, float), np.asarray(y_pred, float)
    if y.shape != p.shape or not len(y):
        raise InputError(f"y_true and y_pred must be equal-length and non-empty, got {y.shape} and {p.shape}")
    rel = (p - y) / np.maximum(np.abs(y), 1e-6)
    return {"mape": float(np.mean(np.abs(rel)) * 100), "rmspe": float(np.sqrt(np.mean(rel ** 2)) * 100),
            "within10": float(np.mean(np.abs(rel) <= 0.10) * 100), "n": int(len(y))}


def make_regressor(kind: str, n: int, n_estimators: int, learning_rate: float, max_depth: int,
                   random_state: int | None) -> Any:
    """An unfitted scikit-learn regressor of ``kind`` (:data:`REGRESSORS`) for ``n`` samples.

    ``rf`` is nn-Meter's random forest; ``gbr`` gradient boosting with leaves of ≥ 3 samples
    where there are enough; ``huber`` a robust linear fit (on log sizes: a power law that shrugs
    off the latency spikes of a shared machine); ``linear`` ordinary least squares.
    """
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.linear_model import HuberRegressor, LinearRegression

    if kind == "rf":
        return RandomForestRegressor(n_estimators=n_estimators, random_state=random_state, n_jobs=1)
    if kind == "gbr":
        return GradientBoostingRegressor(n_estimators=n_estimators, learning_rate=learning_rate,
                                         max_depth=max_depth, random_state=random_state,
                                         min_samples_leaf=max(1, min(3, n // 4)))
    if kind == "huber":
        return HuberRegressor(max_iter=2000)
    if kind == "linear":
        return LinearRegression()
    raise InputError(f"regressor kind must be one of {', '.join(REGRESSORS)}, got {kind!r}")


def fit_per_type(X: pd.DataFrame, y: np.ndarray, col: str, what: str,
                 fit_one: Callable[[str, pd.DataFrame, np.ndarray], Any]) -> dict[str, Any]:
    """One model per value of ``X[col]``; ``fit_one(type, rows, targets)`` returns it fitted."""
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


def _positive_int(name: str, v: Any) -> None:
    if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < 1:
        raise InputError(f"{name} must be a positive int, got {v!r}")


class PerTypeLatencyRegressor(RegressorMixin, BaseEstimator):
    """One latency regression per configuration type (module docstring).

    Subclasses set the class attributes and :meth:`design` (and :meth:`make_direct` for direct
    methods), and declare their own ``__init__`` with the parameters below and their defaults
    (scikit-learn reads the parameters from that signature).
    """

    #: the column holding each row's type, how to call it in messages, and the types known
    type_column: ClassVar[str] = "type"
    type_label: ClassVar[str] = "type"
    known_types: ClassVar[tuple[str, ...]] = ()
    #: the values ``method`` may take
    methods: ClassVar[tuple[str, ...]] = REGRESSORS
    #: what ``method="auto"`` chooses among per type, and what it takes below ``auto_min_rows``
    auto_candidates: ClassVar[tuple[str, ...]] = ("gbr", "huber")
    auto_fallback: ClassVar[str] = "huber"
    auto_min_rows: ClassVar[int] = 10
    #: methods whose model takes the configuration DataFrame and predicts ms itself
    direct_methods: ClassVar[tuple[str, ...]] = ()
    #: whether a latency of 0 may be learnt (else every y must be > 0), and the least prediction
    allow_zero: ClassVar[bool] = True
    floor_ms: ClassVar[float] = 0.0
    #: the latency below which :meth:`score`'s MAPE stops dividing by the measurement
    score_floor_ms: ClassVar[float] = 1e-3

    def __init__(self, method: str = "auto", n_estimators: int = 300, learning_rate: float = 0.05,
                 max_depth: int = 3, random_state: int | None = 0) -> None:
        self.method = method
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_depth = max_depth
        self.random_state = random_state

    # ---------------------------------------------------------------- hooks

    def design(self, X: pd.DataFrame, kind: str, type_: str) -> np.ndarray:
        """The design matrix of method ``kind`` for rows ``X``, all of type ``type_``."""
        raise NotImplementedError

    def make_direct(self, kind: str, n: int) -> Any:
        """An unfitted model of a direct method (fitted on the DataFrame, predicting ms)."""
        raise NotImplementedError

    # ---------------------------------------------------------------- checks

    def check_params(self) -> None:
        """Validate the parameters (in ``fit``: ``set_params`` may have changed them)."""
        if self.method not in self.methods:
            raise InputError(f"method must be one of {', '.join(self.methods)}, got {self.method!r}")
        _positive_int("n_estimators", self.n_estimators)
        _positive_int("max_depth", self.max_depth)
        lr = self.learning_rate
        if not (isinstance(lr, numbers.Real) and not isinstance(lr, bool) and 0 < lr <= 1):
            raise InputError(f"learning_rate must be in (0, 1], got {lr!r}")
        rs = self.random_state
        if rs is not None and (not isinstance(rs, numbers.Integral) or isinstance(rs, bool) or rs < 0):
            raise InputError(f"random_state must be None or an int ≥ 0, got {rs!r}")

    def check_X(self, X: Any) -> None:
        """``X`` must be a DataFrame with the type column, holding known types only."""
        col = self.type_column
        if col not in getattr(X, "columns", []):
            raise InputError(f"X must be a DataFrame of {self.type_label.split()[0]} configurations "
                             f"with a {col!r} column")
        bad = sorted(set(X[col]) - set(self.known_types))
        if bad:
            raise InputError(f"unknown {self.type_label}(s) {', '.join(map(repr, bad))}; "
                             f"known: {', '.join(self.known_types)}")

    def check_y(self, X: pd.DataFrame, y: Any) -> np.ndarray:
        y = np.asarray(y, float)
        if len(y) != len(X):
            raise InputError(f"X has {len(X)} rows but y has {len(y)}")
        if not np.all(np.isfinite(y)):
            raise InputError("y (latency ms) must be finite")
        if self.allow_zero and np.any(y < 0):
            raise InputError("y (latency ms) must be finite and ≥ 0")
        if not self.allow_zero and np.any(y <= 0):
            raise InputError("y (latency ms) must be finite and > 0")
        return y

    # ---------------------------------------------------------------- one type, one kind

    def fit_kind(self, kind: str, Xt: pd.DataFrame, type_: str, yt: np.ndarray) -> Any:
        """Method ``kind`` fitted on the rows of one type (log latency except ``linear``)."""
        if kind in self.direct_methods:
            return self.make_direct(kind, len(yt)).fit(Xt, yt)
        target = yt if kind == "linear" else np.log(np.maximum(yt, LOG_FLOOR_MS))
        model = make_regressor(kind, len(yt), self.n_estimators, self.learning_rate, self.max_depth,
                               self.random_state)
        return model.fit(self.design(Xt, kind, type_), target)

    def predict_kind(self, kind: str, model: Any, Xt: pd.DataFrame, type_: str) -> np.ndarray:
        if kind in self.direct_methods:
            return np.asarray(model.predict(Xt), float)
        p = model.predict(self.design(Xt, kind, type_))
        return p if kind == "linear" else np.exp(p)

    def choose(self, Xt: pd.DataFrame, type_: str, yt: np.ndarray) -> str:
        """``auto``: the candidate with the lower 5-fold cross-validated MAPE on these rows."""
        from sklearn.model_selection import KFold

        if len(yt) < self.auto_min_rows:
            return self.auto_fallback
        best: tuple[float, str] | None = None
        for kind in self.auto_candidates:
            pred = np.zeros(len(yt))
            for tr, te in KFold(5, shuffle=True, random_state=self.random_state).split(Xt):
                mdl = self.fit_kind(kind, Xt.iloc[tr].reset_index(drop=True), type_, yt[tr])
                pred[te] = self.predict_kind(kind, mdl, Xt.iloc[te].reset_index(drop=True), type_)
            err = mape(yt, pred)
            if best is None or err < best[0]:
                best = (err, kind)
        return best[1]

    # ---------------------------------------------------------------- scikit-learn API

    def fit(self, X: pd.DataFrame, y: Any) -> PerTypeLatencyRegressor:
        self.check_params()
        self.check_X(X)
        y = self.check_y(X, y)
        kinds: dict[str, str] = {}

        def fit_one(t: str, Xt: pd.DataFrame, yt: np.ndarray) -> Any:
            kinds[t] = self.choose(Xt, t, yt) if self.method == "auto" else self.method
            return self.fit_kind(kinds[t], Xt, t, yt)

        self.models_ = fit_per_type(X, y, self.type_column, self.type_label, fit_one)
        self.kinds_ = kinds
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if not getattr(self, "models_", None):
            raise InputError("predictor is not fitted: call fit(X, y) first")
        self.check_X(X)
        out = predict_per_type(X, self.type_column, self.type_label, self.models_,
                               lambda t, Xt: self.predict_kind(self.kinds_[t], self.models_[t], Xt, t))
        return np.maximum(out, self.floor_ms)

    def score(self, X: pd.DataFrame, y: Any, sample_weight: Any = None) -> float:
        """Negative MAPE in % (higher is better, like scikit-learn scores); no sample weights."""
        if sample_weight is not None:
            raise InputError("score takes no sample_weight")
        return -mape(y, self.predict(X), self.score_floor_ms)
