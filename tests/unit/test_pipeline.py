"""The papermill pipeline: order, --only, failure naming notebook and cell, summaries."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from hybridlib import pipeline
from hybridlib.utils import InputError


def _nb(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('preset = "quick"\ndata_path = None\nreports_dir = None')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params] + [nbformat.v4.new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.fixture()
def fake_root(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "hybridlib"\n')
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _nb(nbs / "00_first.ipynb",
        "from hybridlib import config\nctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)\n"
        "ctx.save_result('first', {'answer': 42})")
    _nb(nbs / "01_second.ipynb", "x = 1", "raise ValueError('deliberate failure ' + preset)", "y = 2")
    _nb(nbs / "02_third.ipynb", "z = 3")
    return tmp_path


def test_select():
    nbs = [Path("00_data.ipynb"), Path("01_train.ipynb"), Path("05_partition.ipynb")]
    assert pipeline.select(nbs, "00,05") == [nbs[0], nbs[2]]
    assert pipeline.select(nbs, ["1"]) == [nbs[1]]
    assert pipeline.select(nbs, None) == nbs
    with pytest.raises(InputError, match="no notebook matches 07"):
        pipeline.select(nbs, "07")


def test_only_runs_selected_and_writes_summary(fake_root):
    res = pipeline.run("smoke", only="00,02", root=fake_root, progress=False)
    assert [r.name for r in res.runs] == ["00_first", "02_third"] and res.ok
    out = fake_root / "reports" / "smoke"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["results"]["first"]["answer"] == 42
    assert summary["results"]["first"]["synthetic"] is True
    assert "| answer | 42 |" in (out / "summary.md").read_text()


def test_failure_names_notebook_and_cell_and_keeps_copy(fake_root):
    with pytest.raises(pipeline.NotebookFailed) as e:
        pipeline.run("smoke", root=fake_root, progress=False)
    msg = str(e.value)
    assert "01_second.ipynb" in msg and "code cell 3 (`raise ValueError" in msg and "deliberate failure smoke" in msg
    failed = fake_root / "reports" / "smoke" / "01_second.ipynb"
    assert failed.is_file()
    assert "deliberate failure" in failed.read_text()
    assert not (fake_root / "reports" / "smoke" / "02_third.ipynb").exists()
    summary = json.loads((fake_root / "reports" / "smoke" / "summary.json").read_text())
    assert [r["status"] for r in summary["pipeline"]["runs"]] == ["ok", "failed"]


def test_cli_exit_code_on_failure(fake_root):
    env = {**os.environ, "HYBRIDLIB_ROOT": str(fake_root)}
    r = subprocess.run([sys.executable, "-m", "hybridlib.cli", "run", "--preset", "smoke", "--only", "01"],
                       capture_output=True, text=True, env=env, cwd=fake_root)
    assert r.returncode == 1
    assert "notebook 01_second.ipynb failed in code cell 3" in r.stderr


def test_skip_records_merge_by_part(tmp_path):
    from hybridlib import config

    ctx = config.context("smoke", reports_dir=tmp_path / "r", root=tmp_path)
    assert config.read_skipped(ctx.results_dir) == []
    ctx.skip("tfjs graph", "profiling failed: boom")
    ctx.skip("chromium load", "no browser", required=True)
    ctx.skip("tfjs graph", "profiling failed: again")  # same part: replaces, not appends
    recs = {r["part"]: r for r in config.read_skipped(ctx.results_dir)}
    assert set(recs) == {"tfjs graph", "chromium load"}
    assert recs["tfjs graph"]["reason"] == "profiling failed: again" and not recs["tfjs graph"]["required"]
    assert recs["chromium load"]["required"] is True
    with pytest.raises(InputError, match="reason"):
        ctx.skip("x", "  ")
    # _skipped.json is bookkeeping, never a result of its own
    from hybridlib.study.report import load_results
    assert "_skipped" not in load_results(ctx.results_dir)


def _skip_root(tmp_path: Path, required: bool) -> Path:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "hybridlib"\n')
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _nb(nbs / "00_first.ipynb",
        "from hybridlib import config\nctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)\n"
        f"ctx.skip('browser profile', 'chromium crashed', required={required})")
    _nb(nbs / "01_second.ipynb", "z = 3")
    return tmp_path


def test_skipped_part_is_a_summary_row(tmp_path):
    root = _skip_root(tmp_path, required=False)
    res = pipeline.run("smoke", root=root, progress=False)
    assert res.ok and [s["part"] for s in res.skipped] == ["browser profile"]
    assert res.skipped[0]["notebook"] == "00_first"
    out = root / "reports" / "smoke"
    md = (out / "summary.md").read_text()
    assert "| browser profile | 00_first | no | skipped: chromium crashed |" in md
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped"][0]["status"] == "skipped: chromium crashed"
    # re-running only the other notebook keeps 00's record; re-running 00 replaces it
    pipeline.run("smoke", only="01", root=root, progress=False)
    assert "skipped: chromium crashed" in (out / "summary.md").read_text()


def test_required_skip_fails_the_run_naming_the_part(tmp_path):
    root = _skip_root(tmp_path, required=True)
    with pytest.raises(pipeline.RequiredPartSkipped, match="browser profile.*00_first.*chromium crashed"):
        pipeline.run("smoke", root=root, progress=False)
    out = root / "reports" / "smoke"
    assert (out / "01_second.ipynb").is_file()  # the other notebooks still ran
    assert "| browser profile | 00_first | yes | skipped: chromium crashed |" in (out / "summary.md").read_text()
    env = {**os.environ, "HYBRIDLIB_ROOT": str(root)}
    r = subprocess.run([sys.executable, "-m", "hybridlib.cli", "run", "--preset", "smoke", "--only", "00"],
                       capture_output=True, text=True, env=env, cwd=root)
    assert r.returncode == 1
    assert "required part(s) skipped: browser profile" in r.stderr
    assert "skipped (required): browser profile: chromium crashed" in r.stdout


def test_kernels_are_quiet_unless_verbose(tmp_path):
    """What a kernel writes outside its cells (fd 2: CUDA/absl/ipykernel notices) goes to
    reports/<preset>/logs/, not the terminal; -v lets it through. The kernel also gets the
    quiet TensorFlow/gRPC settings."""
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "hybridlib"\n')
    (tmp_path / "notebooks").mkdir()
    _nb(tmp_path / "notebooks" / "00_noisy.ipynb",
        "import os\nos.write(2, b'NOISE-FROM-KERNEL\\n')\n"
        "from hybridlib import config\nctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)\n"
        "ctx.save_result('env', {k: os.environ.get(k) for k in ('TF_CPP_MIN_LOG_LEVEL', 'GRPC_VERBOSITY', "
        "'HYBRIDLIB_NOTEBOOK')})")
    env = {k: v for k, v in os.environ.items() if k not in pipeline.QUIET_ENV}
    env["HYBRIDLIB_ROOT"] = str(tmp_path)
    cmd = [sys.executable, "-m", "hybridlib.cli", "run", "--preset", "smoke"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "NOISE-FROM-KERNEL" not in r.stderr + r.stdout
    assert "running over TCP" not in r.stderr
    out = tmp_path / "reports" / "smoke"
    assert "NOISE-FROM-KERNEL" in (out / "logs" / "00_noisy.log").read_text()
    seen = json.loads((out / "results" / "env.json").read_text())
    assert seen["TF_CPP_MIN_LOG_LEVEL"] == "2" and seen["GRPC_VERBOSITY"] == "ERROR"
    assert seen["HYBRIDLIB_NOTEBOOK"] == "00_noisy"
    r = subprocess.run(cmd + ["-v"], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert r.returncode == 0 and "NOISE-FROM-KERNEL" in r.stderr
    assert json.loads((out / "results" / "env.json").read_text())["GRPC_VERBOSITY"] is None


def test_dead_kernel_is_a_named_failure_with_its_log(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "hybridlib"\n')
    (tmp_path / "notebooks").mkdir()
    _nb(tmp_path / "notebooks" / "00_dies.ipynb", "import os\nos.write(2, b'LAST-WORDS\\n')\nos._exit(3)")
    with pytest.raises(pipeline.NotebookFailed, match=r"(?s)00_dies.ipynb stopped: DeadKernelError.*kernel log") as e:
        pipeline.run("smoke", root=tmp_path, progress=False)
    log = tmp_path / "reports" / "smoke" / "logs" / "00_dies.log"
    assert str(log) in str(e.value) and "LAST-WORDS" in log.read_text()
    summary = json.loads((tmp_path / "reports" / "smoke" / "summary.json").read_text())
    assert summary["pipeline"]["runs"][0]["status"] == "failed"


def test_notebook_params_are_relative_to_the_root_inside_it(tmp_path):
    from hybridlib import config

    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / "data" / "fer.csv").write_text("")
    ctx = config.context("smoke", data_path=root / "data" / "fer.csv", root=root)
    assert pipeline.notebook_params(ctx) == {"preset": "smoke", "data_path": "data/fer.csv",
                                             "reports_dir": "reports/smoke"}
    # a relative path in a notebook's parameters is taken from the root, not the working directory
    assert config.context("smoke", data_path="data/fer.csv", reports_dir="out", root=root).reports_dir == root / "out"
    outside = config.context("smoke", reports_dir=tmp_path / "elsewhere", root=root)
    assert pipeline.notebook_params(outside)["reports_dir"] == str(tmp_path / "elsewhere")
    assert pipeline.notebook_params(outside)["data_path"] is None


def test_run_injects_repo_relative_paths_from_any_directory(tmp_path):
    """``hybridlib run`` from outside the checkout: the executed notebooks carry paths relative
    to the project root (no machine's directories), and the notebook resolves them to the same
    files; a relative ``--reports-dir`` is taken from where the command was typed."""
    root = tmp_path / "repo"
    (root / "notebooks").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "hybridlib"\n')
    (root / "data" / "raw").mkdir(parents=True)
    (root / "data" / "raw" / "fer.csv").write_text("")
    _nb(root / "notebooks" / "00_paths.ipynb",
        "from hybridlib import config\nctx = config.context(preset, data_path=data_path, reports_dir=reports_dir)\n"
        "ctx.save_result('paths', {'param_data': data_path, 'param_reports': reports_dir, "
        "'data': str(ctx.data_path), 'reports': str(ctx.reports_dir)})")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "HYBRIDLIB_ROOT": str(root)}
    r = subprocess.run([sys.executable, "-m", "hybridlib.cli", "run", "--preset", "smoke",
                        "--data", str(root / "data" / "raw" / "fer.csv")],
                       capture_output=True, text=True, env=env, cwd=elsewhere, check=False)
    assert r.returncode == 0, r.stderr
    out = root / "reports" / "smoke"
    seen = json.loads((out / "results" / "paths.json").read_text())
    assert seen["param_data"] == "data/raw/fer.csv" and seen["param_reports"] == "reports/smoke"
    assert seen["data"] == str((root / "data" / "raw" / "fer.csv").resolve())
    assert seen["reports"] == str(out.resolve())
    injected = next(c for c in nbformat.read(out / "00_paths.ipynb", as_version=4).cells
                    if "injected-parameters" in c.metadata.get("tags", []))
    assert 'reports_dir = "reports/smoke"' in injected.source and str(tmp_path) not in injected.source
    meta = nbformat.read(out / "00_paths.ipynb", as_version=4).metadata["papermill"]
    assert (meta["input_path"], meta["output_path"]) == ("notebooks/00_paths.ipynb", "reports/smoke/00_paths.ipynb")
    # a relative --reports-dir outside the checkout: from the working directory, passed absolute
    r = subprocess.run([sys.executable, "-m", "hybridlib.cli", "run", "--preset", "smoke", "--reports-dir", "rep"],
                       capture_output=True, text=True, env=env, cwd=elsewhere, check=False)
    assert r.returncode == 0, r.stderr
    seen = json.loads((elsewhere / "rep" / "results" / "paths.json").read_text())
    assert seen["param_reports"] == str((elsewhere / "rep").resolve()) == seen["reports"]


def test_batch_run_is_read_from_the_kernel_environment(monkeypatch):
    """`hybridlib run` gives each kernel HYBRIDLIB_NOTEBOOK; notebooks leave interactive widgets
    out then (config.batch_run), and keep them in JupyterLab where the variable is unset."""
    from hybridlib import config

    monkeypatch.delenv(config.NOTEBOOK_ENV, raising=False)
    assert config.batch_run() is False
    monkeypatch.setenv(config.NOTEBOOK_ENV, "05_partition")
    assert config.batch_run() is True
