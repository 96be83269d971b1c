"""Execute the study's notebooks in order with papermill (``hybridlib run``).

Each notebook gets the same three parameters (``preset``, ``data_path``,
``reports_dir``), runs with ``notebooks/`` as working directory (as in JupyterLab) and is
written, executed, to ``reports/<preset>/<name>.ipynb``. A failing notebook stops the run
with :class:`NotebookFailed`, naming the notebook and the cell; its executed copy (with
the traceback) stays in place for inspection.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .config import context
from .data import find_fer2013
from .utils import HybridlibError, InputError, project_root

log = logging.getLogger(__name__)

KERNEL_NAME = "hybridlib"


class NotebookFailed(HybridlibError):
    """A notebook raised; the message names it, the cell and the error."""

    exit_code = 1


@dataclass
class NotebookRun:
    name: str
    status: str  # ok | failed | skipped
    seconds: float
    output: str
    error: str | None = None
    cell: int | None = None


@dataclass
class PipelineResult:
    preset: str
    reports_dir: str
    data_path: str | None
    runs: list[NotebookRun] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.runs)

    def to_dict(self) -> dict:
        return asdict(self)


def list_notebooks(root: Path | None = None) -> list[Path]:
    """``notebooks/NN_*.ipynb`` in order, the ``*_report`` notebook last (it summarises the
    others' results, including studies numbered after it, e.g. 09_split)."""
    root = root or project_root()
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"), key=lambda p: (p.stem.endswith("_report"), p.name))


def select(notebooks: list[Path], only: str | list[str] | None) -> list[Path]:
    """Keep the notebooks whose two-digit prefix (or full stem) is listed in ``only``."""
    if not only:
        return notebooks
    keys = [k.strip() for k in (only.split(",") if isinstance(only, str) else only) if k.strip()]
    chosen = [nb for nb in notebooks if any(nb.stem == k or nb.stem.startswith(f"{k}_") or nb.stem[:2] == k.zfill(2) for k in keys)]
    unknown = [k for k in keys if not any(nb.stem == k or nb.stem[:2] == k.zfill(2) for nb in notebooks)]
    if unknown:
        raise InputError(f"--only: no notebook matches {', '.join(unknown)} "
                         f"(have {', '.join(nb.stem for nb in notebooks)})")
    return chosen


def ensure_kernel() -> str:
    """Make sure a kernel named ``hybridlib`` runs *this* interpreter (our venv)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        spec = ksm.get_kernel_spec(KERNEL_NAME)
        # same environment = same bin/ folder, compared without resolving symlinks: every
        # venv's python links to one base interpreter, but only ours has hybridlib's packages
        if Path(spec.argv[0]).absolute().parent == Path(sys.executable).absolute().parent:
            return KERNEL_NAME
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL_NAME, display_name="hybridlib (.venv)", prefix=sys.prefix)
    return KERNEL_NAME


def default_data(preset: str, root: Path) -> Path | None:
    """FER-2013 from ``data/raw`` for quick/full when present; smoke always uses synthetic data."""
    if preset == "smoke":
        return None
    found = find_fer2013(root)
    if found is None and preset == "full":
        log.warning("preset full without FER-2013 in data/raw: running on the synthetic full-size set")
    return found


def run(preset: str = "quick", only: str | list[str] | None = None, data_path: str | Path | None = None,
        reports_dir: str | Path | None = None, root: str | Path | None = None,
        progress: bool = True, timeout_s: int | None = None) -> PipelineResult:
    """Execute the selected notebooks; write ``summary.md``/``summary.json``; raise on failure."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    root = Path(root).resolve() if root else project_root()
    if data_path is None:
        data_path = default_data(preset, root)
    ctx = context(preset, data_path=data_path, reports_dir=reports_dir, root=root)
    nbs = select(list_notebooks(root), only)
    if not nbs:
        raise InputError(f"no notebooks found under {root / 'notebooks'}")
    kernel = ensure_kernel()
    result = PipelineResult(preset=ctx.preset.name, reports_dir=str(ctx.reports_dir),
                            data_path=str(ctx.data_path) if ctx.data_path else None)
    params = {"preset": ctx.preset.name, "data_path": str(ctx.data_path) if ctx.data_path else None,
              "reports_dir": str(ctx.reports_dir)}
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(nbs, desc=f"hybridlib run {ctx.preset.name}", unit="notebook")
    try:
        for nb in nbs:
            if bar is not None:
                bar.set_postfix_str(nb.stem)
            out = ctx.reports_dir / nb.name
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name=kernel,
                                    cwd=str(nb.parent), progress_bar=False, log_output=False,
                                    execution_timeout=timeout_s)
            except PapermillExecutionError as e:
                run_ = NotebookRun(nb.stem, "failed", time.perf_counter() - t0, str(out),
                                   error=f"{e.ename}: {e.evalue}", cell=e.cell_index)
                result.runs.append(run_)
                _finish(ctx, result)
                where = _failed_cell(out, e.cell_index)
                raise NotebookFailed(
                    f"notebook {nb.name} failed in {where}: {e.ename}: {e.evalue}\n"
                    f"  executed copy with the traceback: {out}") from None
            result.runs.append(NotebookRun(nb.stem, "ok", time.perf_counter() - t0, str(out)))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    _finish(ctx, result)
    return result


def _failed_cell(executed: Path, cell_index: int) -> str:
    """Name the failing cell as the author sees it: its number among the source notebook's
    code cells (papermill's injected-parameters cell not counted) and its first line.

    The failing cell is the one with an ``error`` output (papermill also inserts a banner
    cell at the top of the saved copy, so ``cell_index`` is off by one there)."""
    import nbformat

    try:
        cells = nbformat.read(executed, as_version=4).cells
    except Exception:  # the copy may be unreadable if the kernel died mid-write
        return f"cell index {cell_index}"
    n = 0
    for c in cells:
        if c.cell_type != "code" or "injected-parameters" in c.metadata.get("tags", []):
            continue
        n += 1
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            lines = c.source.strip().splitlines()
            return f"code cell {n} (`{lines[0][:80] if lines else ''}`)"
    return f"cell index {cell_index}"


def _finish(ctx, result: PipelineResult) -> None:
    from .report import write_summary

    write_summary(ctx, result)
