"""Rows for 07 (load): the cloud efficiency ratio against the seed pipeline, users served, and
hybrid vs cloud server CPU — beside seed 000's claims only where its server and clients match."""
from __future__ import annotations

from typing import Any

from hybridlib.study.report.core import MEASURED, Comparison, Headline, result_data, fmt_pct, fmt_span, seed_fields, fmt_ratio


def _client_ms(res: dict[str, Any]) -> list[float]:
    """The client (browser page) CPU ms per frame of each hybrid step 07 measured it for."""
    return [h.get("client_ms_per_frame") for h in res.get("hybrid") or []
            if isinstance(h, dict) and h.get("client_ms_per_frame") is not None]


def cloud_ratio(res: dict[str, Any]) -> dict[str, Any] | None:
    """The cloud efficiency ratio (ours ÷ seed pipeline, answered frames per server CPU-s),
    like for like when 07 recorded it per equal user count (``cloud_ratio``: the minimum over
    counts is the headline); an older result's single ratio is returned flagged as not alike."""
    cr = res.get("cloud_ratio")
    if isinstance(cr, dict) and cr.get("rows") is not None:
        per = {int(r["users"]): r.get("ratio") for r in cr["rows"] if r.get("ratio") is not None}
        return {"value": cr.get("min_ratio"), "at_users": cr.get("min_at_users"), "per_users": per,
                "like_for_like": cr.get("min_ratio") is not None}
    e = res.get("answered_per_cpu_s")
    if isinstance(e, dict) and e.get("ratio") is not None:
        plan = res.get("plan") or {}
        return {"value": e["ratio"], "at_users": None, "per_users": {}, "like_for_like": False,
                "differs": f"median over unequal user counts (ours {plan.get('users')}, "
                           f"seed pipeline {plan.get('seed_users')})"}
    return None


def load_rows(res: dict[str, Any]) -> list[Comparison]:
    rows: list[Comparison] = []
    data, src = result_data(res), "results/07_load.json"
    plan = res.get("plan") or {}
    size = plan.get("size") or ["?", "?"]
    cpus = res.get("cpu_count")
    where = f"loopback, {size[0]}×{size[1]} @ {plan.get('fps')} fps, {cpus} CPUs shared with the load clients"
    cr = cloud_ratio(res)
    if cr is not None:
        if cr["like_for_like"]:
            per = ", ".join(f"{u} user{'s' if u > 1 else ''}: {fmt_ratio(v)}" for u, v in sorted(cr["per_users"].items()))
            rows.append(Comparison("cloud", "efficiency ratio ours ÷ seed pipeline (answered frames per server "
                                   "CPU-s), minimum over equal user counts", fmt_ratio(cr["value"]) + f" ({per})",
                                   f"cloud mode, both pipelines at the same user counts; {where}", data, MEASURED,
                                   src))
        else:
            rows.append(Comparison("cloud", "efficiency ratio ours ÷ seed pipeline (answered frames per server "
                                   "CPU-s)", fmt_ratio(cr["value"]) + " — NOT like for like: " + cr["differs"],
                                   f"cloud mode; {where}", data, MEASURED, src))
    sat = res.get("saturation_users") or {}
    hw_differs = [f"server here: {cpus} CPUs shared with the load clients on one machine, "
                  "seed: 4 cores / 8 threads with clients elsewhere",
                  f"camera here {size[0]}×{size[1]} @ {plan.get('fps')} fps"]
    for key, label in (("ours", "ours"), ("seed", "seed pipeline (000's server design, rebuilt here)")):
        if key in sat:
            v = sat[key]
            tried = [int(u) for u in (plan.get("users") if key == "ours" else plan.get("seed_users")) or []]
            rows.append(Comparison("cloud", f"cloud mode users served at ≥80% fps and p95 ≤ 250 ms, {label}",
                                   "none (over target at 1 user)" if v is None else
                                   f"≥{v} (the most users tried)" if tried and int(v) >= max(tried) else
                                   f"{v} (next count tried: {min(u for u in tried if u > int(v))})"
                                   if tried and any(u > int(v) for u in tried) else str(v),
                                   f"cloud mode, users {plan.get('users') if key == 'ours' else plan.get('seed_users')}"
                                   f"; {where}", data, MEASURED, src, **seed_fields("000-cloud-users", hw_differs)))
    ratio = res.get("hybrid_vs_cloud_cpu_ratio")
    if ratio is not None:
        claim = res.get("hybrid_claim") or {}
        pages = bool(claim) or bool(res.get("hybrid_browser"))
        how = ("hybrid users are Chromium pages running the app" if claim else
               "hybrid users fetch the page and model, then idle (no page runs the app)")
        rows.append(Comparison("hybrid", "hybrid ÷ cloud (ours) server CPU per user-minute", fmt_pct(ratio, 2),
                               f"{how}; {where}", data, MEASURED, src,
                               **seed_fields("000-hybrid", ["the seed gives no per-user figure, only 'flat'"]
                                          + ([] if pages else ["no client work measured here"]))))
    client = _client_ms(res)
    if client:
        rows.append(Comparison("hybrid", "client (browser page) CPU per frame, hybrid mode",
                               " / ".join(f"{c:.1f} ms" for c in client), "hybrid users as Chromium pages (DevTools "
                               "Performance.getMetrics TaskDuration)", data, MEASURED, src))
    return rows

def add_headline(results: dict[str, Any], out: Headline) -> None:
    """The headline's cloud efficiency ratio and hybrid-vs-cloud server CPU rows."""
    ld = results.get("07_load") or {}
    cr = cloud_ratio(ld) if ld else None
    if cr is None:
        out.row("cloud efficiency ratio (ours ÷ seed pipeline)", "not measured", "07_load did not run")
    elif cr["like_for_like"]:
        out.row("cloud efficiency ratio (ours ÷ seed pipeline)",
                f"{fmt_ratio(cr['value'])} (lowest of {len(cr['per_users'])} equal user counts, at {cr['at_users']}; "
                f"per count {', '.join(fmt_ratio(v) for _, v in sorted(cr['per_users'].items()))}: one step each, "
                "no interval — benchmarks/bench_load_ci.py measures one step's spread)",
                f"{MEASURED}: answered frames per server CPU-s, same user counts")
    else:
        out.row("cloud efficiency ratio (ours ÷ seed pipeline)", f"{fmt_ratio(cr['value'])} (not like for like)",
                f"{MEASURED}; {cr['differs']}")
    ratio = ld.get("hybrid_vs_cloud_cpu_ratio") if ld else None
    if ratio is not None:
        client = _client_ms(ld)
        out.row("hybrid vs cloud server CPU (per user-minute)",
                f"{fmt_pct(ratio, 2)} of cloud's" + (f"; client pays {fmt_span(client)} ms CPU per frame" if client else ""),
                MEASURED + ("; hybrid users = Chromium pages running the app" if ld.get("hybrid_claim")
                            else "; hybrid users fetch the app then idle (client cost not measured)"))
    else:
        out.row("hybrid vs cloud server CPU (per user-minute)", "not measured",
                "07_load did not run or had no hybrid run")
