"""Execute the study's notebooks in order with papermill (``hybridlib run``).

Each notebook gets the same three parameters (``preset``, ``data_path``,
``reports_dir``), runs with ``notebooks/`` as working directory (as in JupyterLab) and is
written, executed, to ``reports/<preset>/<name>.ipynb``. Paths inside the checkout are passed
relative to the project root (:func:`notebook_params`), so an executed notebook names no
machine's directories; the notebook's :func:`hybridlib.config.context` resolves them against the
same root (the kernel gets ``HYBRIDLIB_ROOT``). A failing notebook stops the run
with :class:`NotebookFailed`, naming the notebook and the cell; its executed copy (with
the traceback) stays in place for inspection.
"""
from __future__ import annotations

import logging
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ipykernel.kernelspec import install
from tqdm.auto import tqdm

from hybridlib.config import (
    NOTEBOOK_ENV,
    Preset,
    RunContext,
    clear_skipped,
    context,
    get_preset,
    read_skipped,
)
from hybridlib.data.fer import find_fer2013
from hybridlib.study.report import write_summary
from hybridlib.utils import HybridlibError, InputError, project_root, write_text_atomic

log = logging.getLogger(__name__)

KERNEL_NAME = "hybridlib"


class NotebookFailed(HybridlibError):
    """A notebook raised; the message names it, the cell and the error."""

    exit_code = 1


class RequiredPartSkipped(HybridlibError):
    """Every notebook ran, but a part marked required was skipped (``ctx.skip(..., required=True)``)."""

    exit_code = 1

    def __init__(self, message: str, result: "PipelineResult") -> None:
        super().__init__(message)
        self.result = result


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
    #: parts the notebooks could not run (``ctx.skip``), as read from ``results/_skipped.json``
    skipped: list[dict] = field(default_factory=list)
    started_at: float = field(default_factory=time.time)

    @property
    def ok(self) -> bool:
        return all(r.status == "ok" for r in self.runs) and not self.required_skipped

    @property
    def required_skipped(self) -> list[dict]:
        """Required parts skipped by a notebook of *this* run (older records only show in the summary)."""
        return [s for s in self.skipped if s.get("required") and (s.get("at") or 0) >= self.started_at]

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

    install(kernel_name=KERNEL_NAME, display_name="hybridlib (.venv)", prefix=sys.prefix)
    return KERNEL_NAME


def default_data(preset: str | Preset, root: Path) -> Path | None:
    """FER-2013 from ``data/raw`` when present, unless the preset's data size is ``smoke`` (a
    smoke run always uses its small synthetic set); decided by the preset's ``data_size``, so a
    new preset needs no change here."""
    p = get_preset(preset)
    if p.data_size == "smoke":
        return None
    found = find_fer2013(root)
    if found is None and p.data_size == "full":
        log.warning("preset %s without FER-2013 in data/raw: running on the synthetic full-size set", p.name)
    return found


#: Set in the kernels' environment unless ``verbose``: TensorFlow's C++ logging (and the absl
#: log lines it routes), gRPC and glog keep to errors. A value the user exported wins.
QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "2", "GRPC_VERBOSITY": "ERROR", "GLOG_minloglevel": "2"}


def _kernel_manager(env: dict[str, str], log_path: Path | None = None) -> type:
    """A kernel manager class whose kernels get ``env`` on top of ours and, when ``log_path``
    is given, write their own stdout/stderr there instead of our terminal.

    Papermill passes no launch arguments through, so the class is the one place to put them.
    What a kernel prints outside its cells (CUDA/cuDNN registration lines, absl's
    pre-initialisation notices, ipykernel's "running over TCP" warning) is noise for a
    reader of ``hybridlib run``, but evidence when a kernel dies: hence a file, not /dev/null.
    """
    from jupyter_client import AsyncKernelManager

    class _Manager(AsyncKernelManager):
        async def _async_pre_start_kernel(self, **kw):  # type: ignore[override]
            kw["env"] = {**kw.get("env", os.environ), **env}
            return await super()._async_pre_start_kernel(**kw)

        async def _async_launch_kernel(self, kernel_cmd, **kw):  # type: ignore[override]
            if log_path is None:
                return await super()._async_launch_kernel(kernel_cmd, **kw)
            log_path.parent.mkdir(parents=True, exist_ok=True)
            with open(log_path, "ab") as f:  # the child keeps its own copy of the descriptor
                kw["stdout"] = kw["stderr"] = f
                return await super()._async_launch_kernel(kernel_cmd, **kw)

    return _Manager


def _param_path(path: Path | None, root: Path) -> str | None:
    """A path as a notebook parameter: relative to ``root`` (POSIX) when inside it, else absolute."""
    if path is None:
        return None
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return str(path)


def _relative_provenance(executed: Path, root: Path) -> None:
    """Papermill records the notebook's input and output paths in the executed copy's metadata;
    make those repo-relative too, as the parameters are (a copy that cannot be read is left as is)."""
    import nbformat

    try:
        nb = nbformat.read(executed, as_version=4)
    except Exception:  # the kernel may have died mid-write
        return
    meta = nb.metadata.get("papermill", {})
    new = {k: _param_path(Path(meta[k]), root) for k in ("input_path", "output_path") if meta.get(k)}
    if any(meta[k] != v for k, v in new.items()):
        meta.update(new)
        write_text_atomic(executed, nbformat.writes(nb))


def notebook_params(ctx: RunContext) -> dict[str, str | None]:
    """The parameters every notebook gets, paths inside ``ctx.root`` relative to it."""
    return {"preset": ctx.preset.name, "data_path": _param_path(ctx.data_path, ctx.root),
            "reports_dir": _param_path(ctx.reports_dir, ctx.root)}


def run(preset: str = "quick", only: str | list[str] | None = None, data_path: str | Path | None = None,
        reports_dir: str | Path | None = None, root: str | Path | None = None,
        progress: bool = True, timeout_s: int | None = None, verbose: bool = False) -> PipelineResult:
    """Execute the selected notebooks; write ``summary.md``/``summary.json``; raise on failure.

    Unless ``verbose``, each kernel runs with :data:`QUIET_ENV` and its own output outside
    the cells goes to ``reports/<preset>/logs/<notebook>.log`` (cell output is in the
    executed notebook either way). A relative ``data_path`` or ``reports_dir`` is taken from
    the current directory, as a command-line argument is."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    root = Path(root).resolve() if root else project_root()
    if data_path is None:
        data_path = default_data(preset, root)
    # as typed on the command line: from here, not from the root (context's rule for notebooks)
    data_path = Path(data_path).expanduser().absolute() if data_path else None
    reports_dir = Path(reports_dir).expanduser().absolute() if reports_dir else None
    ctx = context(preset, data_path=data_path, reports_dir=reports_dir, root=root)
    nbs = select(list_notebooks(root), only)
    if not nbs:
        raise InputError(f"no notebooks found under {root / 'notebooks'}")
    kernel = ensure_kernel()
    result = PipelineResult(preset=ctx.preset.name, reports_dir=str(ctx.reports_dir),
                            data_path=str(ctx.data_path) if ctx.data_path else None)
    params = notebook_params(ctx)
    if not only:
        clear_skipped(ctx.results_dir)  # a full run starts clean; --only keeps other notebooks' records
    bar = None
    if progress:
        bar = tqdm(nbs, desc=f"hybridlib run {ctx.preset.name}", unit="notebook")
    try:
        for nb in nbs:
            if bar is not None:
                bar.set_postfix_str(nb.stem)
            out = ctx.reports_dir / nb.name
            clear_skipped(ctx.results_dir, nb.stem)
            kenv = {NOTEBOOK_ENV: nb.stem, "HYBRIDLIB_ROOT": str(ctx.root)}  # relative params resolve here
            klog = None
            if not verbose:
                kenv.update({k: v for k, v in QUIET_ENV.items() if k not in os.environ})
                klog = ctx.reports_dir / "logs" / f"{nb.stem}.log"
                klog.unlink(missing_ok=True)
            t0 = time.perf_counter()
            try:
                pm.execute_notebook(str(nb), str(out), parameters=params, kernel_name=kernel,
                                    cwd=str(nb.parent), progress_bar=False, log_output=False,
                                    execution_timeout=timeout_s,
                                    kernel_manager_class=_kernel_manager(kenv, klog))
            except PapermillExecutionError as e:
                _relative_provenance(out, ctx.root)
                run_ = NotebookRun(nb.stem, "failed", time.perf_counter() - t0, str(out),
                                   error=f"{e.ename}: {e.evalue}", cell=e.cell_index)
                result.runs.append(run_)
                _finish(ctx, result)
                where = _failed_cell(out, e.cell_index)
                raise NotebookFailed(
                    f"notebook {nb.name} failed in {where}: {e.ename}: {e.evalue}\n"
                    f"  executed copy with the traceback: {out}"
                    + (f"\n  kernel log: {klog}" if klog else "")) from None
            except Exception as e:  # the kernel died or timed out: no cell traceback to show
                result.runs.append(NotebookRun(nb.stem, "failed", time.perf_counter() - t0, str(out),
                                               error=f"{type(e).__name__}: {e}"))
                _finish(ctx, result)
                raise NotebookFailed(
                    f"notebook {nb.name} stopped: {type(e).__name__}: {e}"
                    + (f"\n  kernel log (what the kernel printed before it stopped): {klog}" if klog else "")
                ) from e
            _relative_provenance(out, ctx.root)
            result.runs.append(NotebookRun(nb.stem, "ok", time.perf_counter() - t0, str(out)))
            if bar is not None:
                bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    _finish(ctx, result)
    if result.required_skipped:
        parts = "; ".join(f"{s['part']} ({s.get('notebook') or 'notebook unknown'}): {s['reason']}"
                          for s in result.required_skipped)
        raise RequiredPartSkipped(f"required part(s) skipped: {parts}\n"
                                  f"  summary: {ctx.reports_dir / 'summary.md'}", result)
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
    result.skipped = read_skipped(ctx.results_dir)
    write_summary(ctx, result)
