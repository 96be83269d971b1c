"""Summaries of a study run: ``summary.json`` (everything) and ``summary.md`` (for people).

The numbers come only from ``results/*.json`` written by the notebooks during this run;
nothing is typed in except the seeds' own claims (:data:`SEED_CLAIMS`), which are quoted.

Why so much care about *which* numbers stand together: a reviewer reads a table row as a
comparison. So every comparison row here names

- its **scenario** (as measured, or a what-if such as "phone ×10, server ÷10" — what-ifs are
  never averaged with measured rows),
- its **data** (synthetic or FER-2013),
- its **basis**: *measured*, or *modelled* and how (device energy is a model: 2 W × ms),

and a seed's number is put beside ours only when the conditions match (same data, budget,
hardware class); otherwise the row says what differs and the seed's figure stays in the quoted
table of seed claims. Each neural network counts once: the emotion CNN's partition numbers
come from its TF.js graph when 04 profiled it (the hybrid app's real device runtime), else
from its Keras graph, and the row says which.

Layout: :mod:`.core` (the row, the seed-value rule, seed claims, formatting, rendering), one
module per study part — :mod:`.train` (00/01), :mod:`.load` (07), :mod:`.partition` (05),
:mod:`.early_exit` (06: branch, converter, executed exit, Edgent), :mod:`.split` (09),
:mod:`.recorded` (committed scale-out measurements) — each with its comparison rows and its
headline rows, and :mod:`.summary`, which assembles them and writes the summary files.
"""
from __future__ import annotations

from hybridlib.study.report.core import (
                                         ENERGY_MODEL,
                                         MEASURED,
                                         PARTITION_MODEL,
                                         SEED_CLAIMS,
                                         Comparison,
                                         fmt_pct,
                                         load_results,
                                         md_table,
                                         relativize,
                                         seed_claims,
)
from hybridlib.study.report.early_exit import missing_parts
from hybridlib.study.report.load import cloud_ratio
from hybridlib.study.report.partition import graph_per_network, scenario_label
from hybridlib.study.report.recorded import MEASUREMENTS_DIR, recorded_rows
from hybridlib.study.report.summary import comparisons, headline, seed_comparison, write_summary

__all__ = ["ENERGY_MODEL", "MEASURED", "MEASUREMENTS_DIR", "PARTITION_MODEL", "SEED_CLAIMS", "Comparison",
           "cloud_ratio", "comparisons", "graph_per_network", "headline", "load_results", "md_table",
           "missing_parts", "recorded_rows", "relativize", "scenario_label", "seed_claims", "seed_comparison",
           "write_summary", "fmt_pct"]
