"""``hybridlib`` command line: one sub-command per library area.

Each sub-command lives in ``hybridlib.commands.<name>`` and exposes
``register(subparsers)``. Those modules import nothing heavy at import time, so
``hybridlib --help`` answers instantly; TensorFlow, aiortc and Playwright load only in
the handler that needs them.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

from . import __version__
from .utils import HybridlibError

#: sub-commands in the order of the data flow. Each name is a module
#: ``hybridlib.commands.<name>``; a missing one is an ImportError, never skipped
#: (``tests/unit/test_cli.py`` checks this list against the package both ways).
#: Early exit and the report have no command of their own: they run as notebooks 06 and
#: 08 through ``hybridlib run``.
COMMANDS = ("run", "data", "train", "export", "serve", "profile", "partition", "load")

log = logging.getLogger("hybridlib")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hybridlib",
        description="Hybrid device/cloud inference study: data, emotion CNN, TF.js export, "
                    "WebRTC serving, layer partitioning, early exit and load tests.",
        epilog="Run `hybridlib COMMAND --help` for each command. `hybridlib run --preset quick` "
               "executes the whole study into reports/quick/.",
    )
    parser.add_argument("--version", action="version", version=f"hybridlib {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more logging (-v info, -vv debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"hybridlib.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except HybridlibError as e:
        print(f"hybridlib {args.command}: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
