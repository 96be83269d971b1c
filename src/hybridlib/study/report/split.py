"""Rows for 09 (executed split): the engine's cut checked against every cut executed, and the
seeds' speed-ups beside ours only where the device class and links are the seeds' kind."""
from __future__ import annotations

from typing import Any

from hybridlib.stats import wilson
from hybridlib.study.report.core import MEASURED, Comparison, Headline, result_data, fmt_pct, fmt_ratio


def _claim_value(c: dict[str, Any]) -> str:
    """Our figure for a 09 seed claim: ``2.30×`` for speed-ups, ``31%`` for a reduction — and a
    negative reduction said as what it is (slower than the best single platform), not "−12% less"."""
    unit, v = c.get("unit", ""), float(c["ours"])
    if unit == "×":
        return f"{v:.2f}×"
    if unit == "%" and v < 0:
        return f"{v:.0f}% (slower than the best single platform)"
    return f"{v:.0f}{unit}"


def _matched_models(c: dict[str, Any]) -> list[str]:
    """The networks behind a 09 seed claim's number (first word of each matched case) that its
    conditions do not already name, so a row pooling the emotion CNN and AlexNet says so."""
    named = str(c.get("conditions"))
    nets = {str(m).split(" ", 1)[0] for m in c.get("matched") or [] if str(m).strip()}
    return sorted(m for m in nets if m not in named)


def split_rows(res: dict[str, Any]) -> list[Comparison]:
    """09's executed split: the engine's choice checked against measured cuts, and the
    seeds' speed-ups beside ours where the device class and links are the seeds' kind."""
    rows: list[Comparison] = []
    data, src = result_data(res), "results/09_split.json"
    if res.get("hit_rate") is not None:
        rows.append(Comparison(
            "executed split", "engine's cut within 10% of the measured best (hit rate); median / worst regret",
            f"{fmt_pct(res['hit_rate'])} of {res.get('cases')} cases; {fmt_pct(res.get('median_regret'))} / "
            f"{fmt_pct(res.get('worst_regret'))}", "every cut executed: head in throttled Chromium (TF.js wasm), "
            "tail on this server, DevTools-shaped links", data, MEASURED + " (prediction from per-layer profiles)",
            src))
    for c in res.get("like_for_like") or []:
        if c.get("ours") is None:
            continue
        unit = c.get("unit", "")
        ours = _claim_value(c)
        # like for like means the same device class and links as the seed's kind
        # of comparison (mobile-class device vs server, 3G/LTE/Wi-Fi); what still differs is said
        models = _matched_models(c)
        scenario = (f"{c.get('cases')} executed case(s): {c.get('conditions')}"
                    + (f" (models: {', '.join(models)})" if models else "") + "; "
                    f"the seed: {c.get('seed_conditions')}")
        if c.get("differs"):
            scenario += "; still differs: " + "; ".join(c["differs"])
        alike = bool(c.get("like_for_like"))
        rows.append(Comparison(
            "executed split", f"{c.get('claim')} (measured ÷ measured)", ours, scenario, data, MEASURED, src,
            seed=str(c.get("seed", "")), seed_value=(f"{c.get('seed_value')}{unit}" if alike else ""),
            like_for_like=("yes" if alike else
                           f"no — not the seed's conditions ({c.get('conditions')} vs {c.get('seed_conditions')})")))
    return rows

def add_headline(results: dict[str, Any], out: Headline) -> None:
    """The headline's executed-split rows: hit rate, then the seeds' claims like for like."""
    sp = results.get("09_split") or {}
    if sp.get("hit_rate") is not None:
        vc = sp.get("speedup_vs_cloud") or {}
        out.row("executed split: engine's cut vs the measured best",
                (f"{sp['hits']}/{sp['cases']} hits = {wilson(int(sp['hits']), int(sp['cases'])).pct()} (Wilson 95%)"
                 if isinstance(sp.get("hits"), int) and isinstance(sp.get("cases"), int) and sp["cases"] > 0
                 else f"{fmt_pct(sp['hit_rate'])} hits over {sp.get('cases')} cases")
                + f", worst regret {fmt_pct(sp.get('worst_regret'))}"
                + (f"; chosen cut {fmt_ratio(vc.get('mean'))} mean ({fmt_ratio(vc.get('max'))} max) faster than cloud-only"
                   if vc.get("mean") is not None else ""),
                f"{MEASURED}: every cut run head-in-browser / tail-on-server; {result_data(sp)}")
        claims = [c for c in sp.get("like_for_like") or [] if isinstance(c, dict)]
        if claims:
            parts, differs = [], []
            for c in claims:
                unit = c.get("unit", "")
                seed = f"{c.get('seed')} {c.get('short') or c.get('claim')}"
                if c.get("ours") is None:  # no executed case under the seed's conditions: no seed number
                    parts.append(f"{seed}: no case like the seed's ({c.get('conditions')})")
                    continue
                ours = _claim_value(c)
                if not c.get("like_for_like"):  # the one rule: no seed number beside other conditions
                    parts.append(f"{seed}: {ours} over {c.get('cases')} case(s), not like for like "
                                 f"({c.get('conditions')} vs {c.get('seed_conditions')})")
                    continue
                models = _matched_models(c)
                parts.append(f"{seed}: {ours} over {c.get('cases')} case(s) ({c.get('conditions')}"
                             + (f"; models {', '.join(models)}" if models else "") + "; "
                             f"seed {c.get('seed_value')}{unit})")
                differs += [d for d in c.get("differs") or [] if d not in differs]
            out.row("executed split vs the seeds, like for like (device class, links, model)", "; ".join(parts),
                    f"{MEASURED} ÷ {MEASURED}" + ("; still differs: " + "; ".join(differs) if differs else ""))
    else:
        out.row("executed split", "not measured", "09_split did not run")
