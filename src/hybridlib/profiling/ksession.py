"""Kernel predictors scored across timing sessions, with intervals.

Why: a held-out score inside one timing session (:func:`kpredict.evaluate_configs`) tests the
predictor against timings taken by the same process minutes apart, with the same machine
state, the same reference-kernel scale and the same Chromium. A predictor is used later, on
another process's timings: re-timing the same kernels in a new session misses the first
timing by 9–24% on this shared box (``benchmarks/bench_predict.py --noise``), so a within-
session MAPE can sit below what any predictor achieves across sessions. Here:

* **within** — K-fold over session 1's random kernels: each kernel predicted once, by a model
  trained on the other folds of session 1 (out of fold);
* **cross** — session 2's kernels (timed later, in fresh processes; never trained on),
  each predicted by one of the *same* K models (kernel i by fold ``i mod K``'s), so both
  scores come from models of the same training-set size and the only difference is the
  session the test timing comes from. 04 uses one stratified split instead (:func:`evaluate`:
  one fit per side × method, the cost of the within-session score alone).

:func:`scores` gives, per split × side × method (and per kernel type), MAPE and RMSPE with
95% bootstrap intervals, the shares within ±5% and ±10% (nn-Meter's and LitePred's
measures) with Wilson intervals, and the cross − within MAPE gap with an interval (the two
test sets are independent, so each is resampled on its own). :func:`resolvable_share_gap`
says how large a difference in the ±10% share a test set of that size can resolve.
The corpus' ``session`` column comes from :func:`kernels.profile_corpus`.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import stats
from hybridlib.profiling.estimator import metrics
from hybridlib.profiling.kpredict import (
    FAMILY_SOURCES,
    TARGET,
    KernelLatencyPredictor,
    evaluate_configs,
)
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

SPLITS = ("within", "cross")


def session_split(corpus: pd.DataFrame, train_session: int = 1, test_session: int = 2,
                  sources: Sequence[str] = FAMILY_SOURCES) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The random kernels of ``sources`` timed in ``train_session`` and those timed in
    ``test_session``; raises :class:`InputError` if the corpus has no ``session`` column, a
    session is empty, or a configuration × side was timed in both (then a "cross-session"
    test kernel would also be a training kernel)."""
    for c in ("session", "config_id", "side", "kernel_type", "source"):
        if c not in corpus:
            raise InputError(f"kernel corpus has no column {c!r} (time it with a second session: "
                             "kernels.profile_corpus(..., second_share=0.25))")
    if train_session == test_session:
        raise InputError(f"train and test sessions must differ, both are {train_session}")
    fam = corpus[corpus["source"].isin(sources)]
    a, b = fam[fam["session"] == train_session], fam[fam["session"] == test_session]
    if a.empty or b.empty:
        raise InputError(f"session {train_session} holds {len(a)} rows and session {test_session} "
                         f"{len(b)}: both need random kernels")
    both = set(zip(a.config_id, a.side)) & set(zip(b.config_id, b.side))
    if both:
        raise InputError(f"{len(both)} configuration × side pairs are timed in both sessions, e.g. {min(both)}")
    return a.reset_index(drop=True), b.reset_index(drop=True)


def _splits(a: pd.DataFrame, b: pd.DataFrame, folds: int, test_size: float | None,
            seed: int) -> list[tuple[set[int], set[int], set[int]]]:
    """(train ids, within-test ids, cross-test ids) per model: K stratified folds of session 1
    with session 2's kernels dealt to the folds in turn, or one stratified split of
    ``test_size`` whose model predicts every session-2 kernel."""
    from sklearn.model_selection import StratifiedKFold, train_test_split

    ids = a.drop_duplicates("config_id")[["config_id", "kernel_type"]].reset_index(drop=True)
    b_ids = np.sort(b.config_id.unique())
    if test_size is not None:
        if not 0 < test_size < 1:
            raise InputError(f"test_size must be in (0, 1), got {test_size}")
        tr, te = train_test_split(ids.config_id.to_numpy(), test_size=test_size, random_state=seed,
                                  stratify=ids.kernel_type)
        return [(set(tr), set(te), set(b_ids))]
    if not (isinstance(folds, int) and folds >= 2):
        raise InputError(f"folds must be an int ≥ 2, got {folds!r}")
    k = min(folds, int(ids.kernel_type.value_counts().min()))
    if k < 2:
        raise InputError("session 1 needs ≥ 2 kernels of every type for a K-fold within-session score")
    kf = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    all_ids = set(ids.config_id)
    return [(all_ids - set(ids.config_id.iloc[te]), set(ids.config_id.iloc[te]), set(b_ids[f::k]))
            for f, (_, te) in enumerate(kf.split(ids.config_id, ids.kernel_type))]


def cross_session(corpus: pd.DataFrame, methods: Sequence[str] = ("rf", "additive+rf"), target: str = TARGET,
                  folds: int = 4, seed: int = 0, train_session: int = 1, test_session: int = 2,
                  test_size: float | None = None) -> pd.DataFrame:
    """Per-kernel predictions within and across sessions (module docstring): one row per test
    kernel × side × method × split, with ``measured``, ``pred`` and ``rel_err`` (signed,
    prediction / measurement − 1), ``fold`` and the sessions trained and tested on.

    ``test_size`` (e.g. 0.25) replaces the K folds by one stratified split of session 1 whose
    model also predicts all of session 2: one fit per side × method, as
    :func:`kpredict.evaluate_configs` costs (04's budget), with fewer within-session test kernels."""
    a, b = session_split(corpus, train_session, test_session)
    if target not in a:
        raise InputError(f"kernel corpus has no column {target!r}")
    rows = []
    for f, (train_ids, within_ids, cross_ids) in enumerate(_splits(a, b, folds, test_size, seed)):
        for side, sa in a.groupby("side"):
            sb = b[b.side == side]
            train = sa[sa.config_id.isin(train_ids)]
            tests = {"within": sa[sa.config_id.isin(within_ids)], "cross": sb[sb.config_id.isin(cross_ids)]}
            tests["cross"] = tests["cross"][tests["cross"].kernel_type.isin(set(train.kernel_type))]
            for method in methods:
                est = KernelLatencyPredictor(method=method, random_state=seed).fit(train, train[target])
                for split, te in tests.items():
                    if te.empty:
                        continue
                    p = est.predict(te)
                    y = te[target].to_numpy(float)
                    rows.append(pd.DataFrame({
                        "config_id": te.config_id.to_numpy(), "side": side, "kernel_type": te.kernel_type.to_numpy(),
                        "method": method, "split": split, "fold": f, "measured": y, "pred": p,
                        "rel_err": p / y - 1, "train_session": train_session,
                        "test_session": train_session if split == "within" else test_session}))
    return pd.concat(rows, ignore_index=True)


def evaluate(corpus: pd.DataFrame, methods: Sequence[str], target: str = TARGET, test_size: float = 0.25,
             seed: int = 0) -> tuple[pd.DataFrame | None, pd.DataFrame]:
    """04's held-out scores at the cost of one fit per side × method: with two timing sessions,
    :func:`cross_session` on one split (its within rows become :func:`kpredict.evaluate_configs`'
    ``split="configs"`` rows, trained on session 1 only); with one, ``evaluate_configs`` itself
    and no cross-session predictions (``None``)."""
    if "session" not in corpus or corpus.loc[corpus.source.isin(FAMILY_SOURCES), "session"].nunique() < 2:
        return None, evaluate_configs(corpus, methods, target, test_size=test_size, seeds=(seed,))
    preds = cross_session(corpus, methods, target, seed=seed, test_size=test_size)
    w = preds[preds.split == "within"]
    rows = [{"split": "configs", "method": m, "seed": seed, "side": side, "kernel_type": t,
             **metrics(g["measured"], g["pred"])} for (m, side, t), g in w.groupby(["method", "side", "kernel_type"])]
    return preds, pd.DataFrame(rows)


def interval_metrics(rel_err: Sequence[float] | np.ndarray, seed: int = 0) -> dict[str, Any]:
    """MAPE and RMSPE (%) with 95% bootstrap intervals and the shares (%) within ±5% and ±10%
    with Wilson intervals, of signed relative errors (prediction / measurement − 1)."""
    e = np.abs(np.asarray(rel_err, float))
    if e.size == 0:
        raise InputError("no relative errors to score")
    m = stats.bootstrap(e * 100, seed=seed)
    # RMSPE = sqrt(mean of squares): the percentile interval of a monotone transform is the
    # transform of the percentile interval, and the mean is the vectorised bootstrap
    r = stats.bootstrap((e * 100) ** 2, seed=seed)
    out: dict[str, Any] = {"n": int(e.size), "mape": m.value, "mape_lo": m.lo, "mape_hi": m.hi,
                           "rmspe": float(np.sqrt(r.value)), "rmspe_lo": float(np.sqrt(r.lo)),
                           "rmspe_hi": float(np.sqrt(r.hi))}
    for pct in (5, 10):
        w = stats.share(e <= pct / 100 + 1e-12)
        out.update({f"within{pct}": 100 * w.value, f"within{pct}_lo": 100 * w.lo, f"within{pct}_hi": 100 * w.hi})
    return out


def mape_gap(cross: np.ndarray, within: np.ndarray, n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Cross − within MAPE (points) with a 95% bootstrap interval, each independent test set
    resampled on its own: an interval that excludes 0 says the session shift is resolved."""
    c, w = np.abs(np.asarray(cross, float)) * 100, np.abs(np.asarray(within, float)) * 100
    if not c.size or not w.size:
        raise InputError("both test sets need kernels")
    rng = np.random.default_rng(seed)
    d = (c[rng.integers(0, c.size, (n_boot, c.size))].mean(1) - w[rng.integers(0, w.size, (n_boot, w.size))].mean(1))
    lo, hi = np.quantile(d, [0.025, 0.975])
    return {"gap": float(c.mean() - w.mean()), "gap_lo": float(lo), "gap_hi": float(hi)}


def resolvable_share_gap(p: float, n: int) -> float:
    """Smallest difference (points) in a ±10% share near ``p`` (%) that two test sets of ``n``
    kernels each resolve (95%, power 0.8: :func:`stats.resolvable_difference`)."""
    q = min(max(p / 100, 0.01), 0.99)
    return 100 * stats.resolvable_difference(q, int(n))


def scores(preds: pd.DataFrame, by: Sequence[str] = ("side", "method"), seed: int = 0) -> pd.DataFrame:
    """:func:`interval_metrics` of :func:`cross_session`'s rows per ``by`` × split, beside each
    other: one row per group with ``within_*`` and ``cross_*`` columns, the MAPE gap
    (:func:`mape_gap`) and the smallest ±10%-share gap the cross test set resolves."""
    need = set(by) | {"split", "rel_err"}
    if need - set(preds.columns):
        raise InputError(f"predictions lack columns {sorted(need - set(preds.columns))}")
    rows = []
    for key, g in preds.groupby(list(by)):
        key = key if isinstance(key, tuple) else (key,)
        row: dict[str, Any] = dict(zip(by, key))
        parts = {s: g[g.split == s]["rel_err"].to_numpy() for s in SPLITS}
        for s, e in parts.items():
            if e.size:
                row.update({f"{s}_{k}": v for k, v in interval_metrics(e, seed).items()})
        if all(e.size for e in parts.values()):
            row.update(mape_gap(parts["cross"], parts["within"], seed=seed))
            row["resolvable_within10_gap"] = resolvable_share_gap(row["cross_within10"], row["cross_n"])
        rows.append(row)
    return pd.DataFrame(rows)


def to_result(sc: pd.DataFrame, keys: Sequence[str] = ("side", "method")) -> dict[str, dict[str, float]]:
    """:func:`scores` as ``{"side/method": {column: value}}`` for a results JSON."""
    return {"/".join(str(r[k]) for k in keys): {c: (float(v) if isinstance(v, (float, np.floating)) else int(v))
                                                 for c, v in r.items() if c not in keys and pd.notna(v)}
            for r in sc.to_dict("records")}
