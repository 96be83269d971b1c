"""Presets (one table) and the run context every notebook starts from.

A preset sets the size of everything at once: ``smoke`` is what tests use (minutes),
``quick`` is ``make run``'s default (≤ 15 min on 2 cores), ``full`` is the seeds'
setting (FER-2013, 25 epochs, 1–10 users; hours on CPU). Notebooks take ``preset`` as a
papermill parameter and read all sizes from here, so the table below is the only place
where "how big" is decided.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridlib import data
from hybridlib.plots import save_figure
from hybridlib.utils import InputError, atomic_path, project_root, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from hybridlib.data.fer import Dataset

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Preset:
    """All size knobs of one study run. Add fields here, never constants in notebooks."""

    name: str
    # data
    data_size: str  # synthetic size when no FER-2013 is given: smoke|quick|full
    # training (01_train)
    epochs: int
    batch_size: int
    sweep_lr: tuple[float, ...]
    sweep_dropout: tuple[float, ...]
    sweep_batch: tuple[int, ...]
    sweep_epochs: int
    patience: int
    # export (02_export)
    parity_samples: int
    parity_splits: int  # splits checked in Chromium (0 = every split); export (02)
    browser_runs: int  # timed TF.js runs per variant × backend (02)
    # profiling / partition (04, 05)
    profile_repeats: int
    predictor_corpus: int
    # early exit (06)
    exit_epochs: int
    # load study (07)
    load_users: tuple[int, ...]
    load_duration_s: float
    load_fps: int
    load_size: tuple[int, int]  # (width, height) of the synthetic users' camera
    # 01_train: the sweep trains each config on at most this many images (0 = all of train)
    sweep_max_train: int = 0
    # 04/05: random fused kernels per network family in the kernel corpus (0 = predictor_corpus);
    # quick keeps it small for the make-run budget — benchmarks/bench_predict.py runs the big one
    kernel_corpus: int = 0
    # 04/05: where the kernel corpus is timed: device (TF 1 thread), cloud (TF all cores),
    # browser (TF.js wasm in 4×-throttled Chromium: ~45 s for the quick corpus)
    kernel_sides: tuple[str, ...] = ("device", "cloud", "browser")
    # 04: this share of each family's random kernels is timed in a second session (fresh processes,
    # after the first) so the predictors are scored across sessions too (0 = one session)
    kernel_second_session: float = 0.0
    # 02: a variant × backend stops timing after ≥ 10 runs once they took this long (0 = all runs)
    browser_budget_s: float = 0.0
    # 04/05: which models to profile; 04: also profile the emotion CNN in TF.js (Chromium, wasm)
    profile_models: tuple[str, ...] = ("emotion_cnn", "alexnet")
    profile_browser: bool = True
    # 09_split: executed splits, one entry per model: (model, cuts to run (0 = every cut point),
    # networks, device classes, server loads); repeats/warm-up per cut
    split_cases: tuple[tuple[str, int, tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = ()
    split_repeats: int = 5
    split_warmup: int = 2
    # 09_split: per-model repeats of the in-browser per-layer profile (default profile_repeats)
    split_profile_repeats: tuple[tuple[str, int], ...] = ()
    # 12_privacy: faces the attacker trains its inversion models on / is scored on; epochs of the
    # conv decoder beside ridge (0 = ridge only: at 2 epochs it scored below ridge on every cut)
    privacy_train: int = 1500
    privacy_test: int = 300
    privacy_epochs: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


PRESETS: dict[str, Preset] = {
    "smoke": Preset(
        name="smoke", data_size="smoke",
        epochs=1, batch_size=64,
        sweep_lr=(1e-3,), sweep_dropout=(0.3,), sweep_batch=(64,), sweep_epochs=1, patience=2, sweep_max_train=128,
        # smoke (the tests' run) checks that every step runs and its numbers hang together, not
        # the numbers themselves; cut where the suite spent most: 4 split-parity cuts (2 of them
        # multi-tensor), 25 layer configs (5 per type), 16 random kernels per family (was 40)
        # besides both networks' own 44, 2 s load steps (was 4), 2 repeats per executed cut
        parity_samples=32, parity_splits=4, browser_runs=5,
        profile_repeats=3, predictor_corpus=25, kernel_corpus=16, profile_models=("emotion_cnn",),
        profile_browser=False, kernel_sides=("device", "cloud"), exit_epochs=1,
        load_users=(1, 2), load_duration_s=2.0, load_fps=10, load_size=(320, 240),
        split_cases=(("emotion_cnn", 3, ("wifi",), ("phone",), ("idle",)),), split_repeats=2, split_warmup=1,
        privacy_train=150, privacy_test=40, privacy_epochs=0,  # the conv decoder is unit-tested
    ),
    "quick": Preset(
        name="quick", data_size="quick",
        # 4 epochs: training is deterministic and the 5-epoch run's best (restored) epoch was the
        # 4th (validation 73.9%, test 71.0% vs baseline 30.8%), so the 5th only cost ~20% of 01
        epochs=4, batch_size=64,
        # 2 sweep configs (was lr 1e-3/3e-4 × dropout): at 1 epoch × 1000 faces lr 3e-4 scored
        # exactly as the default (24.97%, so the default was kept); dropout 0.5 is the axis that
        # moves (16.9%); the final model is the same either way. full keeps the 27-config grid.
        sweep_lr=(1e-3,), sweep_dropout=(0.25, 0.5), sweep_batch=(64,), sweep_epochs=1,
        patience=2, sweep_max_train=1000,
        # 9 of the emotion CNN's 51 splits, evenly spread, one multi-tensor cut among them (~1 s of
        # export + browser load each); full checks all, and the tests check every split
        parity_samples=200, parity_splits=9, browser_runs=30,
        browser_budget_s=2.5,  # software-GL webgl (~250 ms/call) stops at ~10 runs, wasm keeps 30
        # the kernel corpus and the layer corpus sized for make run's 15 minutes with notebooks 10 and
        # 11 in the study (were 120 and 200); benchmarks/bench_predict.py runs the 400-per-family one
        # kernel_second_session stays 0 at quick: the second session's process start-ups cost
        # +22 s of corpus timing (bench_predict.py --session-cost 2; 0.25 → 04's cross-session
        # table); benchmarks/bench_predict.py --cross-session runs it with 30 kernels per type
        profile_repeats=7, predictor_corpus=150, kernel_corpus=80,
        exit_epochs=3,
        # 3 user counts × 6 s steps (was 1, 2, 4, 6 × 10 s; full keeps 1–10 × 30 s): a seed-pipeline
        # step past 1 user was followed by a ~30 s drain of its backlog (now cut: the load run
        # signals the seed server to drop it once the step's users left; docs/HISTORY.md, round 4).
        # One step's ratio at 6 s is ±31% (95%) vs ±20% at 10 s: benchmarks/bench_load_ci.py
        # two user counts (1 and 4) since the fleet study (10) measures the server against many users
        load_users=(1, 4), load_duration_s=6.0, load_fps=15, load_size=(640, 480),
        # AlexNet: phone × Wi-Fi only (001's case), 3 cuts (cloud-only, the engine's choice,
        # device-only as uint8 weights); its phone-class TF.js profile with 3 repeats (~1 min)
        # the emotion CNN on the phone class only: 11 executes the choice table over device classes
        split_cases=(("emotion_cnn", 5, ("3g", "wifi"), ("phone",), ("idle",)),
                     ("alexnet", 3, ("wifi",), ("phone",), ("idle",))),
        split_repeats=5, split_warmup=2, split_profile_repeats=(("alexnet", 3),),
    ),
    "full": Preset(
        name="full", data_size="full",
        epochs=25, batch_size=64,
        sweep_lr=(1e-3, 3e-4, 1e-4), sweep_dropout=(0.25, 0.4, 0.5), sweep_batch=(32, 64, 128),
        sweep_epochs=8, patience=6, sweep_max_train=0,
        parity_samples=500, parity_splits=0, browser_runs=100,
        profile_repeats=21, predictor_corpus=600, kernel_second_session=0.5,
        exit_epochs=15,
        load_users=(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), load_duration_s=30.0, load_fps=15,
        load_size=(640, 480),
        split_cases=(("emotion_cnn", 0, ("3g", "lte", "wifi"), ("desktop", "phone"), ("idle", "loaded")),
                     ("alexnet", 0, ("3g", "lte", "wifi"), ("desktop", "phone"), ("idle", "loaded"))),
        split_repeats=11, split_warmup=3,
    ),
}


def get_preset(name: str | Preset) -> Preset:
    if isinstance(name, Preset):
        return name
    try:
        return PRESETS[name]
    except KeyError:
        raise InputError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


@dataclass
class RunContext:
    """Where one notebook (or CLI run) reads inputs and writes outputs.

    ``reports_dir`` holds what a reader looks at (executed notebooks, figures, results);
    ``artifacts_dir`` (under ``data/processed/<preset>``) holds what later notebooks load
    (models, profiles). Nothing else carries state between notebooks.
    """

    preset: Preset
    root: Path
    reports_dir: Path
    data_path: Path | None = None

    @property
    def figures_dir(self) -> Path:
        return self.reports_dir / "figures"

    @property
    def results_dir(self) -> Path:
        return self.reports_dir / "results"

    @property
    def artifacts_dir(self) -> Path:
        return self.root / "data" / "processed" / self.preset.name

    @property
    def synthetic(self) -> bool:
        """True when the study runs on the synthetic FER-format data (labelled everywhere)."""
        return self.data_path is None

    @property
    def data_label(self) -> str:
        return "synthetic FER-format data" if self.synthetic else f"FER-2013 ({self.data_path.name})"

    def dataset(self) -> Dataset:
        """The preset's dataset: the given FER-2013 path, else the synthetic csv (made once)."""

        if self.data_path is not None:
            return data.load(self.data_path)
        path = data.ensure_synthetic(self.root / "data" / "synthetic", size=self.preset.data_size)
        return data.load(path)

    def save_result(self, name: str, obj: Any) -> Path:
        """Write ``results/<name>.json`` atomically; tests and summaries read these back."""
        if isinstance(obj, dict):
            obj = {"preset": self.preset.name, "synthetic": self.synthetic, **obj}
        return write_json_atomic(self.results_dir / f"{name}.json", obj)

    def save_table(self, name: str, df: Any) -> Path:
        """Write ``results/<name>.csv`` atomically (a pandas DataFrame)."""

        path = self.results_dir / f"{name}.csv"
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False)
        return path

    def save_figure(self, fig: Figure, name: str, dpi: int = 120) -> Path:
        """Save ``figures/<name>.png`` atomically, stamped with the data's provenance."""

        return save_figure(fig, self.figures_dir / f"{name}.png", provenance=self.provenance(), dpi=dpi)

    def provenance(self) -> str:
        return f"hybridlib · preset {self.preset.name} · {self.data_label}"

    def skip(self, part: str, reason: str, required: bool = False) -> Path:
        """Record that ``part`` of the study could not run, and why.

        A failure that a notebook catches must still be visible to the reader: ``hybridlib
        run`` turns every record into a ``skipped: <reason>`` row of ``summary.md`` and exits
        non-zero when a *required* part was skipped. Records go to
        ``results/_skipped.json`` (atomic write, merged by ``part``: recording the same part
        again replaces its earlier record). Call it where the notebook would otherwise drop
        the part with a warning, e.g. ``ctx.skip("05 TF.js graph", f"profiling failed: {e}")``.
        """
        if not isinstance(part, str) or not part.strip():
            raise InputError(f"ctx.skip: part must be a non-empty string, got {part!r}")
        if not isinstance(reason, str) or not reason.strip():
            raise InputError(f"ctx.skip: reason must be a non-empty string (part {part!r})")
        entry = {"part": part.strip(), "reason": " ".join(reason.split()), "required": bool(required),
                 "notebook": os.environ.get(NOTEBOOK_ENV) or None, "at": time.time()}
        entries = [e for e in read_skipped(self.results_dir) if e.get("part") != entry["part"]]
        entries.append(entry)
        (log.error if required else log.warning)("skipped %s%s: %s", entry["part"],
                                                 " (required)" if required else "", entry["reason"])
        return _write_skipped(self.results_dir, entries)


#: file (under ``results/``) that :meth:`RunContext.skip` writes; report readers ignore
#: results whose name starts with ``_``.
SKIPPED_FILE = "_skipped.json"
#: environment variable naming the notebook being executed (set by ``hybridlib run`` in the
#: kernel's environment) so a skip record says which notebook made it.
NOTEBOOK_ENV = "HYBRIDLIB_NOTEBOOK"


def batch_run() -> bool:
    """Whether this notebook runs under ``hybridlib run`` (papermill, no browser): interactive
    widgets are then left out, since nobody can move their sliders and a widget's comm traffic
    under papermill has hung a cell (kernel and client both idle) more than once."""
    return bool(os.environ.get(NOTEBOOK_ENV))


def read_skipped(results_dir: str | Path) -> list[dict[str, Any]]:
    """The skip records under ``results_dir`` (empty when none). An unreadable file is an
    error: silently losing a record would hide exactly what it exists to show."""
    path = Path(results_dir) / SKIPPED_FILE
    if not path.is_file():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(f"{path} is not valid JSON: {e}") from None
    parts = data.get("parts") if isinstance(data, dict) else None
    if not isinstance(parts, list):
        raise InputError(f"{path}: expected an object with a 'parts' list")
    return [p for p in parts if isinstance(p, dict) and p.get("part")]


def clear_skipped(results_dir: str | Path, notebook: str | None = None) -> None:
    """Forget skip records before a part is run again: those made by ``notebook``, or all
    records when ``notebook`` is None (a full run starts clean)."""
    path = Path(results_dir) / SKIPPED_FILE
    if not path.is_file():
        return
    if notebook is None:
        path.unlink()
        return
    entries = read_skipped(results_dir)
    kept = [e for e in entries if e.get("notebook") != notebook]
    if len(kept) != len(entries):
        _write_skipped(results_dir, kept)


def _write_skipped(results_dir: str | Path, entries: list[dict[str, Any]]) -> Path:
    return write_json_atomic(Path(results_dir) / SKIPPED_FILE, {"parts": entries})


def context(preset: str | Preset = "quick", data_path: str | Path | None = None,
            reports_dir: str | Path | None = None, root: str | Path | None = None) -> RunContext:
    """Build the :class:`RunContext` a notebook's parameters describe.

    ``data_path`` None or "" means synthetic. ``reports_dir`` defaults to ``reports/<preset>``.
    A relative ``data_path`` or ``reports_dir`` is taken from the project root, not the working
    directory: ``hybridlib run`` passes paths inside the checkout that way (so executed notebooks
    name no machine's directories), and a notebook runs with ``notebooks/`` as its working directory.
    """
    p = get_preset(preset)
    r = Path(root).resolve() if root else project_root()
    dp = _from_root(r, data_path) if data_path else None
    if dp is not None and not dp.exists():
        raise InputError(f"data path {dp} does not exist")
    rd = _from_root(r, reports_dir) if reports_dir else r / "reports" / p.name
    for d in (rd / "figures", rd / "results"):
        d.mkdir(parents=True, exist_ok=True)
    return RunContext(preset=p, root=r, reports_dir=rd, data_path=dp)


def _from_root(root: Path, path: str | Path) -> Path:
    """``path`` made absolute: as it is when absolute (``~`` expanded), else under ``root``."""
    q = Path(path).expanduser()
    return (q if q.is_absolute() else root / q).resolve()
