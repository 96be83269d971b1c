"""Uncertainty for the study's headline numbers: intervals on shares (accuracy, exit share, hit
rate) and on means (MAPE, regret), and the smallest difference a test set can resolve.

Why: a reviewer who re-runs a notebook gets a different sample of synthetic faces, kernels or
cases; a number without its interval and its *n* cannot say whether a 1-point accuracy budget
was met or whether two predictors differ. Every interval here is a 95% interval by default and
says which method made it.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from hybridlib.utils import InputError

Z95 = 1.959963984540054


@dataclass(frozen=True)
class Estimate:
    """A point value with its interval: ``value`` in [``lo``, ``hi``] at ``conf``, from ``n`` cases."""

    value: float
    lo: float
    hi: float
    n: int
    method: str
    conf: float = 0.95

    def to_dict(self) -> dict[str, float | int | str]:
        return {"value": self.value, "lo": self.lo, "hi": self.hi, "n": self.n, "method": self.method,
                "conf": self.conf}

    def pct(self, digits: int = 1) -> str:
        """``71.2% [68.0, 74.3] (n=718)`` for a share."""
        return (f"{100 * self.value:.{digits}f}% [{100 * self.lo:.{digits}f}, {100 * self.hi:.{digits}f}]"
                f" (n={self.n})")


def _check_conf(conf: float) -> float:
    if not (isinstance(conf, (int, float)) and 0.5 <= float(conf) < 1.0):
        raise InputError(f"conf must be in [0.5, 1), got {conf!r}")
    return float(conf)


def _z(conf: float) -> float:
    """The two-sided normal quantile for ``conf`` (Acklam's rational approximation; |error| < 1e-8)."""
    if conf == 0.95:
        return Z95
    p = 1 - (1 - conf) / 2
    # Peter Acklam's inverse normal CDF, upper region only (p > 0.5)
    a = (-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02,
         -3.066479806614716e+01, 2.506628277459239e+00)
    b = (-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01,
         -1.328068155288572e+01)
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00,
         4.374664141464968e+00, 2.938163982698783e+00)
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00)
    if p > 1 - 0.02425:
        q = math.sqrt(-2 * math.log(1 - p))
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / \
            ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    q = p - 0.5
    r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / \
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


def _check_counts(k: int, n: int) -> None:
    if isinstance(k, bool) or isinstance(n, bool) or int(k) != k or int(n) != n or not 0 <= k <= n or n < 1:
        raise InputError(f"need whole counts 0 <= k <= n, n >= 1; got k={k!r}, n={n!r}")


def wilson(k: int, n: int, conf: float = 0.95) -> Estimate:
    """Wilson score interval for a share of ``k`` successes in ``n`` trials: close to nominal
    coverage even for small ``n`` or shares near 0 and 1, where the normal (Wald) interval fails."""
    _check_counts(k, n)
    z = _z(_check_conf(conf))
    p = k / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    # the bounds hold p exactly (at k = 0 or n, centre − half can round to 3e-17 instead of 0)
    return Estimate(p, min(p, max(0.0, centre - half)), max(p, min(1.0, centre + half)), int(n), "wilson", conf)


def share(hits: Sequence[bool] | np.ndarray, conf: float = 0.95) -> Estimate:
    """:func:`wilson` over a boolean sequence (hits, correct answers, exits)."""
    h = np.asarray(hits, dtype=bool).ravel()
    if h.size == 0:
        raise InputError("share of an empty sequence: no cases to score")
    return wilson(int(h.sum()), int(h.size), conf)


def bootstrap(values: Sequence[float] | np.ndarray, stat: Callable[[np.ndarray], float] = np.mean,
              conf: float = 0.95, n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Percentile bootstrap interval of ``stat`` over ``values`` (cases resampled with
    replacement): for means of skewed per-case numbers such as MAPE or regret."""
    v = np.asarray(values, dtype=float).ravel()
    if v.size == 0:
        raise InputError("bootstrap of an empty sequence: no cases")
    if not np.isfinite(v).all():
        raise InputError(f"bootstrap: {int((~np.isfinite(v)).sum())} values are NaN or infinite")
    if not (isinstance(n_boot, int) and n_boot >= 100):
        raise InputError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    conf = _check_conf(conf)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(n_boot, v.size))
    boots = np.apply_along_axis(stat, 1, v[idx]) if stat is not np.mean else v[idx].mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - conf) / 2, 1 - (1 - conf) / 2])
    return Estimate(float(stat(v)), float(lo), float(hi), int(v.size), f"bootstrap({n_boot})", conf)


def resolvable_difference(p: float, n: int, conf: float = 0.95, power: float = 0.8) -> float:
    """The smallest difference in a share near ``p`` that a test set of ``n`` cases resolves
    (two-sided test at ``1 - conf``, with ``power``), comparing two classifiers' accuracies on
    independent test sets of that size: ``(z_α/2 + z_β)·sqrt(2·p(1−p)/n)``. A budget smaller
    than this cannot be checked on that test set."""
    if not (0 < p < 1) or not (isinstance(n, int) and n >= 1):
        raise InputError(f"need 0 < p < 1 and n >= 1, got p={p!r}, n={n!r}")
    z_beta = _z(2 * _check_conf(power) - 1) if power != 0.5 else 0.0
    return (_z(_check_conf(conf)) + z_beta) * math.sqrt(2 * p * (1 - p) / n)


def cases_for_difference(p: float, diff: float, conf: float = 0.95, power: float = 0.8) -> int:
    """How many test cases make :func:`resolvable_difference` ≤ ``diff`` at share ``p``."""
    if not 0 < diff < 1:
        raise InputError(f"diff must be in (0, 1), got {diff!r}")
    z_beta = _z(2 * _check_conf(power) - 1) if power != 0.5 else 0.0
    return int(math.ceil(2 * p * (1 - p) * ((_z(_check_conf(conf)) + z_beta) / diff) ** 2))


def _bool_pair(a: Sequence[bool] | np.ndarray, b: Sequence[bool] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(a).ravel(), np.asarray(b).ravel()
    if x.size == 0 or x.shape != y.shape:
        raise InputError(f"paired cases must be two non-empty sequences of the same length, got {x.size} and {y.size}")
    return x.astype(float), y.astype(float)


def paired_difference(a_ok: Sequence[bool] | np.ndarray, b_ok: Sequence[bool] | np.ndarray, conf: float = 0.95,
                      n_boot: int = 2000, seed: int = 0) -> Estimate:
    """Accuracy of ``a`` minus accuracy of ``b`` scored **on the same cases** (per-case
    correctness), with a paired percentile bootstrap interval: the cases are resampled once for
    both systems. Why paired: two systems that agree on most cases (an early-exit system and the
    full model it answers for) differ only on the discordant cases, so the difference is far
    tighter than two independent accuracies' intervals suggest."""
    x, y = _bool_pair(a_ok, b_ok)
    e = bootstrap(x - y, conf=conf, n_boot=n_boot, seed=seed)
    return Estimate(e.value, e.lo, e.hi, e.n, f"paired {e.method}", e.conf)


def paired_resolvable_difference(discordant: float, n: int, conf: float = 0.95, power: float = 0.8) -> float:
    """The smallest accuracy difference between two systems scored on the **same** ``n`` cases
    that a two-sided test at ``1 - conf`` detects with ``power``, when a share ``discordant`` of
    the cases is answered right by one and wrong by the other (McNemar's normal approximation
    near no difference: ``(z_α/2 + z_β)·sqrt(discordant/n)``). Smaller than
    :func:`resolvable_difference` whenever the two systems mostly agree."""
    if not (0 < discordant <= 1) or not (isinstance(n, (int, np.integer)) and n >= 1):
        raise InputError(f"need 0 < discordant <= 1 and n >= 1, got discordant={discordant!r}, n={n!r}")
    z_beta = _z(2 * _check_conf(power) - 1) if power != 0.5 else 0.0
    return (_z(_check_conf(conf)) + z_beta) * math.sqrt(discordant / int(n))


def bootstrap_ratio(num: Sequence[float] | np.ndarray, den: Sequence[float] | np.ndarray, conf: float = 0.95,
                    n_boot: int = 2000, seed: int = 0) -> Estimate | None:
    """``mean(num) / mean(den)`` over paired cases (e.g. a picture's bytes over the bytes sent
    instead, per input), with a percentile bootstrap interval resampling the cases jointly.
    None when ``den`` sums to 0 (nothing was sent: the ratio is unbounded, and a huge number
    would read as a measurement); a resample whose ``den`` sums to 0 counts as +inf."""
    a, b = np.asarray(num, dtype=float).ravel(), np.asarray(den, dtype=float).ravel()
    if a.size == 0 or a.shape != b.shape:
        raise InputError(f"ratio needs two non-empty sequences of the same length, got {a.size} and {b.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()) or (a < 0).any() or (b < 0).any():
        raise InputError("ratio: values must be finite and >= 0")
    if not (isinstance(n_boot, int) and n_boot >= 100):
        raise InputError(f"n_boot must be an integer >= 100, got {n_boot!r}")
    conf = _check_conf(conf)
    if b.sum() == 0:
        return None
    idx = np.random.default_rng(seed).integers(0, a.size, size=(n_boot, a.size))
    sa, sb = a[idx].sum(axis=1), b[idx].sum(axis=1)
    with np.errstate(divide="ignore"):
        boots = np.where(sb > 0, sa / np.where(sb > 0, sb, 1.0), np.inf)
    lo, hi = np.quantile(boots, [(1 - conf) / 2, 1 - (1 - conf) / 2])
    return Estimate(float(a.sum() / b.sum()), float(lo), float(hi), int(a.size), f"bootstrap ratio({n_boot})", conf)
