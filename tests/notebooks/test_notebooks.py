"""Every notebook: committed without outputs, parameters tagged, executed at smoke (papermill
via ``hybridlib run``) and re-executed by nbval in lax mode."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hybridlib.pipeline import KERNEL_NAME, ensure_kernel, list_notebooks

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = list_notebooks(ROOT)
IDS = [nb.stem for nb in NOTEBOOKS]


def test_notebooks_exist_in_order():
    assert IDS and IDS[0] == "00_data"
    # numbered order, except that the report runs last (it summarises every study, 09 included)
    studies = [i for i in IDS if not i.endswith("_report")]
    assert studies == sorted(studies) and IDS[len(studies):] == [i for i in IDS if i.endswith("_report")]
    assert IDS[-1].endswith("_report")


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=IDS)
def test_committed_without_outputs_and_parameters_tagged(nb_path):
    nb = nbformat.read(nb_path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count")]
    assert not dirty, f"{nb_path.name}: code cells {dirty} carry outputs — strip them (executed copies live in reports/)"
    assert "parameters" in code[0].metadata.get("tags", []), f"{nb_path.name}: first code cell must be tagged 'parameters'"
    src = code[0].source
    for name in ("preset", "data_path", "reports_dir"):
        assert f"{name} =" in src, f"{nb_path.name}: parameters cell must define {name}"


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=IDS)
def test_source_matches_notebook(nb_path):
    """notebooks/src/NN.py (the authoring source) and the committed .ipynb agree."""
    src = ROOT / "notebooks" / "src" / f"{nb_path.stem}.py"
    if not src.exists():
        pytest.skip("no percent-format source")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import nbbuild
    finally:
        sys.path.pop(0)
    built = nbbuild.build(src)
    have = nbformat.read(nb_path, as_version=4)
    assert [c.source for c in built.cells] == [c.source for c in have.cells], \
        f"rebuild {nb_path.name}: python scripts/nbbuild.py {src.relative_to(ROOT)} {nb_path.relative_to(ROOT)}"


def test_smoke_run_end_to_end(smoke_run):
    proc, out = smoke_run
    assert proc.returncode == 0, proc.stderr[-4000:]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preset"] == "smoke" and summary["synthetic"] is True
    runs = {r["name"]: r["status"] for r in summary["pipeline"]["runs"]}
    assert runs == {nb.stem: "ok" for nb in NOTEBOOKS}
    for nb in NOTEBOOKS:
        executed = nbformat.read(out / nb.name, as_version=4)
        assert any(c.get("outputs") for c in executed.cells if c.cell_type == "code")
    md = (out / "summary.md").read_text()
    assert "SYNTHETIC" in md and "00_data" in md


@pytest.mark.parametrize("nb_path", NOTEBOOKS, ids=IDS)
def test_nbval_lax(nb_path, smoke_reports, tmp_path):
    """Re-execute each notebook with nbval (lax) with the smoke parameters injected."""
    import papermill as pm

    ensure_kernel()
    prepared = tmp_path / nb_path.name
    pm.execute_notebook(str(nb_path), str(prepared), prepare_only=True, kernel_name=KERNEL_NAME,
                        parameters={"preset": "smoke", "data_path": None,
                                    "reports_dir": str(tmp_path / "reports")})
    env = {**os.environ, "HYBRIDLIB_ROOT": str(ROOT)}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--nbval-kernel-name", KERNEL_NAME, "--rootdir", str(tmp_path), str(prepared)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
