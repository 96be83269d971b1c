"""Scale-out (recorded) rows: committed Ray measurements under ``docs/measurements`` — not
this run, so every row names its file, its command and the note recorded with it."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from hybridlib.study.report.core import MEASURED, Comparison, fmt_value, log

#: recorded measurements (committed files, not this run) the report may quote, with provenance
MEASUREMENTS_DIR = Path("docs") / "measurements"


def _recorded(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        log.warning("skipping unreadable recorded measurement %s: %s", path, e)
        return None
    return obj if isinstance(obj, dict) else None


def _command(r: dict[str, Any]) -> str:
    """A recorded command line with absolute paths cut to their file names (no machine's directories)."""
    return re.sub(r"(?<!\S)/\S*/([^/\s]+)", r"…/\1", str(r.get("command", "?")))


def recorded_rows(root: Path) -> list[Comparison]:
    """"Scale-out (recorded)" rows from the committed Ray measurements (the scale-out tier,
    ``docs/measurements/bench_ray_*.json`` and ``demo_ray_cluster_*.json``): NOT this run, so
    every row names its file, the command that made it and the note recorded with it. The
    load clients stream a looped synthetic face clip, so the data is "synthetic"."""
    rows: list[Comparison] = []
    d = Path(root) / MEASUREMENTS_DIR
    for p in sorted(d.glob("bench_ray_*.json")):
        r = _recorded(p)
        steps = [x for x in ((r or {}).get("ratio") or {}).get("rows") or [] if isinstance(x, dict)]
        if not steps or any(x.get("ratio") is None for x in steps):
            continue
        src = str(MEASUREMENTS_DIR / p.name)
        first = next((x for x in r.get("inprocess") or [] if isinstance(x, dict)), {})
        us = "/".join(str(x.get("users")) for x in steps)
        rows.append(Comparison(
            "scale-out (recorded)", "answered frames per server CPU-s, Ray Serve backend ÷ in-process (cloud mode, "
            "Ray processes included)",
            ", ".join(f"{fmt_value(float(x['ratio']))}× at {x.get('users')} user{'s' if x.get('users') != 1 else ''}"
                      for x in steps)
            + f" (ray {' / '.join(fmt_value(x.get('ray_answered_per_cpu_s')) for x in steps)} vs in-process "
            f"{' / '.join(fmt_value(x.get('inprocess_answered_per_cpu_s')) for x in steps)})",
            f"cloud mode, users {us}, {first.get('width', '?')}×{first.get('height', '?')} @ {first.get('fps', '?')} "
            f"fps (looped synthetic face clip), loopback, {r.get('cpus', '?')} CPUs shared with the clients; "
            f"recorded, not this run: {r.get('note', 'no note')}", "synthetic",
            f"{MEASURED} (recorded file, not this run): `{_command(r)}`", src))
    for p in sorted(d.glob("demo_ray_cluster_*.json")):
        r = _recorded(p)
        users = [u for u in (r or {}).get("users") or [] if isinstance(u, dict)]
        m = (r or {}).get("metrics") or {}
        if not users or not isinstance(m, dict):
            continue
        adm = [u for u in users if u.get("admitted")]
        nodes = {w.get("node") for w in m.get("workers") or [] if isinstance(w, dict)}
        rows.append(Comparison(
            "scale-out (recorded)", "sessions spread over a local Ray cluster (admission at max_sessions)",
            f"{len(adm)} of {len(users)} users admitted over {len(m.get('workers') or [])} workers on {len(nodes)} "
            f"node(s), {len(users) - len(adm)} refused (max_sessions {m.get('max_sessions', '?')}); "
            f"{sum(int(u.get('answered') or 0) for u in adm)} of {sum(int(u.get('frames_sent') or 0) for u in adm)} "
            "frames answered",
            f"backend {m.get('backend', '?')}, cloud mode, loopback; recorded, not this run: "
            f"{r.get('note', 'no note')}",
            "synthetic", f"{MEASURED} (recorded file, not this run): `{_command(r)}`",
            str(MEASUREMENTS_DIR / p.name)))
    return rows
