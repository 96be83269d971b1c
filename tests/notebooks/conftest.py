"""One smoke run of the whole study, shared by every notebook test.

``smoke_reports`` runs ``hybridlib run --preset smoke`` (the real CLI, papermill, every
notebook) once per test session into a temporary reports dir; per-notebook tests
(``test_nb_NN.py``) assert on the ``results/*.json`` it leaves.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> tuple[subprocess.CompletedProcess, Path]:
    out = tmp_path_factory.mktemp("reports_smoke")
    env = {**os.environ, "HYBRIDLIB_ROOT": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "hybridlib.cli", "run", "--preset", "smoke", "--reports-dir", str(out)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=1800)
    return proc, out


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
