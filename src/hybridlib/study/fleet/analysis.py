"""Pure summaries of fleet runs: per-step throughput and latency, the service level, how many
users a policy serves, the throughput ratio beside Neurosurgeon's, and reaction times.

Rows are the per-query dicts of :class:`hybridlib.study.fleet.clients.FleetRun` (``t`` = issue
second, ``ok``, ``latency_ms``, ``cut``, ``server``, ``server_ms``, ``policy``, ``role``).
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from hybridlib.study.fleet.presets import SLO

#: Neurosurgeon's (Kang et al., ASPLOS'17, seed 003) datacenter throughput improvement, as reported
SEED_THROUGHPUT = {"mean": 1.5, "max": 6.7}


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 3) if len(values) else None


def step_summary(rows: Iterable[dict[str, Any]], window: tuple[float, float], server_cpu_s: float | None = None,
                 role: str = "fg") -> dict[str, Any]:
    """Throughput and latency of the queries issued in ``window`` (seconds of the run).

    ``issued`` counts every query the users issued (dropped ones too); ``answered`` those that
    came back within the timeout; ``server_queries`` those that reached the server (not
    device-only). ``server_cpu_ms_per_query``: the server process's CPU over the window per
    answered query — device-only answers cost it nothing, which is the datacenter's gain —
    and ``server_cpu_ms_per_server_query`` per query it actually ran."""
    a, b = window
    rs = [r for r in rows if a <= r["t"] < b and r.get("role", "fg") == role]
    ok = [r for r in rs if r["ok"]]
    lat = [float(r["latency_ms"]) for r in ok]
    srv = [r for r in ok if r.get("server")]
    span = b - a
    out = {"issued": len(rs), "answered": len(ok), "dropped": sum(r.get("error") == "dropped" for r in rs),
           "errors": sum(1 for r in rs if not r["ok"] and r.get("error") != "dropped"),
           "answered_frac": round(len(ok) / len(rs), 4) if rs else 0.0,
           "answered_qps": round(len(ok) / span, 3) if span > 0 else 0.0,
           "server_qps": round(len(srv) / span, 3) if span > 0 else 0.0,
           "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "mean_ms": round(float(np.mean(lat)), 3) if lat else None,
           "server_ms_p50": _pct([float(r["server_ms"]) for r in srv], 50),
           "server_queries": len(srv), "cuts": dict(Counter(r["cut"] for r in ok)),
           "server_cpu_s": None if server_cpu_s is None else round(server_cpu_s, 4),
           "server_cpu_ms_per_query": None, "server_cpu_ms_per_server_query": None}
    if server_cpu_s is not None and ok:
        out["server_cpu_ms_per_query"] = round(1000 * server_cpu_s / len(ok), 3)
    if server_cpu_s is not None and srv:
        out["server_cpu_ms_per_server_query"] = round(1000 * server_cpu_s / len(srv), 3)
    return out


def meets_slo(step: dict[str, Any], slo: SLO) -> bool:
    """Whether a step's users were served: p95 within the bound and enough queries answered."""
    return (step.get("issued", 0) > 0 and step.get("p95_ms") is not None and step["p95_ms"] <= slo.p95_ms
            and step["answered_frac"] >= slo.answered_frac)


def users_served(steps: Sequence[dict[str, Any]], slo: SLO) -> dict[str, dict[str, Any]]:
    """Per policy, the most users served at ``slo``: the largest count whose step met it.
    ``unbroken``: every smaller count tried met it too (on a machine shared with other work a
    single step can miss from a neighbour's burst — the flag says whether that happened);
    ``saturated``: a larger count missed it (else the number is a lower bound: the sweep ended
    first)."""
    out: dict[str, dict[str, Any]] = {}
    for pol in dict.fromkeys(s["policy"] for s in steps):
        ss = sorted((s for s in steps if s["policy"] == pol), key=lambda s: s["users"])
        ok = [s for s in ss if meets_slo(s, slo)]
        best = ok[-1] if ok else None
        n = best["users"] if best else 0
        out[pol] = {"users": n, "answered_qps": best["answered_qps"] if best else 0.0,
                    "saturated": any(s["users"] > n and not meets_slo(s, slo) for s in ss),
                    "unbroken": all(meets_slo(s, slo) for s in ss if s["users"] <= n),
                    "largest_tried": ss[-1]["users"] if ss else 0}
    return out


def ladder_stopped(steps: Sequence[dict[str, Any]], policy: str, stop_after: int) -> bool:
    """Whether ``policy``'s user-count ladder is over: its last ``stop_after`` steps (in the order
    run) all missed the SLO (``meets_slo``). Why stop: a count past saturation costs a saturated
    step's time-outs and can only miss again; ``stop_after`` > 1 tolerates one step missed from a
    neighbour's burst on a shared machine."""
    own = [bool(s["meets_slo"]) for s in steps if s["policy"] == policy]
    return len(own) >= stop_after and not any(own[-stop_after:])


def throughput_ratio(served: dict[str, dict[str, Any]], policy: str = "load-aware",
                     baseline: str = "cloud-only") -> dict[str, Any]:
    """``policy`` ÷ ``baseline`` in users served and in answered queries/s at the SLO, beside 003's
    1.5× mean / 6.7× max. ``lower_bound``: ``policy`` never missed the SLO in the sweep."""
    p, b = served.get(policy), served.get(baseline)
    out: dict[str, Any] = {"policy": policy, "baseline": baseline, "users_ratio": None, "qps_ratio": None,
                           "lower_bound": bool(p and not p["saturated"]), "seed_reported": SEED_THROUGHPUT}
    if p and b and b["users"] > 0:
        out["users_ratio"] = round(p["users"] / b["users"], 3)
    if p and b and b["answered_qps"] > 0:
        out["qps_ratio"] = round(p["answered_qps"] / b["answered_qps"], 3)
    return out


def settled_cut(rows: Sequence[dict[str, Any]], a: float, b: float) -> str | None:
    """The cut a policy settled on in ``[a, b)``: the most common among its answered queries in
    the second half of the interval (None without any)."""
    mid = a + (b - a) / 2
    c = Counter(r["cut"] for r in rows if mid <= r["t"] < b and r["ok"])
    return c.most_common(1)[0][0] if c else None


def reaction_times(rows: Sequence[dict[str, Any]], changes: Sequence[float], end_s: float,
                   policy: str = "load-aware") -> list[dict[str, Any]]:
    """For each change time: the cut the policy settled on before and after it, and how long
    after the change its first query at the new cut was issued (``react_s``; None when the
    cut did not need to move, or never reached it)."""
    rs = sorted((r for r in rows if r["policy"] == policy and r.get("role", "fg") == "fg"), key=lambda r: r["t"])
    bounds = [0.0, *changes, end_s]
    out = []
    for i, tc in enumerate(changes):
        before = settled_cut(rs, bounds[i], tc)
        after = settled_cut(rs, tc, bounds[i + 2])
        react = None
        if after is not None and after != before:
            first = next((r["t"] for r in rs if tc <= r["t"] < bounds[i + 2] and r["ok"] and r["cut"] == after), None)
            react = None if first is None else round(first - tc, 3)
        out.append({"t": tc, "cut_before": before, "cut_after": after, "moved": after != before, "react_s": react})
    return out


def latency_by_policy(rows: Sequence[dict[str, Any]], role: str = "fg") -> list[dict[str, Any]]:
    """Mean and p95 latency and answered share per policy over a whole run."""
    out = []
    for pol in dict.fromkeys(r["policy"] for r in rows if r.get("role", "fg") == role):
        rs = [r for r in rows if r["policy"] == pol and r.get("role", "fg") == role]
        lat = [float(r["latency_ms"]) for r in rs if r["ok"]]
        out.append({"policy": pol, "queries": len(rs), "answered": len(lat),
                    "mean_ms": round(float(np.mean(lat)), 3) if lat else None, "p50_ms": _pct(lat, 50),
                    "p95_ms": _pct(lat, 95), "server_share": round(sum(bool(r.get("server")) for r in rs if r["ok"])
                                                               / len(lat), 3) if lat else None})
    return out
