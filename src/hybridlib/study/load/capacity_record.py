"""The capacity measurement file: written by the benchmark (``benchmarks/bench_ray.py --out``) with
its provenance and a checksum, checked on the way in and on the way out.

Why: docs/CAPACITY.md is arithmetic on this file, so the file must be what the benchmark
measured — the command line, the date, the machine's load average before and after (2 shared
cores: other jobs inflate and saturate the steps), the git commit — and nothing typed in later.
The checksum over the content makes a hand edit visible: :func:`read_measurement` refuses a
file whose content no longer matches it (or that has none). Bad input (missing steps, a
negative or non-finite number, more sessions admitted than users) is refused before writing;
what is legal but weakens the fit (fewer than 3 user counts, a loaded box, a dirty tree) is
written down as a flag in the file itself.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import math
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hybridlib.utils import InputError, project_root, sha256_bytes, to_jsonable, write_json_atomic

log = logging.getLogger(__name__)

BACKENDS = ("inprocess", "ray")
#: what every step must carry for the fit and the table
STEP_KEYS = ("users", "admitted", "errors", "cpu_pct", "bytes_in_per_s", "bytes_out_per_s", "fps_per_user",
             "fps", "width", "height")
PROVENANCE_KEYS = ("date", "load_average_start", "load_average_end", "git_commit", "cpus")


def git_state(root: str | Path | None = None) -> dict[str, Any]:
    """HEAD's commit and whether tracked files differ from it (read-only git calls: no index
    refresh, so it never takes the index lock of a tree others are committing in)."""
    root = Path(root) if root else project_root()
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=20, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "diff-index", "--quiet", "HEAD", "--"],
                               check=False, capture_output=True, timeout=20).returncode != 0
    except (OSError, subprocess.SubprocessError) as e:
        log.warning("no git commit for the provenance: %s", e)
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": head, "git_dirty": dirty}


def provenance(load_average_start: Sequence[float], root: str | Path | None = None) -> dict[str, Any]:
    """Date (UTC), load averages at the start (passed in: taken before the run) and now, CPUs, git."""
    return {"date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "load_average_start": [round(v, 2) for v in load_average_start],
            "load_average_end": [round(v, 2) for v in os.getloadavg()], "cpus": os.cpu_count(),
            **git_state(root)}


def checksum(record: dict[str, Any]) -> str:
    """SHA-256 of the record's canonical JSON, its own ``sha256`` field left out."""
    body = {k: v for k, v in to_jsonable(record).items() if k != "sha256"}
    return sha256_bytes(json.dumps(body, sort_keys=True, ensure_ascii=False).encode("utf-8"))


def _number(v: Any, where: str, lo: float = 0.0) -> None:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < lo:
        raise InputError(f"{where}: expected a finite number ≥ {lo:g}, got {v!r}")


def check_measurement(record: Any, min_user_counts: int = 3) -> list[str]:
    """Raise :class:`InputError` on a record the capacity table cannot use; return flags for what
    is legal but weakens it (fewer than ``min_user_counts`` user counts, a loaded box, a dirty tree)."""
    if not isinstance(record, dict):
        raise InputError(f"a measurement is a JSON object, got {type(record).__name__}")
    if not str(record.get("command") or "").strip():
        raise InputError("the measurement has no command line")
    prov = record.get("provenance")
    if not isinstance(prov, dict) or any(k not in prov for k in PROVENANCE_KEYS):
        raise InputError(f"the measurement has no provenance ({', '.join(PROVENANCE_KEYS)}): "
                         "re-measure with benchmarks/bench_ray.py --out")
    for k in ("load_average_start", "load_average_end"):
        if not isinstance(prov[k], list) or len(prov[k]) != 3:
            raise InputError(f"provenance.{k}: expected three load averages, got {prov[k]!r}")
        for v in prov[k]:
            _number(v, f"provenance.{k}")
    flags: list[str] = []
    found = [b for b in BACKENDS if record.get(b)]
    if not found and not record.get("idle"):
        raise InputError(f"the measurement has no steps for any backend ({', '.join(BACKENDS)}) and no idle costs")
    if not found:
        flags.append("idle costs only: no load steps")
    for b in found:
        steps = record[b]
        if not isinstance(steps, list) or not all(isinstance(s, dict) for s in steps):
            raise InputError(f"{b}: steps must be a list of objects")
        for i, s in enumerate(steps):
            where = f"{b} step {i}"
            missing = [k for k in STEP_KEYS if k not in s]
            if missing:
                raise InputError(f"{where}: missing {', '.join(missing)}")
            for k in STEP_KEYS:
                _number(s[k], f"{where} {k}", lo=1 if k in ("users", "fps", "width", "height") else 0)
            if s["admitted"] > s["users"]:
                raise InputError(f"{where}: {s['admitted']} admitted of {s['users']} users")
        counts = sorted({s["users"] for s in steps})
        if len(counts) < min_user_counts:
            flags.append(f"{b}: {len(counts)} user count(s) {counts}; a fit with an interval needs ≥ {min_user_counts}")
    cpus = prov["cpus"] or 1
    worst = max(prov["load_average_start"][0], prov["load_average_end"][0])
    if worst > cpus:
        flags.append(f"1-min load average up to {worst:g} on {cpus} CPUs: other work shared the box")
    if prov.get("git_dirty"):
        flags.append("tracked files differed from the commit named")
    return flags


def write_measurement(path: str | Path, record: dict[str, Any]) -> dict[str, Any]:
    """Check ``record``, add its flags and checksum, write it atomically; returns what was written."""
    rec = dict(to_jsonable(record))
    rec.pop("sha256", None)
    rec["flags"] = check_measurement(rec)
    rec["sha256"] = checksum(rec)
    write_json_atomic(path, rec)
    for f in rec["flags"]:
        log.warning("%s: %s", path, f)
    return rec


def read_measurement(path: str | Path) -> dict[str, Any]:
    """A measurement file as written by :func:`write_measurement`, refused if its content no
    longer matches its checksum (edited after the benchmark wrote it) or it has none."""
    p = Path(path)
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"{p}: {e}") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p}: not JSON ({e})") from None
    if not isinstance(rec, dict) or "sha256" not in rec:
        raise InputError(f"{p}: no checksum — not written by benchmarks/bench_ray.py --out (edited by hand "
                         "or an older writer); re-measure")
    if checksum(rec) != rec["sha256"]:
        raise InputError(f"{p}: content does not match its checksum — edited after the benchmark wrote it")
    rec["flags"] = check_measurement(rec)
    return rec


def pooled_steps(paths: Sequence[str | Path]) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Read several measurement files and pool their steps per backend (each step tagged with its
    file's ``run`` number, 1-based); the same file (same checksum) twice is refused, since its
    steps would count double and narrow the fit's interval for nothing."""
    recs = [(str(p), read_measurement(p)) for p in paths]
    if len({r["sha256"] for _, r in recs}) < len(recs):
        raise InputError("the same measurement given twice: its steps would count double")
    steps = {b: [{**s, "run": i + 1} for i, (_, r) in enumerate(recs) for s in r.get(b) or []] for b in BACKENDS}
    steps = {b: s for b, s in steps.items() if s}
    if not steps:
        raise InputError("no load steps (an --idle-only file?): measure with bench_ray.py --users 1,2,3,…")
    return recs, steps
