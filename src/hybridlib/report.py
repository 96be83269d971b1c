"""Summaries of a study run: ``summary.json`` (everything) and ``summary.md`` (for people).

The numbers come only from ``results/*.json`` written by the notebooks during this run;
nothing is typed in. Results computed on synthetic data say so.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .utils import to_jsonable, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)


def load_results(results_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        if p.name.startswith("_"):  # bookkeeping (e.g. _skipped.json), not a result
            continue
        try:
            out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            log.warning("skipping unreadable result %s: %s", p, e)
    return out


def _scalars(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten the scalar leaves of a result (first two levels) for the markdown table."""
    rows: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, (int, float, str, bool)) or v is None:
                rows.append((key, v))
            elif isinstance(v, dict) and prefix.count(".") < 1:
                rows.extend(_scalars(v, key + "."))
    return rows


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def write_summary(ctx, result) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``summary.md`` under ``ctx.reports_dir``."""
    results = load_results(ctx.results_dir)
    figures = sorted(str(p.relative_to(ctx.reports_dir)) for p in ctx.figures_dir.glob("*.png"))
    summary = {"preset": ctx.preset.name, "synthetic": ctx.synthetic, "data": ctx.data_label,
               "pipeline": result.to_dict(), "figures": figures, "results": results,
               "skipped": [{**s, "status": f"skipped: {s['reason']}"} for s in getattr(result, "skipped", [])]}
    jpath = write_json_atomic(ctx.reports_dir / "summary.json", to_jsonable(summary))
    lines = [f"# hybridlib study — preset `{ctx.preset.name}`", "",
             f"Data: **{ctx.data_label}**" + (" — every number below is computed on SYNTHETIC faces, not FER-2013." if ctx.synthetic else ""),
             "", "## Notebooks", "", "| notebook | status | seconds |", "|---|---|---|"]
    for r in result.runs:
        lines.append(f"| {r.name} | {r.status}{' — ' + r.error if r.error else ''} | {r.seconds:.1f} |")
    lines += _skipped_lines(summary["skipped"])
    for name, res in results.items():
        rows = [(k, v) for k, v in _scalars(res) if k not in ("preset",)]
        if not rows:
            continue
        lines += ["", f"## {name}", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in rows[:40]]
    if figures:
        lines += ["", "## Figures", ""] + [f"- ![{Path(f).stem}]({f})" for f in figures]
    mpath = write_text_atomic(ctx.reports_dir / "summary.md", "\n".join(lines) + "\n")
    return jpath, mpath


def _skipped_lines(skipped: list[dict[str, Any]]) -> list[str]:
    """The ``skipped: <reason>`` rows: parts a notebook could not run (``ctx.skip``)."""
    if not skipped:
        return []
    out = ["", "## Parts that did not run", "", "| part | notebook | required | status |", "|---|---|---|---|"]
    for s in skipped:
        out.append(f"| {s['part']} | {s.get('notebook') or '?'} | {'yes' if s.get('required') else 'no'} "
                   f"| {s['status'].replace('|', '/')} |")
    return out


#: What the seeds report (quoted from ../shared/seeds, DESIGN.md §9). These are the *seeds'*
#: numbers, shown beside ours for comparison; none of our figures is computed from them.
SEED_NUMBERS: tuple[dict[str, Any], ...] = (
    {"seed": "000", "metric": "emotion CNN parameters", "seed_value": "~3M", "key": ("train", "params")},
    {"seed": "000", "metric": "validation accuracy before tuning", "seed_value": "61.24% (FER-2013)",
     "key": ("train", "comparison", "CNN, default config (before tuning)", "val_accuracy")},
    {"seed": "000", "metric": "validation accuracy after tuning", "seed_value": "63.39% (FER-2013)",
     "key": ("train", "cnn", "val_accuracy")},
    {"seed": "000", "metric": "cloud mode (ours): most users served at ≥80% fps, p95 ≤ 250 ms",
     "seed_value": "5 (4 cores; crashed at 6)",
     "key": ("07_load", "saturation_users", "ours"), "none": "none: over target already at 1 user"},
    {"seed": "000", "metric": "cloud mode (seed pipeline, here): most users served at ≥80% fps, p95 ≤ 250 ms",
     "seed_value": "5 (4 cores; crashed at 6)",
     "key": ("07_load", "saturation_users", "seed"), "none": "none: over target already at 1 user"},
    {"seed": "000", "metric": "hybrid mode server CPU-s per user-minute", "seed_value": "flat up to 10 users",
     "key": ("07_load", "per_user_minute", "hybrid", "cpu_s_per_user_min")},
    {"seed": "001", "metric": "AlexNet parameters", "seed_value": "62,378,344", "key": ("train", "alexnet_params")},
    {"seed": "003", "metric": "mean latency speed-up of the chosen plan vs cloud-only", "seed_value": "3.1× (up to 40.7×)",
     "key": ("partition", "@mean_speedup_vs_cloud")},
    {"seed": "003", "metric": "max latency speed-up vs cloud-only", "seed_value": "40.7×",
     "key": ("partition", "@max_speedup_vs_cloud")},
    {"seed": "003", "metric": "mean device-energy saving vs cloud-only (energy objective)", "seed_value": "59.5% (up to 94.7%)",
     "key": ("partition", "@mean_energy_saving_vs_cloud")},
    {"seed": "004", "metric": "inputs exiting at the edge branch", "seed_value": "95%",
     "key": ("early_exit", "edge_exit_fraction")},
)


def _lookup(results: dict[str, Any], key: tuple) -> Any:
    """Follow ``key`` into the results; list steps match a row by its first string field."""
    name, *path = key
    cur: Any = results.get(name)
    if cur is None:
        return None
    if path and isinstance(path[0], str) and path[0].startswith("@"):
        return _derived(cur, path[0][1:])
    for step in path:
        if isinstance(cur, dict):
            cur = cur.get(step)
        elif isinstance(cur, list):
            cur = next((r for r in cur if isinstance(r, dict) and step in (r.get("model"), r.get("series"))), None)
        else:
            return None
        if cur is None:
            return None
    return cur


def _derived(partition: dict[str, Any], what: str) -> float | None:
    """Neurosurgeon-style aggregates over the partition choice table (latency / energy rows)."""
    rows = partition.get("choices") or []
    lat = [r["speedup_vs_cloud"] for r in rows if r.get("objective") == "latency" and r.get("schedule") == "single"
           and r.get("speedup_vs_cloud") is not None]
    en = [r["energy_saving_vs_cloud_pct"] for r in rows if r.get("objective") == "energy"
          and r.get("schedule") == "single" and r.get("energy_saving_vs_cloud_pct") is not None]
    if what == "mean_speedup_vs_cloud" and lat:
        return float(sum(lat) / len(lat))
    if what == "max_speedup_vs_cloud" and lat:
        return float(max(lat))
    if what == "mean_energy_saving_vs_cloud" and en:
        return float(sum(en) / len(en))
    return None


def seed_comparison(results: dict[str, Any]) -> "pd.DataFrame":  # noqa: F821
    """One row per seed claim: the seed's reported value beside ours from this run's results."""
    import pandas as pd

    rows = []
    for item in SEED_NUMBERS:
        ours = _lookup(results, item["key"])
        if ours is None:
            missing = item["key"][0] not in results or "none" not in item
            ours_txt = "not measured in this run" if missing else item["none"]
        else:
            ours_txt = _fmt(ours)
        rows.append({"seed": item["seed"], "metric": item["metric"], "seed reports": item["seed_value"],
                     "this run": ours_txt,
                     "source": f"results/{item['key'][0]}.json"})
    return pd.DataFrame(rows)
