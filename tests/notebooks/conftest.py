"""One smoke run of the whole study, shared by every notebook test.

``smoke_reports`` runs ``hybridlib run --preset smoke`` (the real CLI, papermill, every
notebook) once per test session into a temporary reports dir; per-notebook tests
(``test_nb_NN.py``) assert on the ``results/*.json`` it leaves.

Tiers: every test that uses ``smoke_run``/``smoke_reports`` is marked ``slow`` and ``notebooks``
here (the study takes minutes). The static checks in ``test_notebooks.py`` (no outputs committed,
parameters tagged, ``notebooks/src`` and ``.ipynb`` agreeing) stay in ``pytest -m "not slow"``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE_FIXTURES = {"smoke_run", "smoke_reports"}


def pytest_collection_modifyitems(config, items):
    for item in items:  # this hook sees the whole session's items: select by fixture, not path
        if SMOKE_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)
            item.add_marker(pytest.mark.notebooks)
            # `pytest -n N --dist loadgroup` (make test): every test that reads the smoke study runs
            # on one worker, which runs the study once while the other workers test the rest
            item.add_marker(pytest.mark.xdist_group(name="smoke-study"))


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    """The smoke study, once. A run that HANGS (a cell past :data:`CELL_TIMEOUT_S`, or the whole
    run past :data:`RUN_TIMEOUT_S`) is retried once into a fresh directory, with a warning that
    names the cell that hung and its kernel log: one CI run hung in 03 once (28 min, cell
    unknown) and passed on every rerun, so a hang is reported loudly but a second hang, or any
    ordinary failure, still fails the tests.

    ``HYBRIDLIB_SMOKE_REPORTS=<dir>`` reuses a finished ``hybridlib run --preset smoke
    --reports-dir <dir>`` instead: the notebook assertions in seconds, for work on the tests
    themselves (its artifacts must still be this checkout's ``data/processed/smoke``)."""
    reuse = os.environ.get("HYBRIDLIB_SMOKE_REPORTS")
    if reuse:
        out = Path(reuse).resolve()
        ok = (out / "summary.json").is_file()
        return subprocess.CompletedProcess(["reuse", str(out)], 0 if ok else 1, "",
                                           "" if ok else f"HYBRIDLIB_SMOKE_REPORTS: no summary.json in {out}"), out
    env = {**os.environ, "HYBRIDLIB_ROOT": str(ROOT)}
    for attempt in (1, 2):
        out = tmp_path_factory.mktemp("reports_smoke")
        cmd = [sys.executable, "-m", "hybridlib.cli", "run", "--preset", "smoke", "--reports-dir", str(out),
               "--timeout", str(CELL_TIMEOUT_S)]
        try:
            proc = subprocess.run(cmd, check=False, capture_output=True, text=True, cwd=ROOT, env=env, timeout=RUN_TIMEOUT_S)
            hung = proc.returncode != 0 and "CellTimeoutError" in proc.stderr
        except subprocess.TimeoutExpired as e:  # say where it stood, not only that it timed out
            err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
            proc = subprocess.CompletedProcess(cmd, -9, "", f"timed out after {RUN_TIMEOUT_S} s\n{err[-2000:]}")
            hung = True
        if not hung:
            break
        report = f"smoke run attempt {attempt} hung: {running_cells(out)}\n{proc.stderr[-1500:]}"
        warnings.warn(report, stacklevel=1)
        print(report, file=sys.stderr)
    return proc, out


#: per-cell limit handed to papermill: a hung cell fails on its own, named, long before the run's
CELL_TIMEOUT_S = 480
RUN_TIMEOUT_S = 1500


def running_cells(reports: Path) -> str:
    """Which executed notebooks papermill left with a cell still 'running', and that cell's first
    line, plus the tail of that notebook's kernel log: what a hang report needs."""
    found = []
    for nb in sorted(reports.glob("*.ipynb")):
        try:
            cells = json.loads(nb.read_text())["cells"]
        except (OSError, ValueError, KeyError):
            continue
        for i, c in enumerate(cells):
            if c.get("metadata", {}).get("papermill", {}).get("status") == "running":
                src = "".join(c.get("source", "")).strip().splitlines()
                log = reports / "logs" / f"{nb.stem}.log"
                tail = log.read_text(errors="replace")[-1500:] if log.is_file() else ""
                found.append(f"{nb.name} cell {i} ({src[0] if src else ''!r}) was running; kernel log tail:\n{tail}")
    if not found:  # papermill marks cells done after a cell timeout: the newest kernel log then
        logs = sorted((reports / "logs").glob("*.log"), key=lambda f: f.stat().st_mtime)
        found.append(f"no cell marked running; newest kernel log {logs[-1].name}:\n"
                     f"{logs[-1].read_text(errors='replace')[-1500:]}" if logs else "no cell marked running, no kernel log")
    return "\n".join(found)


@pytest.fixture(scope="session")
def smoke_reports(smoke_run) -> Path:
    proc, out = smoke_run
    if proc.returncode != 0:
        pytest.fail(f"hybridlib run --preset smoke failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return out


def read_result(reports: Path, name: str) -> dict:
    path = reports / "results" / f"{name}.json"
    assert path.is_file(), f"missing result {path}"
    return json.loads(path.read_text())
