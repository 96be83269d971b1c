"""The report assembled: every part's comparison rows (:func:`comparisons`), the headline table
(:func:`headline`), and ``summary.json`` / ``summary.md`` (:func:`write_summary`)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from hybridlib.study.report import early_exit, fleet, load, partition, privacy, split, train
from hybridlib.study.report.core import (
    SEED_CLAIMS,
    Comparison,
    Headline,
    md_cell,
    flatten_scalars,
    skipped_lines,
    claim_table,
    load_results,
    md_table,
    relativize,
)
from hybridlib.study.report.recorded import recorded_rows
from hybridlib.utils import to_jsonable, write_json_atomic, write_text_atomic

#: which result feeds which rows, in the report's order (a result may feed several parts)
_PARTS = (("train", train.train_rows), ("07_load", load.load_rows), ("partition", partition.partition_rows),
          ("early_exit", early_exit.early_exit_rows), ("early_exit", early_exit.converter_rows),
          ("early_exit", early_exit.exit_exec_rows), ("early_exit", early_exit.edgent_exec_rows),
          ("09_split", split.split_rows), ("fleet", fleet.fleet_rows), ("choice", fleet.choice_rows),
          ("privacy", privacy.privacy_rows))


def comparisons(results: dict[str, Any], root: Path | None = None) -> list[Comparison]:
    """Every comparison row this run's results support (none invented for missing results);
    with ``root``, the recorded scale-out rows of :func:`recorded_rows` follow, marked as such."""
    rows: list[Comparison] = []
    for name, fn in _PARTS:
        if isinstance(results.get(name), dict):
            rows += fn(results[name])
    if root is not None:
        rows += recorded_rows(root)
    return rows


def seed_comparison(results: dict[str, Any], root: Path | None = None) -> Any:
    """The comparison rows as a table (what 08 shows and saves as ``08_seed_comparison.csv``);
    ``root``: also the recorded scale-out rows (see :func:`comparisons`)."""

    cols = [f.name for f in Comparison.__dataclass_fields__.values()]  # type: ignore[attr-defined]
    return pd.DataFrame([r.to_dict() for r in comparisons(results, root)], columns=cols)


def headline(results: dict[str, Any], skipped: list[dict[str, Any]] | None = None) -> list[dict[str, str]]:
    """The few numbers a reviewer wants first, each with what it is measured on.

    Rows: data; model accuracy vs baseline; cloud efficiency ratio; hybrid vs cloud server
    CPU; partition speed-up like for like (as measured, one graph per network: no what-if);
    early-exit share; parts skipped. A row whose notebook did not run says so.
    """
    out = Headline()
    for part in (train, load, partition, early_exit, split, fleet, privacy):
        part.add_headline(results, out)
    if skipped:
        req = [s for s in skipped if s.get("required")]
        out.row("parts that did not run", f"{len(skipped)} ({len(req)} required)",
                "; ".join(s["part"] for s in skipped))
    return list(out)


def write_summary(ctx, result) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``summary.md`` under ``ctx.reports_dir``.

    ``summary.md`` opens with the headline table, then the like-for-like comparison rows,
    the quoted seed claims, the notebooks and skipped parts, and every result's scalars.
    Paths are repo-relative (see :func:`relativize`)."""
    root = Path(ctx.root)
    results = relativize(load_results(ctx.results_dir), root)
    figures = sorted(str(p.relative_to(ctx.reports_dir)) for p in ctx.figures_dir.glob("*.png"))
    skipped = [{**s, "status": f"skipped: {s['reason']}"} for s in getattr(result, "skipped", [])]
    head = headline(results, skipped)
    rows = [r.to_dict() for r in comparisons(results, root)]
    summary = {"preset": ctx.preset.name, "synthetic": ctx.synthetic, "data": ctx.data_label,
               "headline": head, "comparisons": rows, "seed_claims": list(SEED_CLAIMS),
               "pipeline": relativize(result.to_dict(), root), "skipped": skipped, "figures": figures,
               "results": results}
    jpath = write_json_atomic(ctx.reports_dir / "summary.json", to_jsonable(summary))
    lines = [f"# hybridlib study — preset `{ctx.preset.name}`", "",
             f"Data: **{ctx.data_label}**" + (" — every number below is computed on SYNTHETIC faces, not FER-2013."
                                              if ctx.synthetic else ""),
             "", "## Headline", ""]
    lines += md_table(head)
    lines += ["", "## Comparisons, like for like", "",
              "Each row names its scenario, its data and whether it is measured or modelled. A seed's number "
              "appears in *seed value* only when the conditions match; otherwise *like for like* says what "
              "differs (the seed's figure is in the quoted table below). What-if scenarios are separate rows, "
              "never averaged with measured ones; each network counts once.", ""]
    lines += md_table(rows, ["topic", "quantity", "this_run", "scenario", "data", "basis", "seed", "seed_value",
                             "like_for_like"])
    lines += ["", "## What the seeds report (quoted, their conditions)", ""]
    lines += md_table(claim_table())
    lines += ["", "## Notebooks", "", "| notebook | status | seconds |", "|---|---|---|"]
    for r in result.runs:
        lines.append(f"| {r.name} | {r.status}{' — ' + md_cell(r.error) if r.error else ''} | {r.seconds:.1f} |")
    lines += skipped_lines(skipped)
    for name, res in results.items():
        kv = [(k, v) for k, v in flatten_scalars(res) if k not in ("preset",)]
        if not kv:
            continue
        lines += ["", f"## {name}", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {md_cell(v)} |" for k, v in kv[:40]]
    if figures:
        lines += ["", "## Figures", ""] + [f"- ![{Path(f).stem}]({f})" for f in figures]
    mpath = write_text_atomic(ctx.reports_dir / "summary.md", "\n".join(lines) + "\n")
    return jpath, mpath
