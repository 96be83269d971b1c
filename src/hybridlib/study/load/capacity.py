"""Capacity on paper from a recorded load curve: users per core, cores and nodes for 100 / 1,000 /
10,000 concurrent cloud-mode users, and the bandwidth and TURN bill.

Why a function and not a typed table: the numbers must follow the measurement they came from
(``benchmarks/bench_ray.py --out FILE``, checked by :mod:`capacity_record`), so re-measuring
regenerates ``docs/CAPACITY.md`` (``python benchmarks/capacity.py FILE``).

Which bound: the per-session CPU ``b`` is the *upper* end of its 95% interval from a fit
(:mod:`capacity_fit`: server CPU = a + b·sessions over the steps that kept up, or — when too few
did on a loaded box — CPU = a + c·answered frames/s with ``b = c·fps``), and the fixed cost ``a``
is charged at the upper end of its interval once per server. So the cores (and nodes) are an
upper estimate and users per core a *lower* bound — conservative — as long as the law stays
linear beyond the measured steps and each server is one process with the measured fixed cost.
The old figure, the largest step's CPU ÷ its sessions (``a/n + b``), is printed beside it: from
one step, with no interval, and below ``b`` when that step was saturated.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from hybridlib.study.load.capacity_fit import LAWS, MIN_FPS_FRACTION, fit_steps, step_verdict
from hybridlib.utils import InputError


@dataclass(frozen=True)
class Assumptions:
    """What the table assumes beyond the measurement (each printed with it)."""

    target_utilisation: float = 0.7  # run cores at most this busy (headroom for bursts, GC, codecs)
    cores_per_node: int = 16
    relay_fraction: float = 0.2  # share of sessions whose media must go through TURN
    egress_usd_per_gb: float = 0.08  # internet egress list price, per GB (1e9 bytes)
    hours_per_month: float = 100.0  # concurrent-user hours the service runs per month
    servers_per_node: int = 1  # server processes per node: each pays the fixed cost a

    def __post_init__(self) -> None:
        if not 0 < self.target_utilisation <= 1:
            raise InputError(f"target_utilisation must be in (0, 1], got {self.target_utilisation}")
        if self.cores_per_node < 1:
            raise InputError(f"cores_per_node must be ≥ 1, got {self.cores_per_node}")
        if self.servers_per_node < 1:
            raise InputError(f"servers_per_node must be ≥ 1, got {self.servers_per_node}")
        if not 0 <= self.relay_fraction <= 1:
            raise InputError(f"relay_fraction must be in [0, 1], got {self.relay_fraction}")
        if self.egress_usd_per_gb < 0 or self.hours_per_month < 0:
            raise InputError("prices and hours must be ≥ 0")


def per_session(steps: Sequence[dict[str, Any]]) -> dict[str, float]:
    """The one-step figure, for comparison: the largest admitted step's CPU (cores) ÷ its sessions,
    ``a/n + b`` — above the marginal cost ``b`` whenever the fixed cost ``a`` is positive."""
    ok = [s for s in steps if s.get("admitted") and s.get("cpu_pct") is not None]
    if not ok:
        raise InputError("the measurement has no step with admitted users")
    s = max(ok, key=lambda d: (d["admitted"], d["users"]))
    return {"users": s["admitted"], "cpu_cores": s["cpu_pct"] / 100 / s["admitted"]}


def _cores_nodes(n: int, slope: float, fixed: float, a: Assumptions) -> tuple[int, int]:
    """Nodes so that each runs ≤ target utilisation with its servers' fixed cost, then the cores."""
    usable = a.target_utilisation * a.cores_per_node - a.servers_per_node * fixed
    if usable <= 0 or slope <= 0:
        raise InputError(f"a node's fixed cost {a.servers_per_node * fixed:.2f} cores leaves no room for "
                         f"sessions at {a.target_utilisation:.0%} of {a.cores_per_node} cores")
    nodes = math.ceil(n * slope / usable)
    return math.ceil((n * slope + nodes * a.servers_per_node * fixed) / a.target_utilisation), nodes


def choose_law(steps: dict[str, Sequence[dict[str, Any]]], min_fraction: float = MIN_FPS_FRACTION) -> tuple[str, str]:
    """The one law every backend is fitted by, and why: per session when each backend has ≥ 3
    steps that kept up, else per answered frame (see :func:`capacity_fit.fit_steps`)."""
    kept = {b: [x["users"] for x in s if step_verdict(x, min_fraction) is None] for b, s in steps.items()}
    why = "; ".join(f"{b}: {len(k)} of {len(steps[b])} steps kept up{' (' + ', '.join(map(str, k)) + ' users)' if k else ''}"
                    for b, k in kept.items())
    short = [b for b in steps if len(set(kept[b])) < 3]
    for b in steps:
        if b not in short:
            try:
                fit_steps(steps[b], min_fraction, law="sessions")
            except InputError:
                short.append(b)
    return ("frames" if short else "sessions"), why


def other_law(steps: Sequence[dict[str, Any]], law: str, min_fraction: float = MIN_FPS_FRACTION) -> str:
    """The per-session cost by the law *not* used, in words: the two laws measure the same cost
    from different steps, so their agreement is a check on both (or why it cannot be fitted)."""
    other = next(x for x in LAWS if x != law)
    try:
        f = fit_steps(steps, min_fraction, law=other)
    except InputError as e:
        return f"the per-{other[:-1]} law cannot be fitted here ({e})"
    return (f"the per-{other[:-1]} law over {f['fit'].n} steps gives `b` = {_ci(f['per_session'], f['per_session_ci'])} "
            "millicores")


def capacity_table(steps: Sequence[dict[str, Any]], users: Sequence[int] = (100, 1_000, 10_000),
                   assume: Assumptions | None = None, min_fraction: float = MIN_FPS_FRACTION,
                   conf: float = 0.95, law: str = "sessions") -> dict[str, Any]:
    """Rows for ``users`` concurrent users from one backend's steps: the bound (per-session cost
    and fixed cost at their intervals' upper ends) and, beside it, the point fit and the one-step
    figure. ``law``: one of :data:`capacity_fit.LAWS`."""
    if law not in LAWS:
        raise InputError(f"law {law!r}: choose one of {', '.join(LAWS)}")
    a = assume or Assumptions()
    f = fit_steps(steps, min_fraction, conf, law)
    fit = f["fit"]
    b, b_hi, a_hi = f["per_session"], f["per_session_ci"][1], max(0.0, fit.intercept_ci[1])
    if b_hi <= 0:
        raise InputError(f"the slope's upper limit is {b_hi:.4f} cores per session: CPU does not grow with "
                         f"{law} in these steps")
    one = per_session(steps)
    per_run: dict[int, Any] = {}  # each run's own b: steps of one run share the box's state, so the
    for r in sorted({s.get("run", 1) for s in steps}):  # pooled interval (independent steps) is optimistic
        mine = [s for s in steps if s.get("run", 1) == r]
        try:
            g = fit_steps(mine, min_fraction, conf, law)
            per_run[r] = (g["per_session"], g["per_session_ci"])
        except InputError:
            ok = sum(step_verdict(s, min_fraction, law) is None for s in mine)
            per_run[r] = f"{ok} of {len(mine)} steps qualify"
    rows = []
    for n in users:
        cores, nodes = _cores_nodes(n, b_hi, a_hi, a)
        point = _cores_nodes(n, b, max(0.0, fit.intercept), a)[0] if b > 0 else None
        bps_in, bps_out = n * f["bytes_in_per_s"], n * f["bytes_out_per_s"]
        gb_h_out = bps_out * 3600 / 1e9
        turn_gb_h = a.relay_fraction * n * (f["bytes_in_per_s"] + f["bytes_out_per_s"]) * 3600 / 1e9
        rows.append({"users": n, "cores": cores, "nodes": nodes, "cores_point": point,
                     "ingress_mbit_s": round(bps_in * 8 / 1e6, 1), "egress_mbit_s": round(bps_out * 8 / 1e6, 1),
                     "server_egress_gb_per_h": round(gb_h_out, 2), "turn_gb_per_h": round(turn_gb_h, 2),
                     "usd_per_month": round((gb_h_out + turn_gb_h) * a.hours_per_month * a.egress_usd_per_gb, 2)})
    return {"fit": f, "bound": "lower bound on users per core (upper bound on cores)",
            "users_per_core": round(a.target_utilisation / b_hi, 2),
            "users_per_core_point": round(a.target_utilisation / b, 2) if b > 0 else None,
            "users_per_core_one_step": round(a.target_utilisation / one["cpu_cores"], 2)
            if one["cpu_cores"] > 0 else None,
            "one_step": one, "per_run": per_run, "rows": rows, "assumptions": asdict(a)}


def _ci(v: float, ci: tuple[float, float], scale: float = 1000.0) -> str:
    return f"{v * scale:.0f} [{ci[0] * scale:.0f}, {ci[1] * scale:.0f}]"


def _steps_table(steps: Sequence[dict[str, Any]], f: dict[str, Any]) -> list[str]:
    why = {d["index"]: d["reason"] for d in f["left_out"]}
    out = ["| run | users | admitted | server CPU, millicores | fps per user | answered frames/s | p95 round trip ms "
           "| in the fit |", "|---|---|---|---|---|---|---|---|"]
    for i, s in enumerate(steps):
        cpu = "-" if s.get("cpu_pct") is None else f"{s['cpu_pct'] * 10:.0f}"
        out.append(f"| {s.get('run', 1)} | {s['users']} | {s['admitted']} | {cpu} | {s['fps_per_user']:.1f} | "
                   f"{s['fps_per_user'] * s['admitted']:.1f} | "
                   f"{s.get('rtt_p95_ms') if s.get('rtt_p95_ms') is not None else '-'} | "
                   f"{'no: ' + why[i] if i in why else 'yes'} |")
    return out


_LAW_TEXT = {
    "sessions": ("Per backend, server CPU (cores) is fitted against admitted sessions, `CPU = a + b·n`, over the "
                 "steps that kept up ({why}: every user admitted, no errors, ≥ {pct} of the frame rate answered); "
                 "saturated steps are left out because a server or client short of CPU answers fewer frames "
                 "and so spends *less* per session than the law — fitting them would pull `b` down."),
    "frames": ("Too few steps kept up ({why}; ≥ {pct} of the frame rate answered), so per backend server CPU (cores) is fitted against answered "
               "frames per second, `CPU = a + c·F`, over every step with answers: a server or client starved "
               "by other jobs does fewer frames *and* spends less CPU in proportion, so the cost of a frame "
               "is still measured; a session at the offered {fps} fps costs `b = c·{fps}`. Frames the server "
               "decoded but skipped as stale are paid for and not counted, which raises `c` (the safe side)."),
}


def _provenance(i: int, source: str, record: dict[str, Any]) -> str:
    p = record["provenance"]
    la = " ".join(f"{x:g}" for x in p["load_average_start"]), " ".join(f"{x:g}" for x in p["load_average_end"])
    return (f"{i}. `{source}`: written by `{record['command']}` on {p['date']} (commit "
            f"{str(p.get('git_commit'))[:12]}{', tracked files modified' if p.get('git_dirty') else ''}; "
            f"{p['cpus']} CPUs shared with the load clients and other jobs; load average {la[0]} before, "
            f"{la[1]} after)" + (f"; flags: {'; '.join(record['flags'])}" if record.get("flags") else ""))


def render_markdown(tables: dict[str, dict[str, Any]], steps: dict[str, Sequence[dict[str, Any]]],
                    records: Sequence[tuple[str, dict[str, Any]]], figure: str | None = None,
                    law_reason: str = "", cross: dict[str, str] | None = None) -> str:
    """``docs/CAPACITY.md`` from one or more measurement files ``(path, record)`` whose steps are
    pooled (a step's ``run`` is its file's number): provenance, the law and the bound and why,
    then per backend its steps, the fit with intervals and residuals (``cross``: backend → the other
    law's figure, :func:`other_law`), users per core three ways and the table."""
    first = next(iter(tables.values()))
    a, law = first["assumptions"], first["fit"]["law"]
    s0 = next(iter(steps.values()))[0]
    out = ["# Capacity on paper", "",
           (f"Generated by `python benchmarks/capacity.py {' '.join(src for src, _ in records)}` from "
            f"{'that measurement file' if len(records) == 1 else 'these measurement files, steps pooled'} "
            "(each written by the benchmark with a checksum of its content). Do not edit by hand: re-measure "
            "and regenerate."), ""]
    out += [_provenance(i + 1, src, rec) for i, (src, rec) in enumerate(records)] + [""]
    out += [(f"Measured: cloud mode, {s0['width']}×{s0['height']} @ {s0['fps']} fps per user (looped synthetic "
             "face clip), loopback; server CPU is all its processes (Ray's included), per step over the window "
             "when every user streamed."), "",
            "## Which bound, and why", "",
            _LAW_TEXT[law].format(pct=f"{first['fit']['min_fraction']:.0%}", why=law_reason, fps=s0["fps"]), "",
            ("The table charges each session the **upper end of `b`'s 95% interval** and each server the upper "
             "end of `a`'s, so its cores and nodes are upper estimates: a "
             f"**{first['bound']}**. It stays one only if the law stays linear past the largest measured "
             "step (the residuals show the measured range only — extrapolating to 10,000 users assumes no "
             "per-session cost that grows with load), each server is one process paying `a` once, and a "
             "real network costs no more CPU than loopback (no loss, retransmission or TURN on the server). "
             "Contention on this shared box makes each frame dearer, which errs on the safe side. Beside "
             "it: the point fit and the old one-step figure (largest step's CPU ÷ its sessions = `a/n + b` "
             "if that step kept up; no interval, and *below* `b` if it was saturated)."), "",
            ("Assumptions (parameters of `hybridlib.study.load.capacity.Assumptions`): cores run at most "
             f"{a['target_utilisation']:.0%} busy; {a['cores_per_node']}-core nodes, {a['servers_per_node']} "
             f"server process(es) per node; {a['relay_fraction']:.0%} of sessions relayed by TURN (each relayed "
             f"byte leaves the TURN host once, both directions); egress ${a['egress_usd_per_gb']}/GB; "
             f"{a['hours_per_month']:g} hours a month at that concurrency. Not modelled: the signalling/HTTP "
             "tier, the TURN hosts' own CPU, codec choice."), ""]
    if figure:
        out += [f"![server CPU, the fit and its residuals]({figure})", ""]
    for name, t in tables.items():
        f, fit = t["fit"], t["fit"]["fit"]
        res = ", ".join(f"{r * 1000:+.0f}" for r in fit.residuals)
        n_sat = sum((step_verdict(x, f["min_fraction"]) or "").startswith("saturated") for x in steps[name])
        sat = (f"{n_sat} of {len(steps[name])} steps did not keep up" if n_sat
               else "every step kept up (no saturation reached)")
        unit = ("millicores per session" if law == "sessions"
                else "millicores per answered frame/s (CPU-ms per frame)")
        out += [f"## backend `{name}`: ≥ {t['users_per_core']} users per core", ""]
        out += _steps_table(steps[name], f) + [""]
        idle = [(r.get("idle") or {}).get(name) for _, r in records]
        idle = [d for d in idle if isinstance(d, dict) and isinstance(d.get("cpu_pct"), (int, float))]
        mc = " / ".join(f"{d['cpu_pct'] * 10:.0f}" for d in idle)
        procs = " / ".join(str(d.get("processes")) for d in idle)
        check = (f" A fresh server with no user, measured apart: {mc} millicores in {procs} process(es) — "
                 "to set beside `a`." if idle else "")
        runs = "; ".join(f"run {r}: " + (_ci(v[0], v[1]) if isinstance(v, tuple) else f"no fit ({v})")
                         for r, v in t["per_run"].items())
        if cross and cross.get(name):
            check += f" Cross-check: {cross[name]}."
        if len(t["per_run"]) > 1:
            check += (f" Each run alone, `b` in millicores: {runs} — steps of one run share the box's state, so "
                      "the pooled interval, which treats steps as independent, may be narrower than run-to-run "
                      "differences warrant.")
        out += [(f"Fit over {fit.n} steps (users {', '.join(map(str, f['fitted_users']))}; {sat}): "
                 f"`a` = {_ci(fit.intercept, fit.intercept_ci)} millicores, slope {_ci(fit.slope, fit.slope_ci)} "
                 f"{unit} (95%, Student t, {fit.dof} degree(s) of freedom); R² {fit.r2:.3f}, residual standard "
                 f"error {fit.rmse * 1000:.0f} millicores; residuals {res} millicores. Per session "
                 f"`b` = {_ci(f['per_session'], f['per_session_ci'])} millicores.{check}"), "",
                (f"Users per core at {a['target_utilisation']:.0%}: **{t['users_per_core']}** (bound, from "
                 f"`b`'s upper end); {t['users_per_core_point']} (point fit); {t['users_per_core_one_step']} "
                 f"(one step: {t['one_step']['cpu_cores'] * 1000:.0f} millicores per session at "
                 f"{t['one_step']['users']} sessions). Per session (bytes from the "
                 f"{'/'.join(map(str, f['bytes_from_users']))}-user step(s)): "
                 f"{f['bytes_in_per_s'] * 8 / 1e6:.2f} Mbit/s in + {f['bytes_out_per_s'] * 8 / 1e6:.2f} Mbit/s out; "
                 f"{f['fps_per_user']:.1f} fps answered on average, worst p95 round trip {f['rtt_p95_ms']} ms over "
                 "the fitted steps."), "",
                ("| users | cores (bound) | nodes (bound) | cores (point fit) | ingress Mbit/s | egress Mbit/s | "
                 "server egress GB/h | TURN GB/h | egress $/month |"),
                "|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {r['users']:,} | {r['cores']:,} | {r['nodes']:,} | "
                f"{'-' if r['cores_point'] is None else format(r['cores_point'], ',')} | {r['ingress_mbit_s']:,} | "
                f"{r['egress_mbit_s']:,} | {r['server_egress_gb_per_h']:,} | {r['turn_gb_per_h']:,} | "
                f"{r['usd_per_month']:,} |" for r in t["rows"]]
        out.append("")
    return "\n".join(out)
