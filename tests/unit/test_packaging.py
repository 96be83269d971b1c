"""Packaging invariants: one pinned set, the same everywhere it is declared."""
from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _lock() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, ver = line.partition("==")
            assert ver, f"requirements.lock: {line!r} is not an exact pin"
            pins[name.lower().replace("_", "-")] = ver
    return pins


def test_pyproject_pins_agree_with_lock():
    lock = _lock()
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for d in deps:
        m = re.match(r"([A-Za-z0-9_.-]+)\s*(==|<)?\s*([\w.]+)?", d)
        name = m.group(1).lower().replace("_", "-")
        assert name in lock, f"{name} is in pyproject.toml but not in requirements.lock"
        if m.group(2) == "==":
            assert lock[name] == m.group(3), f"{name}: pyproject pins {m.group(3)}, lock has {lock[name]}"
    assert int(lock["opencv-python-headless"].split(".")[0]) < 5  # docs/ARCHITECTURE.md, Pitfalls: 5.x has no Haar


def test_environment_yml_uses_the_lock():
    text = (ROOT / "environment.yml").read_text()
    assert "-r requirements.lock" in text and "python=3.11" in text


def test_installed_versions_match_lock():
    from importlib.metadata import version

    lock = _lock()
    for name in ("tensorflow", "tf-keras", "tensorflowjs", "numpy", "aiortc", "ydf"):
        assert version(name) == lock[name], name


def test_npm_assets_pinned_and_locked():
    pkg = json.loads((ROOT / "package.json").read_text())
    lock = json.loads((ROOT / "package-lock.json").read_text())
    for name, ver in pkg["dependencies"].items():
        assert re.fullmatch(r"\d+\.\d+\.\d+", ver), f"{name} must be an exact version, got {ver}"
        assert lock["packages"][f"node_modules/{name}"]["version"] == ver


def test_cli_help_is_fast_to_import():
    """`hybridlib --help` must not import TensorFlow (heavy imports live in handlers)."""
    code = "import sys, hybridlib.cli as c; c.build_parser(); print('tensorflow' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "False"


def test_every_module_imports_and_exports_what_it_lists():
    """Each module of the package imports, and every name in a ``__all__`` exists (a re-export
    listed but not imported — ``export.ensure_tfjs`` once — breaks its callers at run time)."""
    import importlib
    import pkgutil

    import hybridlib

    missing = []
    for m in pkgutil.walk_packages(hybridlib.__path__, "hybridlib."):
        mod = importlib.import_module(m.name)
        missing += [f"{m.name}.{n}" for n in getattr(mod, "__all__", []) if not hasattr(mod, n)]
    assert not missing, missing


def test_every_import_statement_resolves():
    """Every ``from X import Y`` in the package — including the lazy ones inside functions,
    which importing a module never runs — names a module that exists and, for a module
    target, a name it defines (a moved module once left ``from .splitstudy import …`` in
    plots.py, and only notebook 09 found it)."""
    import ast
    import importlib
    import importlib.util
    from pathlib import Path

    import hybridlib

    pkg_root = Path(hybridlib.__file__).parent
    bad = []
    for path in sorted(pkg_root.rglob("*.py")):
        rel = path.relative_to(pkg_root.parent).with_suffix("")
        modname = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        package = modname if rel.name == "__init__" else modname.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            target = ("." * node.level + (node.module or "")) if node.level else node.module
            if not target or not (target.startswith(".") or target.startswith("hybridlib")):
                continue
            try:
                name = importlib.util.resolve_name(target, package)
                mod = importlib.import_module(name)
            except ImportError as e:
                bad.append(f"{path.name}:{node.lineno}: {target} ({e})")
                continue
            for alias in node.names:
                if alias.name != "*" and not hasattr(mod, alias.name) and \
                        importlib.util.find_spec(f"{name}.{alias.name}") is None:
                    bad.append(f"{path.name}:{node.lineno}: {name} has no {alias.name}")
    assert not bad, bad
