"""Rows for 10 (many phones, one server) and 11 (003's choice table, executed): the numbers
seed 003 makes claims about, each beside the seed's only where the conditions are alike —
which, on one shared 2-core box, they never fully are, so the rows say what differs."""
from __future__ import annotations

from typing import Any

from hybridlib.study.report.core import MEASURED, Comparison, Headline, fmt_pct, fmt_ratio, result_data


def fleet_rows(res: dict[str, Any]) -> list[Comparison]:
    """10's throughput at the SLO (load-aware vs cloud-only) and the adaptation trace."""
    rows: list[Comparison] = []
    data, src = result_data(res), "results/fleet.json"
    thr = res.get("throughput") or {}
    r = thr.get("ratio") or {}
    differs = "; ".join(res.get("differences") or [])
    served = thr.get("served") or {}
    if r.get("qps_ratio") is not None or served:
        bound = " (a lower bound: the load-aware sweep never saturated)" if r.get("lower_bound") else ""
        ratio = (fmt_ratio(r["qps_ratio"]) if r.get("qps_ratio") is not None
                 else "— (cloud-only met the SLO at no user count tried)")
        rows.append(Comparison(
            "many phones, one server", "server throughput at the SLO, load-aware ÷ cloud-only (answered queries/s)",
            f"{ratio}{bound}; users served: "
            + ", ".join(f"{p} {s.get('users')}{'' if s.get('saturated') else '+'}" for p, s in served.items()),
            f"SLO: {thr.get('slo')}; user counts {thr.get('settings', {}).get('users')}", data, MEASURED, src,
            seed="003", seed_value="",
            like_for_like=f"no — {differs}" if differs else "no — not the seed's setting"))
    lat = (res.get("adaptation") or {}).get("latency") or []
    if lat:
        rea = [x for x in (res.get("adaptation") or {}).get("reactions") or [] if x.get("react_s") is not None]
        rows.append(Comparison(
            "many phones, one server", "latency under a link and server-load trace: mean / p95 per policy",
            "; ".join(f"{x['policy']} {x['mean_ms']:.0f} / {x['p95_ms']:.0f} ms" for x in lat if x.get("p95_ms"))
            + (f"; the adaptive cut reacted in {min(x['react_s'] for x in rea):.2f}–{max(x['react_s'] for x in rea):.2f} s"
               if rea else ""),
            "phases: " + " → ".join(p["link"] + (" + load" if p.get("load") else "")
                                    for p in (res.get("adaptation") or {}).get("phases") or []),
            data, MEASURED, src, seed="003", like_for_like="no — a trace of our own (003 shows figures, no number)"))
    return rows


def choice_rows(res: dict[str, Any]) -> list[Comparison]:
    """11's engine against the measured best, uncalibrated (headline) and calibrated, overall and on
    the discriminating cases, and 003's 3.1× per network where it applies."""
    rows: list[Comparison] = []
    data, src = result_data(res), "results/choice.json"
    for name, eng in (res.get("engines") or {}).items():
        for part in ("overall", "discriminating"):
            s = eng.get(part) or {}
            if not s.get("n"):
                continue
            lo, hi = (s.get("hit_ci") or [None, None])[:2]
            rows.append(Comparison(
                "003's choice table, executed", f"{name} engine: cut within 10% of the measured best ({part})",
                f"{s['hits']}/{s['n']} = {fmt_pct(s['hit_rate'])} [{fmt_pct(lo)}, {fmt_pct(hi)}] (Wilson 95%); "
                f"median / worst regret {fmt_pct(s.get('median_regret'))} / {fmt_pct(s.get('worst_regret'))}",
                f"{res.get('n_cases')} cases over {', '.join(res.get('networks') or [])}"
                + (f"; discriminating: {res.get('discriminating_rule')}" if part == "discriminating" else ""),
                data, MEASURED + (" (calibration from an unscored probe)" if name == "calibrated" else
                                  " (prediction from profiles only)"), src))
    for h in res.get("headline_003") or []:
        if h.get("ours_mean") is None:
            continue
        dev = f" ({h['device']} class, {h.get('links')})" if h.get("device") else ""
        vs_dev = (f"; over device-only {fmt_ratio(h['vs_device_mean'])} mean, {fmt_ratio(h.get('vs_device_max'))} max"
                  if h.get("vs_device_mean") is not None else "")
        rows.append(Comparison(
            "003's choice table, executed", f"latency speed-up of the chosen cut over cloud-only, {h['networks']}{dev}",
            f"{fmt_ratio(h['ours_mean'])} mean, {fmt_ratio(h.get('ours_max'))} max over {h.get('cases')} case(s)"
            + vs_dev, h.get("seed_quote", ""), data, MEASURED, src, seed="003",
            seed_value=str(h["seed_value"]) if h.get("like_for_like") and h.get("seed_value") is not None else "",
            like_for_like="yes" if h.get("like_for_like") else "no — " + "; ".join(h.get("differs") or [])))
    return rows


def add_headline(results: dict[str, Any], out: Headline) -> None:
    """The headline's rows for 10 and 11."""
    fl = results.get("fleet") or {}
    r = (fl.get("throughput") or {}).get("ratio") or {}
    if r.get("qps_ratio") is not None:
        out.row("many phones, one server: throughput at the SLO, load-aware ÷ cloud-only",
                f"{fmt_ratio(r['qps_ratio'])}" + (" (lower bound)" if r.get("lower_bound") else "")
                + " (003: 1.5× mean, 6.7× max — not like for like: one 2-core box plays server and phones)",
                f"{MEASURED}; {result_data(fl)}")
    ch = results.get("choice") or {}
    eng = (ch.get("engines") or {}).get(ch.get("headline_engine") or "uncalibrated") or {}
    o, d = eng.get("overall") or {}, eng.get("discriminating") or {}
    if o.get("n"):
        out.row("003's choice table: engine's cut vs the measured best (uncalibrated)",
                f"{o['hits']}/{o['n']} hits, Wilson 95% [{fmt_pct((o.get('hit_ci') or [None])[0])}, "
                f"{fmt_pct((o.get('hit_ci') or [None, None])[1])}]; discriminating cases: "
                + (f"{d['hits']}/{d['n']}" if d.get("n") else "none"),
                f"{MEASURED}: cuts executed head-in-browser / tail-on-server; {result_data(ch)}")
