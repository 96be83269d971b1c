"""The report's common ground: a row (:class:`Comparison`), the one rule for putting a seed's
number beside ours (:func:`seed_fields`), the quoted seed claims, number formatting, reading the
run's results, and the markdown rendering every table uses (skipped parts included).

Every study part's rows (``train``, ``load``, ``partition``, ``early_exit``, ``split``,
``recorded``) are built from these, so a row reads the same whichever part wrote it.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

log = logging.getLogger("hybridlib.study.report")

MEASURED = "measured"
#: device energy in 04/05 is ``PowerModel.active_w`` (2 W) × compute ms plus radio power × transfer ms
ENERGY_MODEL = "modelled: device energy = 2 W × compute ms + radio power × transfer ms (no power meter)"
PARTITION_MODEL = "modelled: measured layer times + transfer time from the network preset's bandwidth/RTT"


def load_results(results_dir: Path) -> dict[str, Any]:
    """Every ``results/<name>.json`` of the run, by name (bookkeeping files ``_*.json`` excluded)."""
    out: dict[str, Any] = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        if p.name.startswith("_"):  # bookkeeping (e.g. _skipped.json), not a result
            continue
        try:
            out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            log.warning("skipping unreadable result %s: %s", p, e)
    return out


# --------------------------------------------------------------------------- formatting


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def fmt_pct(x: float | None, digits: int = 1) -> str:
    """A share in percent; tiny non-zero shares keep two significant digits (never "0.00%")."""
    if x is None:
        return "n/a"
    if x != 0 and abs(100 * x) < 10 ** -digits:
        return f"{100 * x:.2g}%"
    return f"{100 * x:.{digits}f}%"


def fmt_span(values: list[float]) -> str:
    """``a–b`` over several measurements, one number when they agree to the shown digit."""
    lo, hi = f"{min(values):.1f}", f"{max(values):.1f}"
    return lo if lo == hi else f"{lo}–{hi}"


def fmt_ratio(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}×" if x < 10 else f"{x:.1f}×"


def result_data(res: dict[str, Any] | None) -> str:
    """The data a result was computed on, as every row names it."""
    if not isinstance(res, dict) or "synthetic" not in res:
        return "unknown"
    return "synthetic" if res["synthetic"] else "FER-2013"


def relativize(obj: Any, root: Path) -> Any:
    """Absolute paths → repo-relative (or just the file name when outside the checkout), so
    a report names no machine's directories and reads the same on every clone."""
    root = Path(root)
    if isinstance(obj, dict):
        return {k: relativize(v, root) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relativize(v, root) for v in obj]
    if isinstance(obj, str) and obj.startswith(os.sep) and "\n" not in obj and len(obj) < 4096:
        p = Path(obj)
        try:
            return str(p.relative_to(root))
        except ValueError:
            pass
        try:
            if p.exists():
                return f"…/{p.name}"
        except OSError:
            pass
    return obj


# --------------------------------------------------------------------------- seed claims

#: What the seeds report, quoted from ../shared/seeds (docs/ARCHITECTURE.md, Seed numbers), with the conditions they
#: were obtained under. None of our figures is computed from these.
SEED_CLAIMS: tuple[dict[str, str], ...] = (
    {"id": "000-params", "seed": "000", "claim": "emotion CNN parameters", "value": "~3M",
     "conditions": "9 conv / 5 max-pool / 3 dense"},
    {"id": "000-before", "seed": "000", "claim": "validation accuracy before tuning", "value": "61.24%",
     "conditions": "FER-2013, 25 epochs on the full training set, default hyper-parameters"},
    {"id": "000-after", "seed": "000", "claim": "validation accuracy after tuning", "value": "63.39%",
     "conditions": "FER-2013, 25 epochs on the full training set, tuned hyper-parameters"},
    {"id": "000-cloud-users", "seed": "000", "claim": "cloud mode users before overload", "value": "5 (crashed at 6)",
     "conditions": "its server: 4 cores / 8 threads, 2.4 GHz, 16 GB; its clients on other machines; "
                   "CPU 40% at 1 user, 82% at 5"},
    {"id": "000-hybrid", "seed": "000", "claim": "hybrid mode server CPU and bandwidth", "value": "flat up to 10 users",
     "conditions": "its server and clients; no figure per user given"},
    {"id": "001-alexnet", "seed": "001", "claim": "AlexNet parameters", "value": "62,378,344",
     "conditions": "AlexNet, 1000 classes"},
    {"id": "003-speedup", "seed": "003", "claim": "latency speed-up of the chosen partition vs cloud-only",
     "value": "3.1× mean (up to 40.7×)",
     "conditions": "Neurosurgeon: Jetson TK1 mobile vs Tesla K40 server, 8 DNNs, 3G/LTE/Wi-Fi, measured on hardware"},
    {"id": "003-energy", "seed": "003", "claim": "mobile energy saving vs cloud-only (energy objective)",
     "value": "59.5% mean (up to 94.7%)",
     "conditions": "Neurosurgeon: power measured on the Jetson TK1 board, 8 DNNs, 3G/LTE/Wi-Fi"},
    {"id": "004-exit", "seed": "004", "claim": "test images correctly classified at the edge (early exit)",
     "value": "up to 95%",
     "conditions": "ResNet/MobileNet with a converter branch (C channels), its image-classification test set; "
                   "Huawei Mate10 Pro mobile GPU (TVM-compiled) with Huawei Cloud"},
    {"id": "004-bandwidth", "seed": "004", "claim": "bandwidth saving of early exit + converter (baseline, as we "
     "read it: the status quo of sending captured images to the cloud)", "value": "up to 40×",
     "conditions": "as above"},
)
_CLAIM = {c["id"]: c for c in SEED_CLAIMS}


def seed_claims() -> Any:
    """The quoted seed claims as a table (seed, claim, value, conditions)."""

    return pd.DataFrame(claim_table())


def claim_table() -> list[dict[str, str]]:
    """The quoted seed claims' reader-facing columns (seed, claim, value, conditions), one dict a claim."""
    return [{k: c[k] for k in ("seed", "claim", "value", "conditions")} for c in SEED_CLAIMS]


# --------------------------------------------------------------------------- comparison rows


@dataclass
class Comparison:
    """One row of the report: our number, under which conditions, and the seed's only if alike."""

    topic: str
    quantity: str
    this_run: str
    scenario: str
    data: str
    basis: str  # "measured" or "modelled: how" / "what-if: how"
    source: str
    seed: str = ""  # which seed speaks to this quantity ("" = none)
    seed_value: str = ""  # the seed's number: filled ONLY when like for like
    like_for_like: str = ""  # "yes", "no — <what differs>", or "" when no seed speaks to it

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def seed_fields(claim_id: str, differs: list[str]) -> dict[str, str]:
    """Seed fields of a row: the seed's value only when nothing differs."""
    c = _CLAIM[claim_id]
    if differs:
        return {"seed": c["seed"], "seed_value": "", "like_for_like": "no — " + "; ".join(differs)}
    return {"seed": c["seed"], "seed_value": c["value"], "like_for_like": "yes"}


class Headline(list):
    """The headline table being built, one part after another (see ``headline``)."""

    def row(self, what: str, value: str, basis: str) -> None:
        """Add a row: what it is, this run's value, and what it stands on."""
        self.append({"what": what, "this run": value, "basis": basis})


# --------------------------------------------------------------------------- rendering


def flatten_scalars(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten the scalar leaves of a result (first two levels) for the markdown table."""
    rows: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, (int, float, str, bool)) or v is None:
                rows.append((key, v))
            elif isinstance(v, dict) and prefix.count(".") < 1:
                rows.extend(flatten_scalars(v, key + "."))
    return rows


def md_cell(v: Any) -> str:
    return fmt_value(v).replace("|", "/").replace("\n", " ")


def md_table(rows: list[dict[str, Any]], cols: list[str] | None = None) -> list[str]:
    """A GitHub-markdown table (pipes in cells escaped)."""
    if not rows:
        return []
    cols = cols or list(rows[0])
    return (["| " + " | ".join(c.replace("_", " ") for c in cols) + " |", "|" + "---|" * len(cols)]
            + ["| " + " | ".join(md_cell(r.get(c, "")) for c in cols) + " |" for r in rows])


def skipped_lines(skipped: list[dict[str, Any]]) -> list[str]:
    """The ``skipped: <reason>`` rows: parts a notebook could not run (``ctx.skip``)."""
    if not skipped:
        return []
    out = ["", "## Parts that did not run", "", "| part | notebook | required | status |", "|---|---|---|---|"]
    for s in skipped:
        out.append(f"| {s['part']} | {s.get('notebook') or '?'} | {'yes' if s.get('required') else 'no'} "
                   f"| {s['status'].replace('|', '/')} |")
    return out
