"""The interval machinery on cases with known answers: coverage in simulation, exact edge cases,
and the sample size a budget needs."""
from __future__ import annotations

import numpy as np
import pytest

from hybridlib import stats
from hybridlib.utils import InputError


def test_wilson_known_values_and_edges():
    e = stats.wilson(7, 10)
    assert e.value == 0.7 and e.lo == pytest.approx(0.3968, abs=1e-3) and e.hi == pytest.approx(0.8922, abs=1e-3)
    assert stats.wilson(0, 20).lo == 0.0 and stats.wilson(20, 20).hi == 1.0
    assert "70.0% [39.7, 89.2] (n=10)" == e.pct()


@pytest.mark.parametrize("p,n", [(0.7, 200), (0.95, 60), (0.1, 40)])
def test_wilson_covers_the_true_share_about_95_percent(p, n):
    """SIMULATION: 4,000 test sets drawn at a known share; the interval must cover it 93–97% of the time."""
    rng = np.random.default_rng(1)
    ks = rng.binomial(n, p, size=4000)
    cover = np.mean([stats.wilson(int(k), n).lo <= p <= stats.wilson(int(k), n).hi for k in ks])
    assert 0.925 <= cover <= 0.975, cover


def test_bootstrap_covers_a_known_mean():
    """SIMULATION: the mean of 80 lognormal 'MAPE' values; the bootstrap interval covers the true mean ~95%."""
    rng = np.random.default_rng(2)
    true = float(np.exp(0.5))  # mean of lognormal(0, 1)
    cover = []
    for i in range(300):
        v = rng.lognormal(0, 1, 80)
        e = stats.bootstrap(v, n_boot=400, seed=i)
        cover.append(e.lo <= true <= e.hi)
    assert 0.85 <= np.mean(cover) <= 0.99, np.mean(cover)  # percentile bootstrap undercovers a little on skewed data


def test_bootstrap_any_statistic_and_bad_input():
    e = stats.bootstrap([1.0, 2.0, 3.0, 4.0], stat=np.median, n_boot=200)
    assert e.value == 2.5 and e.lo <= 2.5 <= e.hi and e.n == 4
    with pytest.raises(InputError, match="NaN"):
        stats.bootstrap([1.0, float("nan")])
    with pytest.raises(InputError, match="empty"):
        stats.share([])
    with pytest.raises(InputError, match="counts"):
        stats.wilson(5, 3)


def test_resolvable_difference_matches_the_textbook_sample_size():
    """At 70% accuracy, 718 test faces resolve ~6.8 points (80% power); resolving 1 point needs ~33k."""
    d = stats.resolvable_difference(0.7, 718)
    assert d == pytest.approx(2.8016 * np.sqrt(2 * 0.21 / 718), rel=1e-3)
    n = stats.cases_for_difference(0.7, 0.01)
    assert stats.resolvable_difference(0.7, n) <= 0.01 < stats.resolvable_difference(0.7, n - 50)
