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
               "pipeline": result.to_dict(), "figures": figures, "results": results}
    jpath = write_json_atomic(ctx.reports_dir / "summary.json", to_jsonable(summary))
    lines = [f"# hybridlib study — preset `{ctx.preset.name}`", "",
             f"Data: **{ctx.data_label}**" + (" — every number below is computed on SYNTHETIC faces, not FER-2013." if ctx.synthetic else ""),
             "", "## Notebooks", "", "| notebook | status | seconds |", "|---|---|---|"]
    for r in result.runs:
        lines.append(f"| {r.name} | {r.status}{' — ' + r.error if r.error else ''} | {r.seconds:.1f} |")
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
