"""Kernel predictors across timing sessions (profiling/ksession.py), on SYNTHETIC corpora whose
latency law, noise and session shift are known, and the corpus' session labels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridlib import stats
from hybridlib.profiling import kernels, kpredict, ksession
from hybridlib.utils import InputError

TYPES = ("conv-relu", "maxpool", "fc-relu")


def law_corpus(n: int = 120, share: float = 0.25, noise: float = 0.0, shift: float = 1.0,
               seed: int = 0) -> pd.DataFrame:
    """SYNTHETIC: ms = floor + FLOPs at 2 GFLOP/s + bytes at 5 GB/s per type, times log-normal
    noise of sd ``noise``; session 2's timings are all ``shift`` × (a machine running slower)."""
    cfgs = [{**c, "source": f"{fam}-family"} for i, fam in enumerate(("emotion", "alexnet"))
            for c in kernels.random_kernel_configs(n, fam, seed=seed + i, types=TYPES)]
    df = pd.DataFrame(cfgs)
    d = kpredict.derived(df)
    floor = df.kernel_type.map({"conv-relu": 0.3, "maxpool": 0.05, "fc-relu": 0.1}).to_numpy()
    law = floor + d["flops"].to_numpy() / 2e6 + d["bytes"].to_numpy() / 5e6
    sess = kernels.session_labels(cfgs, share)
    rng = np.random.default_rng(seed)
    frames = []
    for side, scale in (("device", 1.0), ("cloud", 0.5)):
        y = law * scale * np.exp(rng.normal(0, noise, len(df))) * np.where(sess == 2, shift, 1.0)
        frames.append(df.assign(side=side, ms_adj=y, session=sess, config_id=np.arange(len(df))))
    return pd.concat(frames, ignore_index=True)


def test_session_labels_take_each_familys_last_draws_and_keep_networks_in_session_1():
    cfgs = ([{"source": "emotion-family"}] * 8 + [{"source": "alexnet-family"}] * 4
            + [{"source": "emotion_cnn"}] * 3)
    s = kernels.session_labels(cfgs, 0.25)
    assert s.tolist() == [1] * 6 + [2] * 2 + [1] * 3 + [2] + [1] * 3
    assert (kernels.session_labels(cfgs, 0.0) == 1).all()
    with pytest.raises(InputError, match="second_share"):
        kernels.session_labels(cfgs, 1.0)
    # every kernel type lands in session 2 (the draws cycle through the types)
    real = [{**c, "source": "emotion-family"} for c in kernels.random_kernel_configs(80, "emotion", seed=0)]
    s = kernels.session_labels(real, 0.25)
    assert {c["kernel_type"] for c, x in zip(real, s) if x == 2} == set(kernels.CORPUS_TYPES)


def test_cross_session_split_keeps_sessions_and_kernels_disjoint():
    c = law_corpus(60, noise=0.02)
    p = ksession.cross_session(c, methods=("additive",))
    within, cross = p[p.split == "within"], p[p.split == "cross"]
    s2 = set(c[c.session == 2].config_id)
    assert set(cross.config_id) == s2 and not set(within.config_id) & s2
    assert (within.test_session == 1).all() and (cross.test_session == 2).all() and (p.train_session == 1).all()
    # each kernel predicted exactly once per side and method (out of fold; session 2 by one fold's model)
    assert not p.duplicated(["config_id", "side", "method", "split"]).any()
    s1 = c[(c.session == 1) & (c.side == "device")].config_id
    assert set(within[within.side == "device"].config_id) == set(s1)
    # a kernel timed in both sessions would be trained and tested on: refused
    dup = pd.concat([c, c[c.session == 1].head(3).assign(session=2)], ignore_index=True)
    with pytest.raises(InputError, match="both sessions"):
        ksession.session_split(dup)
    with pytest.raises(InputError, match="session"):
        ksession.cross_session(c.drop(columns=["session"]))
    with pytest.raises(InputError, match="both need"):
        ksession.session_split(c[c.session == 1])


def test_predictor_fit_on_a_known_law_recovers_it_within_a_bound():
    """Noise-free law: the additive predictor is exact within and across sessions; with 5%
    log-normal noise its held-out MAPE stays near the noise's own mean |error| (≈ 4%)."""
    exact = ksession.scores(ksession.cross_session(law_corpus(60), methods=("additive",)))
    assert (exact.within_mape < 0.1).all() and (exact.cross_mape < 0.1).all()
    assert (exact.cross_within5 == 100).all()
    noisy = ksession.scores(ksession.cross_session(law_corpus(120, noise=0.05), methods=("additive", "rf")))
    add = noisy[noisy.method == "additive"]
    assert (add.within_mape < 6).all() and (add.cross_mape < 6).all() and (add.within_mape > 2).all()
    # the forest, on the same law, is worse than the law that generated the data but bounded
    rf = noisy[noisy.method == "rf"]
    assert (rf.within_mape < 25).all() and (rf.within_mape > add.within_mape.to_numpy()).all()


def test_a_session_shift_shows_across_sessions_only_and_its_gap_is_resolved():
    """Session 2 runs 20% slower: within-session error stays at the noise, the cross-session
    MAPE is ≈ 1 − 1/1.2 ≈ 16.7% and the gap's interval excludes 0."""
    sc = ksession.scores(ksession.cross_session(law_corpus(120, noise=0.02, shift=1.2), methods=("additive",)))
    assert (sc.within_mape < 3).all()
    assert np.allclose(sc.cross_mape, 100 * (1 - 1 / 1.2), atol=2.5)
    assert (sc.gap_lo > 10).all() and (sc.cross_within10 < 10).all()
    assert (sc.cross_mape_lo <= sc.cross_mape).all() and (sc.cross_mape <= sc.cross_mape_hi).all()
    by_type = ksession.scores(ksession.cross_session(law_corpus(60, noise=0.02, shift=1.2), methods=("additive",)),
                              by=("side", "kernel_type", "method"))
    assert set(by_type.kernel_type) == set(TYPES) and (by_type.cross_n >= 5).all()


def test_interval_metrics_known_values_and_coverage():
    m = ksession.interval_metrics([0.0, 0.04, -0.08, 0.2])
    assert m["mape"] == pytest.approx(8.0) and m["within5"] == 50 and m["within10"] == 75 and m["n"] == 4
    assert m["rmspe"] == pytest.approx(100 * np.sqrt((0.04 ** 2 + 0.08 ** 2 + 0.2 ** 2) / 4))
    assert m["mape_lo"] <= m["mape"] <= m["mape_hi"] and m["within10_lo"] < 75 < m["within10_hi"]
    # SIMULATION: |error| ~ half-normal with mean 10%; the 95% MAPE interval of 40 kernels covers 10
    rng = np.random.default_rng(1)
    sd = 0.10 / np.sqrt(2 / np.pi)
    runs = [ksession.interval_metrics(rng.normal(0, sd, 40), seed=i) for i in range(200)]
    cover = [r["mape_lo"] <= 10 <= r["mape_hi"] for r in runs]
    assert 0.88 <= np.mean(cover) <= 0.99
    with pytest.raises(InputError):
        ksession.interval_metrics([])


def test_resolvable_share_gap_shrinks_with_n():
    a, b = ksession.resolvable_share_gap(60, 8), ksession.resolvable_share_gap(60, 210)
    assert b < a and b == pytest.approx(100 * stats.resolvable_difference(0.6, 210))
    assert ksession.resolvable_share_gap(100, 30) > 0  # clipped away from 0 and 1


def test_to_result_round_trips_the_numbers():
    sc = ksession.scores(ksession.cross_session(law_corpus(40, noise=0.02), methods=("additive",)))
    r = ksession.to_result(sc)
    assert set(r) == {"cloud/additive", "device/additive"}
    assert r["device/additive"]["cross_mape"] == pytest.approx(float(sc[sc.side == "device"].cross_mape.iloc[0]))


def test_evaluate_one_split_scores_both_sessions_at_one_fit_and_falls_back_with_one_session():
    c = law_corpus(60, noise=0.02, shift=1.2)
    preds, rows = ksession.evaluate(c, ("additive", "linear"))
    assert set(rows.split) == {"configs"} and set(rows.method) == {"additive", "linear"}
    assert set(rows.kernel_type) == set(TYPES) and (rows.n >= 2).all()
    assert (preds.fold == 0).all()  # one model per side × method predicts both test sets
    cross = preds[(preds.split == "cross") & (preds.method == "additive") & (preds.side == "device")]
    assert set(cross.config_id) == set(c[c.session == 2].config_id)
    assert rows[rows.method == "additive"].mape.max() < 5 and cross.rel_err.abs().mean() > 0.12
    one, rows1 = ksession.evaluate(c.assign(session=1), ("additive",))
    assert one is None and set(rows1.split) == {"configs"} and len(rows1) == 2 * len(TYPES)


def test_profile_corpus_times_session_2_in_its_own_later_call(monkeypatch):
    """Each session is one profile_kernels call (fresh processes), session 1 first; every
    configuration timed once per side, its config_id its position in the list."""
    calls = []

    def fake(cfgs, repeats=7, sides=("device",), **kw):
        calls.append([c["h"] for c in cfgs])
        return pd.DataFrame([{**c, "side": s, "ms_adj": 1.0, "row": i} for s in sides for i, c in enumerate(cfgs)])

    monkeypatch.setattr(kernels, "profile_kernels", fake)
    cfgs = [{"kernel_type": "relu", "h": i, "w": i, "c_in": 1, "c_out": 1, "source": src}
            for i, src in enumerate(["emotion-family"] * 8 + ["emotion_cnn"] * 2)]
    df = kernels.profile_corpus(cfgs, sides=("device", "cloud"), second_share=0.25)
    assert calls == [[0, 1, 2, 3, 4, 5, 8, 9], [6, 7]]
    assert len(df) == 2 * len(cfgs) and (df.config_id == df.h).all()
    assert set(df[df.session == 2].config_id) == {6, 7} and (df[df.config_id == 9].source == "emotion_cnn").all()
