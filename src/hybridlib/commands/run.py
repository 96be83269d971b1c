"""``hybridlib run``: execute the study's notebooks with papermill."""
from __future__ import annotations

import argparse
from pathlib import Path

from hybridlib import pipeline
from hybridlib.config import PRESETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run", help="execute the notebooks in order into reports/<preset>/",
        description="Execute notebooks/NN_* in numbered order (08_report last) with papermill into reports/<preset>/, then "
                    "write summary.md and summary.json. smoke: minutes, synthetic data (tests); "
                    "quick: ≤15 min on 2 cores (make run's default); full: the seeds' setting "
                    "(FER-2013 in data/raw/, 25 epochs, 1–10 users; hours on CPU). A failing "
                    "notebook ends the run with a non-zero exit naming the notebook and cell.")
    p.add_argument("--preset", default="quick", choices=list(PRESETS))
    p.add_argument("--only", help="comma-separated notebook numbers or names, e.g. 00,05")
    p.add_argument("--data", help="FER-2013 csv or folder (default: data/raw/ if present, else synthetic)")
    p.add_argument("--reports-dir", help="where to write (default reports/<preset>/)")
    p.add_argument("-v", "--verbose", dest="run_verbose", action="count", default=0,
                   help="let the notebook kernels print to this terminal (TensorFlow, absl, CUDA "
                        "and ipykernel messages); by default they go to reports/<preset>/logs/")
    p.add_argument("--timeout", type=int, default=None, help="per-cell timeout in seconds")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    try:
        res = pipeline.run(args.preset, only=args.only, data_path=args.data, reports_dir=args.reports_dir,
                           timeout_s=args.timeout,
                           verbose=bool(args.run_verbose or getattr(args, "verbose", 0)))
    except pipeline.RequiredPartSkipped as e:
        _print(e.result)
        raise
    _print(res)
    return 0


def _print(res) -> None:
    for r in res.runs:
        print(f"{r.status:6s} {r.seconds:7.1f}s  {r.name}")
    for s in res.skipped:
        print(f"{'skipped' + (' (required)' if s.get('required') else '')}: {s['part']}: {s['reason']}")
    summary = Path(res.reports_dir) / "summary.md"
    try:  # as the user would type it from here
        summary = summary.relative_to(Path.cwd())
    except ValueError:
        pass
    print(f"summary: {summary}")
