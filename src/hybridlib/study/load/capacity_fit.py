"""Per-session CPU from a curve: server CPU against admitted sessions over several user counts,
fitted as ``CPU = a + b·sessions`` with 95% intervals and residuals, and its figure.

Why a fit and not one step divided by its sessions: one step's CPU ÷ sessions is ``a/n + b`` — it
mixes the fixed cost (event loop, Ray's processes) into the per-session figure and says nothing
about whether the cost is linear at all. The slope ``b`` is the marginal cost of one more session;
its interval says how well a few noisy steps pin it down; the residuals show whether a straight
line describes the steps at all (a curve bending up would mean the per-session cost grows with
load, and a linear extrapolation to thousands of users would be optimistic).

The per-session law fits only the steps where the server kept up: every user admitted, no errors,
the server still up, each user answered at ≥ ``min_fraction`` of the frame rate. A saturated step
(server or clients out of CPU on a shared box) answers fewer frames, so it spends *less* CPU per
session than the law says; fitting it would pull the slope down and turn the table's bound around.
When too few steps keep up (a box loaded by other jobs), the per-frame law — CPU against answered
frames per second, every step included — still measures the cost of a frame, and a session at
the offered rate costs that many frames.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hybridlib.utils import InputError

#: a step is fitted when each admitted user got at least this share of the offered frame rate
MIN_FPS_FRACTION = 0.9


@dataclass(frozen=True)
class LinearFit:
    """Ordinary least squares ``y = intercept + slope·x`` with Student-t intervals at ``conf``."""

    intercept: float
    slope: float
    intercept_ci: tuple[float, float]
    slope_ci: tuple[float, float]
    x: tuple[float, ...]
    y: tuple[float, ...]
    residuals: tuple[float, ...]
    rmse: float  # residual standard error, sqrt(SSE / (n − 2))
    r2: float
    dof: int
    t: float  # the Student-t quantile the intervals use
    conf: float = 0.95

    @property
    def n(self) -> int:
        return len(self.x)

    def band(self, xs: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The fitted line and its ``conf`` confidence band (of the mean, not of one step) at ``xs``."""
        xs = np.asarray(xs, dtype=float)
        x = np.asarray(self.x)
        sxx = float(((x - x.mean()) ** 2).sum())
        half = self.t * self.rmse * np.sqrt(1 / self.n + (xs - x.mean()) ** 2 / sxx)
        mid = self.intercept + self.slope * xs
        return mid, mid - half, mid + half

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["n"] = self.n
        return d


def linear_fit(x: Sequence[float], y: Sequence[float], conf: float = 0.95) -> LinearFit:
    """OLS line through ``(x, y)`` with its ``conf`` intervals (Student t, n − 2 degrees of freedom).

    Needs ≥ 3 points at ≥ 2 distinct ``x`` — with two points a line fits exactly and has no
    interval, which is the failure this fit exists to avoid.
    """
    from scipy import stats as sps

    xa, ya = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if xa.shape != ya.shape or xa.ndim != 1:
        raise InputError(f"x and y must be 1-D and the same length, got {xa.shape} and {ya.shape}")
    if not (np.isfinite(xa).all() and np.isfinite(ya).all()):
        raise InputError("x and y must be finite numbers")
    if len(xa) < 3:
        raise InputError(f"a line with an interval needs ≥ 3 points, got {len(xa)}")
    if np.unique(xa).size < 2:
        raise InputError("all points have the same x: the slope is not identifiable")
    if not 0 < conf < 1:
        raise InputError(f"conf must be in (0, 1), got {conf}")
    n = len(xa)
    xm, ym = xa.mean(), ya.mean()
    sxx = float(((xa - xm) ** 2).sum())
    slope = float(((xa - xm) * (ya - ym)).sum() / sxx)
    intercept = float(ym - slope * xm)
    res = ya - (intercept + slope * xa)
    dof = n - 2
    sse = float((res ** 2).sum())
    rmse = math.sqrt(sse / dof)
    sst = float(((ya - ym) ** 2).sum())
    t = float(sps.t.ppf(0.5 + conf / 2, dof))
    se_b = rmse / math.sqrt(sxx)
    se_a = rmse * math.sqrt(1 / n + xm ** 2 / sxx)
    return LinearFit(intercept, slope, (intercept - t * se_a, intercept + t * se_a),
                     (slope - t * se_b, slope + t * se_b), tuple(map(float, xa)), tuple(map(float, ya)),
                     tuple(map(float, res)), rmse, 1 - sse / sst if sst > 0 else 1.0, dof, t, conf)


#: the laws a step set can be fitted by: server CPU against admitted sessions (only the steps that
#: kept up), or against answered frames per second (every step with answers; see :func:`fit_steps`)
LAWS = ("sessions", "frames")


def step_verdict(step: dict[str, Any], min_fraction: float = MIN_FPS_FRACTION, law: str = "sessions") -> str | None:
    """Why a step is left out of the ``law``'s fit (``None``: it is fitted)."""
    if not step.get("admitted"):
        return "no user admitted"
    if law == "sessions" and step["admitted"] != step["users"]:
        return f"{step['users'] - step['admitted']} of {step['users']} users refused"
    if step.get("errors"):
        return f"{step['errors']} user error(s)"
    if step.get("server_up") is False:
        return "server not up after the step"
    if step.get("cpu_pct") is None:
        return "no CPU sample"
    if law == "frames":
        return None if (step.get("fps_per_user") or 0) > 0 else "no frame answered"
    target = min_fraction * step["fps"]
    if (step.get("fps_per_user") or 0) < target:
        return f"saturated: {step.get('fps_per_user') or 0:.1f} fps per user < {target:.1f}"
    return None


def fit_steps(steps: Sequence[dict[str, Any]], min_fraction: float = MIN_FPS_FRACTION,
              conf: float = 0.95, law: str = "sessions") -> dict[str, Any]:
    """Fit server CPU (cores) by one of :data:`LAWS` and give the per-session cost it implies.

    ``sessions``: CPU = a + b·(admitted sessions) over the steps that kept up; ``b`` is the cost
    of one session. ``frames``: CPU = a + c·(answered frames per second) over every step with
    answers, saturated ones included — the law a contended box can still measure, since a starved
    server or client does less work *and* spends less CPU in proportion; one session at the offered
    rate then costs ``b = c·fps``. Frames the server decoded but skipped as stale are paid for yet
    not counted, which raises ``c``: it errs on the safe (costly) side.

    Returns the fit, ``b`` and its interval (``per_session``, ``per_session_ci``), the per-session
    bytes (and the steps they come from), the fitted and left-out steps with the reason for each, and the
    saturation point (the smallest user count that did not keep up, ``None`` if every step did).
    """
    if law not in LAWS:
        raise InputError(f"law {law!r}: choose one of {', '.join(LAWS)}")
    if not steps:
        raise InputError("no steps to fit")
    fps = {s["fps"] for s in steps}
    if len(fps) != 1:
        raise InputError(f"the steps offer different frame rates {sorted(fps)}: one law cannot cover them")
    rate = fps.pop()
    used, left = [], []
    for i, s in enumerate(steps):
        why = step_verdict(s, min_fraction, law)
        (left if why else used).append({"index": i, "users": s["users"], "reason": why} if why else s)
    x = [s["admitted"] if law == "sessions" else s["fps_per_user"] * s["admitted"] for s in used]
    if len(used) < 3 or len(set(x)) < 2:
        why = ", ".join(f"{d['users']} users: {d['reason']}" for d in left) or "none"
        raise InputError(f"the {law} fit needs ≥ 3 steps (here {[s['users'] for s in used]} qualify; "
                         f"left out: {why})")
    fit = linear_fit(x, [s["cpu_pct"] / 100 for s in used], conf)
    scale = 1.0 if law == "sessions" else float(rate)
    # bytes per session: the mean over the steps that kept up (sessions law), or the step closest
    # to the offered rate (frames law) — the codec's rate control does not scale bytes with the
    # frames answered, so a starved step's bytes say little about a served session
    src = used if law == "sessions" else [max(used, key=lambda d: d["fps_per_user"])]
    sat = min((s["users"] for s in steps if (step_verdict(s, min_fraction) or "").startswith("saturated")),
              default=None)
    return {"law": law, "fit": fit, "per_session": fit.slope * scale,
            "per_session_ci": (fit.slope_ci[0] * scale, fit.slope_ci[1] * scale),
            "fitted_users": [s["users"] for s in used], "left_out": left, "saturated_at": sat,
            "bytes_in_per_s": float(np.mean([s["bytes_in_per_s"] / s["admitted"] for s in src])),
            "bytes_out_per_s": float(np.mean([s["bytes_out_per_s"] / s["admitted"] for s in src])),
            "bytes_from_users": [s["users"] for s in src],
            "fps_per_user": float(np.mean([s["fps_per_user"] for s in used])),
            "rtt_p95_ms": max(s["rtt_p95_ms"] for s in used if s.get("rtt_p95_ms") is not None)
            if any(s.get("rtt_p95_ms") is not None for s in used) else None,
            "min_fraction": min_fraction, "fps": rate}


def plot_fit(fits: dict[str, dict[str, Any]], steps: dict[str, Sequence[dict[str, Any]]]) -> Any:
    """Server CPU per backend against the fit's x (sessions or answered frames per second) with the
    fitted line and its 95% band (left-out steps hollow), and the residuals below — the figure
    docs/CAPACITY.md shows beside its table. ``fits``: backend → :func:`fit_steps`'s result."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, (top, bot) = plt.subplots(2, 1, figsize=(7.5, 6.5), sharex=True, height_ratios=(2.2, 1))
    colours = sns.color_palette("colorblind", len(fits))
    laws = {f["law"] for f in fits.values()}
    for (name, f), c in zip(fits.items(), colours):
        fit: LinearFit = f["fit"]
        xs = np.linspace(0, max(fit.x) * 1.05, 50)
        mid, lo, hi = fit.band(xs)
        top.fill_between(xs, lo, hi, color=c, alpha=0.2, lw=0)
        unit = "session" if f["law"] == "sessions" else "frame/s"
        top.plot(xs, mid, color=c, lw=1.5,
                 label=f"{name}: {fit.intercept:.3f} + {fit.slope:.4f} cores per {unit} "
                       f"(95% [{fit.slope_ci[0]:.4f}, {fit.slope_ci[1]:.4f}])")
        top.plot(fit.x, fit.y, "o", color=c)
        out = [s for s in steps[name] if step_verdict(s, f["min_fraction"], f["law"])
               and s.get("cpu_pct") is not None and s.get("admitted")]
        if out:
            ox = [s["admitted"] if f["law"] == "sessions" else s["fps_per_user"] * s["admitted"] for s in out]
            top.plot(ox, [s["cpu_pct"] / 100 for s in out], "o", mfc="none", color=c, label=f"{name}: left out")
        bot.axhline(0, color="0.5", lw=0.8)
        bot.plot(fit.x, fit.residuals, "o", color=c, label=name)
    xl = " / ".join("admitted sessions" if law == "sessions" else "answered frames per second" for law in sorted(laws))
    top.set(ylabel="server CPU, cores (all its processes)", title="Server CPU: the fit and its 95% band")
    top.legend(fontsize=7, loc="upper left")
    bot.set(xlabel=xl, ylabel="residual, cores")
    bot.legend(fontsize=7)
    fig.tight_layout()
    return fig
