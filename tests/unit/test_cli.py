"""The CLI lists exactly the sub-commands that exist, each one registered and in --help."""
from __future__ import annotations

import importlib
import pkgutil

import pytest

from hybridlib import cli, commands


def _command_modules() -> set[str]:
    return {m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_")}


def test_every_listed_command_has_a_module_with_register():
    assert len(set(cli.COMMANDS)) == len(cli.COMMANDS)
    for name in cli.COMMANDS:
        mod = importlib.import_module(f"hybridlib.commands.{name}")
        assert callable(getattr(mod, "register", None)), name


def test_every_command_module_is_listed():
    """A command module that is not in COMMANDS would be unreachable from the CLI."""
    assert _command_modules() == set(cli.COMMANDS)


def test_parser_offers_exactly_the_listed_commands():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert list(sub.choices) == list(cli.COMMANDS)


def test_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(["early_exit"])
    assert e.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_no_command_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out, name
