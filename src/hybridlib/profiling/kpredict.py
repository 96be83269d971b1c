"""Kernel latency predictors (nn-Meter style), their held-out error and adaptive sampling.

The unit predicted is the fused *kernel* (:mod:`hybridlib.profiling.kernels`), the runtime's
scheduling unit, so predictions add up to a model the way its execution does. Per kernel
type one regression on configuration features:

* ``method="rf"`` — nn-Meter's choice: a random forest on log latency with the
  configuration (input H/W, Cin, Cout, kernel, stride) plus FLOPs, parameters, bytes
  moved, in/out sizes and arithmetic intensity (:func:`features`). Trees capture the steps
  and cliffs of real kernels (cache sizes, im2col thresholds, vector widths) that no smooth
  law does — but cannot extrapolate past the training range, which the cross-family
  evaluation exposes, and need many samples per type;
* ``"additive"`` — a per-call floor plus non-negative time per FLOP and per byte read and
  written, fitted on relative error (:class:`AdditiveLatency`): few parameters, so it
  learns from the few dozen kernels per type a quick corpus has, and extrapolates;
* ``"additive+rf"`` — the additive law times a forest's correction (:class:`AdditiveForest`);
* ``"linear"`` — Neurosurgeon: least squares on its per-type features, in ms;
* ``"huber"`` — a robust power law in FLOPs, bytes and parameters (extrapolates);
* ``"gbr"`` — gradient boosting on the same features as ``rf``.

The estimator is :class:`~hybridlib.profiling.estimator.PerTypeLatencyRegressor`, as the
per-layer predictor's is; sizes, FLOPs and bytes come from
:func:`hybridlib.profiling.geometry.derived`. Evaluation (:func:`evaluate_configs`, :func:`evaluate_networks`) gives MAPE, RMSPE and the
share within ±10% (nn-Meter's headline metric) per kernel type and side, on held-out
configurations and on whole networks whose kernels were never trained on.
:func:`adaptive_sampling` is nn-Meter's loop: find configurations predicted with > 10%
error (out of fold), sample new ones near them, profile, refit.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from hybridlib.profiling.estimator import PerTypeLatencyRegressor, metrics
from hybridlib.profiling.geometry import derived
from hybridlib.profiling.kernel_space import KERNEL_TYPES
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

METHODS = ("rf", "additive", "additive+rf", "gbr", "huber", "linear")
#: the features nn-Meter's random forests use (after :func:`geometry.derived`), plus in/out sizes
#: and arithmetic intensity (FLOPs per byte moved: compute- vs memory-bound)
RF_FEATURES = ("h", "w", "c_in", "c_out", "kernel", "stride", "flops", "params", "bytes", "in_size", "out_size",
               "intensity")
#: the additive model's terms: a per-call floor plus time per FLOP and per byte read/written
ADDITIVE_TERMS = ("flops", "in_bytes", "out_bytes", "weight_bytes")
FAMILY_SOURCES = ("emotion-family", "alexnet-family")
#: the corpus column predicted by default: the fastest per-call time, on a single-threaded
#: side in CPU time corrected for the machine's drift (see :func:`timing.time_model_calls`)
TARGET = "ms_adj"
#: network → the family drawn around it (the *other* family never saw its sizes)
NETWORK_FAMILY = {"emotion_cnn": "emotion-family", "alexnet": "alexnet-family"}


# ------------------------------------------------------------------------------ features


def features(df: pd.DataFrame, kind: str) -> np.ndarray:
    """Design matrix of one method: nn-Meter's (rf, gbr), Neurosurgeon's (linear), the
    additive model's terms or log sizes (huber)."""
    d = derived(df)
    if kind in ("rf", "gbr"):
        return np.column_stack([d[c].to_numpy(float) for c in RF_FEATURES])
    if kind == "additive":
        return np.column_stack([d[c].to_numpy(float) for c in ADDITIVE_TERMS])
    if kind == "huber":
        return np.column_stack([np.log1p(d[c].to_numpy(float)) for c in ("flops", "bytes", "params", "in_size",
                                                                          "out_size")])
    t = str(d["kernel_type"].iloc[0]) if len(d) else ""
    if t.startswith("conv"):  # Neurosurgeon Table 2: (filter/stride)²·filters, input size
        return np.c_[(d["kernel"].to_numpy(float) / np.maximum(d["stride"].to_numpy(float), 1)) ** 2
                     * d["c_out"].to_numpy(float), d["in_size"]]
    if t.startswith("fc"):
        return np.c_[d["c_in"], d["c_out"]]
    if t in ("maxpool", "avgpool", "global-avgpool"):
        return np.c_[d["in_size"], d["out_size"]]
    return np.c_[d["in_size"]]


class AdditiveLatency:
    """``ms = floor + Σ_j c_j · term_j`` over :data:`ADDITIVE_TERMS` (FLOPs, input, output and
    weight bytes), every coefficient ≥ 0, fitted to minimise the *relative* squared error.

    Why: a kernel call pays a fixed floor (dispatch, argument conversion) and then time per
    FLOP and per byte moved; non-negative coefficients keep the law physical, so it
    extrapolates to sizes outside the training range (where trees cannot), and relative
    weighting stops the few slow kernels from deciding the fit for the many fast ones, as
    they do in Neurosurgeon's least squares in ms. Works on a DataFrame of configurations.
    """

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> AdditiveLatency:
        from scipy.optimize import nnls

        A = np.c_[np.ones(len(X)), features(X, "additive")]
        scale = np.where(A.max(0) > 0, A.max(0), 1.0)
        coef, _ = nnls(A / scale / y[:, None], np.ones(len(y)))
        self.coef_ = coef / scale
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.c_[np.ones(len(X)), features(X, "additive")] @ self.coef_


class AdditiveForest:
    """:class:`AdditiveLatency` times a random forest's correction: the forest is fitted to
    ``log(ms / additive prediction)`` on the features of ``rf``, so the law carries the
    trend (and extrapolates) while the trees add the steps a law misses (cache sizes,
    im2col thresholds, vector widths)."""

    def __init__(self, forest: Any) -> None:
        self.forest = forest

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> AdditiveForest:
        self.base_ = AdditiveLatency().fit(X, y)
        b = np.maximum(self.base_.predict(X), 1e-6)
        self.forest.fit(features(X, "rf"), np.log(y / b))
        return self

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return np.maximum(self.base_.predict(X), 1e-6) * np.exp(self.forest.predict(features(X, "rf")))


# ------------------------------------------------------------------------------ estimator


class KernelLatencyPredictor(PerTypeLatencyRegressor):
    """One latency regression per kernel type, scikit-learn style (``fit``/``predict``/``score``).

    ``fit(X, y)``: ``X`` a DataFrame of kernel configurations with a ``kernel_type`` column
    (:func:`kernels.random_kernel_configs`), ``y`` latencies in ms (> 0); ``predict`` returns ms.
    See the module docstring for ``method``; ``learning_rate`` and ``max_depth`` apply to
    ``gbr``, ``n_estimators`` to the forests and boosting. 100 trees, not 200: on a 464-kernel
    three-side corpus the held-out and cross-session MAPE of ``rf`` and ``additive+rf`` moved by
    ≤ 0.2 points while fitting took half the time (``bench_predict.py --trees 100,200``), which
    pays for part of 04's second timing session.
    """

    type_column = "kernel_type"
    type_label = "kernel type"
    known_types = KERNEL_TYPES
    methods = METHODS
    direct_methods = ("additive", "additive+rf")
    allow_zero = False
    floor_ms = 1e-6
    score_floor_ms = 1e-6

    def __init__(self, method: str = "rf", n_estimators: int = 100, learning_rate: float = 0.05,
                 max_depth: int = 3, random_state: int | None = 0) -> None:
        super().__init__(method=method, n_estimators=n_estimators, learning_rate=learning_rate,
                         max_depth=max_depth, random_state=random_state)

    def design(self, X: pd.DataFrame, kind: str, type_: str) -> np.ndarray:
        return features(X, kind)

    def make_direct(self, kind: str, n: int) -> Any:
        from sklearn.ensemble import RandomForestRegressor

        if kind == "additive":
            return AdditiveLatency()
        return AdditiveForest(RandomForestRegressor(n_estimators=self.n_estimators, min_samples_leaf=2,
                                                    random_state=self.random_state, n_jobs=1))


# ------------------------------------------------------------------------------ evaluation


def _check_corpus(corpus: pd.DataFrame, target: str) -> None:
    for c in ("kernel_type", "side", "source", "config_id", target):
        if c not in corpus:
            raise InputError(f"kernel corpus has no column {c!r}")


def _rows(test: pd.DataFrame, target: str, **tags: Any) -> list[dict[str, Any]]:
    return [{**tags, "side": side, "kernel_type": t, **metrics(g[target], g["pred"])}
            for (side, t), g in test.groupby(["side", "kernel_type"])]


def evaluate_configs(corpus: pd.DataFrame, methods: Sequence[str] = ("rf", "linear"), target: str = TARGET,
                     test_size: float = 0.25, seeds: Sequence[int] = (0,),
                     sources: Sequence[str] = FAMILY_SOURCES) -> pd.DataFrame:
    """Held-out *configurations*: split the random kernels of ``sources`` by configuration
    (stratified by kernel type), fit each method per side, metrics per side × type."""
    from sklearn.model_selection import train_test_split

    _check_corpus(corpus, target)
    if not 0 < test_size < 1:
        raise InputError(f"test_size must be in (0, 1), got {test_size}")
    fam = corpus[corpus["source"].isin(sources)]
    if fam.empty:
        raise InputError(f"no corpus rows from sources {list(sources)}")
    ids = fam.drop_duplicates("config_id")[["config_id", "kernel_type"]]
    rows: list[dict[str, Any]] = []
    for seed in seeds:
        tr, te = train_test_split(ids["config_id"].to_numpy(), test_size=test_size, random_state=seed,
                                  stratify=ids["kernel_type"])
        for side, df in fam.groupby("side"):
            train, test = df[df.config_id.isin(tr)], df[df.config_id.isin(te)].reset_index(drop=True)
            for method in methods:
                est = KernelLatencyPredictor(method=method, random_state=seed).fit(train, train[target])
                rows += _rows(test.assign(pred=est.predict(test)), target, split="configs", method=method, seed=seed)
    return pd.DataFrame(rows)


def network_predictions(corpus: pd.DataFrame, methods: Sequence[str] = ("rf", "linear"),
                        target: str = TARGET) -> pd.DataFrame:
    """Each network's kernels predicted by predictors that never saw them, one row per
    kernel × side × method × training set:

    * ``train="families"`` — both families' random kernels (the network's own absent);
    * ``train="other-family"`` — only the *other* network's family (emotion-family →
      AlexNet, alexnet-family → emotion CNN): sizes outside the training range.

    Kernel types the training set lacks are left out (logged).
    """
    _check_corpus(corpus, target)
    out = []
    for net, own in NETWORK_FAMILY.items():
        test = corpus[corpus["source"] == net].reset_index(drop=True)
        if test.empty:
            continue
        other = [f for f in FAMILY_SOURCES if f != own]
        for train_name, srcs in (("families", FAMILY_SOURCES), ("other-family", other)):
            train = corpus[corpus["source"].isin(srcs)]
            for side in sorted(test["side"].unique()):
                tr, te = train[train.side == side], test[test.side == side]
                known = te["kernel_type"].isin(set(tr["kernel_type"]))
                if (~known).any():
                    log.info("%s/%s: no %s kernels in %s; left out", net, side,
                             sorted(set(te.kernel_type[~known])), train_name)
                te = te[known].reset_index(drop=True)
                for method in methods:
                    est = KernelLatencyPredictor(method=method).fit(tr, tr[target])
                    out.append(te.assign(network=net, train=train_name, method=method, pred=est.predict(te),
                                         measured=te[target]))
    if not out:
        raise InputError("kernel corpus holds no network kernels (source 'emotion_cnn' / 'alexnet')")
    return pd.concat(out, ignore_index=True)


def evaluate_networks(preds: pd.DataFrame) -> pd.DataFrame:
    """Metrics per network × training set × method × side × kernel type of :func:`network_predictions`."""

    rows = []
    for (net, train, method), g in preds.groupby(["network", "train", "method"]):
        rows += _rows(g, "measured", split=f"{train}→{net}", method=method)
    return pd.DataFrame(rows)


def summary(ev: pd.DataFrame, methods: tuple[str, str] = ("rf", "linear")) -> pd.DataFrame:
    """MAPE per split × side × kernel type, the two methods side by side plus their ratio."""
    t = ev.groupby(["split", "side", "kernel_type", "method"])["mape"].mean().unstack("method")
    a, b = methods
    t[f"{b}/{a}"] = t[b] / t[a]
    w = ev[ev.method == a].groupby(["split", "side", "kernel_type"])["within10"].mean()
    t[f"{a} within ±10%"] = w
    return t


def repeatability(corpus: pd.DataFrame, again: pd.DataFrame, target: str = TARGET) -> pd.DataFrame:
    """The measurement's own error: metrics of a second timing (``again``: the same
    configurations re-profiled later, ``config_id`` and ``side`` matching) taken as a
    "prediction" of the corpus' timing, per side × kernel type, plus the median ratio of
    the two timings and the MAPE left once the run-wide shift (the per-side median ratio:
    the machine busier or quieter in the second run) is divided out. No predictor can be
    judged below this floor: on a shared machine it is set by the other jobs, not by the model."""
    m = corpus.merge(again[["config_id", "side", target]], on=["config_id", "side"], suffixes=("", "_again"))
    if m.empty:
        raise InputError("no configurations in common between the corpus and the re-timing")
    m["ratio"] = m[f"{target}_again"] / m[target]
    # how much is one shift of the whole run (the machine busier or quieter then)?
    m["pred_rescaled"] = m[f"{target}_again"] / m.groupby("side")["ratio"].transform("median")
    rows = _rows(m.assign(pred=m[f"{target}_again"]), target, split="re-timed", method="measurement")
    resc = {(r["side"], r["kernel_type"]): r["mape"]
            for r in _rows(m.assign(pred=m["pred_rescaled"]), target, split="", method="")}
    ratio = m.groupby(["side", "kernel_type"])["ratio"].median()
    for r in rows:
        r["median_ratio"] = float(ratio[(r["side"], r["kernel_type"])])
        r["mape_run_shift_removed"] = resc[(r["side"], r["kernel_type"])]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ adaptive sampling


_NUMERIC = ("h", "c_in", "c_out")


def neighbours(cfg: dict[str, Any], n: int, rng: np.random.Generator, spread: float = 0.25) -> list[dict[str, Any]]:
    """``n`` configurations near ``cfg``: same kernel type, kernel, stride and padding; map
    size and channels each scaled by a factor in [e^−spread, e^spread] (rounded, kept valid)."""
    out = []
    t = cfg["kernel_type"]
    for _ in range(n):
        c = {k: cfg[k] for k in ("kernel_type", "h", "w", "c_in", "c_out", "kernel", "stride", "padding",
                                 "n_inputs") if k in cfg}
        for f in _NUMERIC:
            if t.startswith("fc") and f == "h":
                continue
            c[f] = max(1, int(round(float(cfg[f]) * math.exp(rng.uniform(-spread, spread)))))
        if t.startswith("fc"):
            c["h"] = c["w"] = 1
        else:
            c["h"] = max(c["h"], int(c.get("kernel", 1)))
            c["w"] = c["h"]
        if not (t.startswith("conv") or t.startswith("fc")):
            if t == "concat":
                c["c_in"] = max(c["c_in"], int(c.get("n_inputs", 2)))
            c["c_out"] = c["c_in"]
        out.append(c)
    return out


def oof_errors(corpus: pd.DataFrame, method: str = "rf", target: str = TARGET, folds: int = 5,
               seed: int = 0) -> pd.DataFrame:
    """Out-of-fold relative error of every configuration × side (K-fold over configurations)."""
    from sklearn.model_selection import KFold

    ids = corpus["config_id"].unique()
    parts = []
    for tr, te in KFold(min(folds, len(ids)), shuffle=True, random_state=seed).split(ids):
        for side, df in corpus.groupby("side"):
            train, test = df[df.config_id.isin(ids[tr])], df[df.config_id.isin(ids[te])].reset_index(drop=True)
            test = test[test.kernel_type.isin(set(train.kernel_type))].reset_index(drop=True)
            if test.empty:
                continue
            est = KernelLatencyPredictor(method=method, random_state=seed).fit(train, train[target])
            p = est.predict(test)
            parts.append(test.assign(pred=p, err_pct=np.abs(p - test[target]) / test[target] * 100))
    return pd.concat(parts, ignore_index=True)


def adaptive_sampling(corpus: pd.DataFrame, profile: Callable[[list[dict[str, Any]]], pd.DataFrame],
                      rounds: int = 2, per_round: int = 12, n_neighbours: int = 2, threshold: float = 10.0,
                      method: str = "rf", target: str = TARGET, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """nn-Meter's adaptive data sampling, with a bounded budget.

    Each round: out-of-fold errors of every configuration (:func:`oof_errors`); the
    ``per_round`` worst configurations whose error exceeds ``threshold`` % on any side are
    *flagged*; ``n_neighbours`` new configurations near each (:func:`neighbours`) are timed
    by ``profile`` (configs → rows with ``side``, ``target`` and a ``row`` index, e.g.
    :func:`kernels.profile_kernels`) and appended (``parent_id``, ``round``, the parent's
    ``source``). At most ``rounds × per_round × n_neighbours`` new kernels are profiled.
    Returns the grown corpus and one history row per round (flagged ids and their errors,
    out-of-fold metrics before sampling).
    """
    for name, v in (("rounds", rounds), ("per_round", per_round), ("n_neighbours", n_neighbours)):
        if not isinstance(v, int) or v < 1:
            raise InputError(f"{name} must be a positive int, got {v!r}")
    if threshold <= 0:
        raise InputError(f"threshold must be > 0 (%), got {threshold}")
    _check_corpus(corpus, target)
    rng = np.random.default_rng(seed)
    corpus = corpus.copy()
    history = []
    for r in range(1, rounds + 1):
        oof = oof_errors(corpus, method, target, seed=seed + r)
        worst = oof.groupby("config_id")["err_pct"].max().sort_values(ascending=False)
        flagged = worst[worst > threshold].head(per_round)
        history.append({"round": r, "n_configs": int(corpus.config_id.nunique()), **{
            f"oof_{k}": v for k, v in metrics(oof[target], oof["pred"]).items() if k != "n"},
            "n_flagged": int(len(flagged)), "flagged": {int(k): float(v) for k, v in flagged.items()}})
        if flagged.empty:
            break
        first = corpus.drop_duplicates("config_id").set_index("config_id")
        new, parents = [], []
        for cid in flagged.index:
            nb = neighbours(first.loc[cid].to_dict() | {"kernel_type": first.loc[cid, "kernel_type"]},
                            n_neighbours, rng)
            new += nb
            parents += [int(cid)] * len(nb)
        prof = profile(new).reset_index(drop=True)
        base = int(corpus["config_id"].max()) + 1
        prof["config_id"] = base + prof["row"].to_numpy() if "row" in prof else base + np.arange(len(prof))
        idx = prof["config_id"] - base
        prof["parent_id"] = np.asarray(parents)[idx]
        prof["source"] = first.loc[prof["parent_id"], "source"].to_numpy()
        prof["round"] = r
        history[-1]["n_added"] = int(prof.config_id.nunique())
        corpus = pd.concat([corpus, prof.drop(columns=["row"], errors="ignore")], ignore_index=True)
    return corpus, pd.DataFrame(history)
