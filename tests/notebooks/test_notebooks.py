"""Every notebook: committed without outputs, parameters tagged, source and .ipynb agreeing
(fast), and executed once at smoke (papermill via ``hybridlib run``, slow).

There is no nbval re-execution any more. Committed notebooks carry no outputs and no cell is
marked ``nbval-check-output``, so ``--nbval-lax`` compared nothing: all it checked was that no
cell raises, which the papermill smoke run already checks. That run also names the failing cell.
Running every notebook a second time cost about 7 minutes of the suite for no extra check.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

from hybridlib.pipeline import list_notebooks

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
