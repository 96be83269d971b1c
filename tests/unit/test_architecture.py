"""The house rules, checked: layers point down (import-linter), no import cycles, the project's
imports at module top (only :data:`hybridlib.utils.LAZY_IMPORTS` may wait for the function that
needs them), no module over 500 lines, notebooks thin, and the module map in
docs/ARCHITECTURE.md names every module there is."""
from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import grimp
import nbformat
import networkx as nx
import pytest

from hybridlib.utils import LAZY_IMPORTS

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "hybridlib"
MODULES = sorted(SRC.rglob("*.py"))
MAX_MODULE_LINES = 500
MAX_NOTEBOOK_CODE_LINES = 120


def _rel(p: Path) -> str:
    return str(p.relative_to(ROOT))


def test_layers_contract_kept():
    """``lint-imports`` with the layers contract in pyproject.toml (lazy imports count too)."""
    exe = Path(sys.executable).with_name("lint-imports")
    proc = subprocess.run([str(exe), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


def test_no_import_cycles():
    graph = grimp.build_graph("hybridlib", cache_dir=None)
    g = nx.DiGraph()
    for m in graph.modules:
        for dep in graph.find_modules_directly_imported_by(m):
            # a package's __init__ importing its own submodules is how re-exports work, not a cycle
            if not dep.startswith(m + "."):
                g.add_edge(m, dep)
    cycles = [sorted(c) for c in nx.strongly_connected_components(g) if len(c) > 1]
    assert not cycles, f"import cycles: {cycles}"


def _function_imports(tree: ast.AST):
    """Imports inside functions, except in ``try`` blocks that handle ImportError (optional deps)."""
    def walk(node, in_func, guarded):
        for child in ast.iter_child_nodes(node):
            f = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            g = guarded or (isinstance(child, ast.Try) and any(
                h.type is not None and re.search(r"ImportError|ModuleNotFoundError", ast.unparse(h.type))
                for h in child.handlers))
            if f and not g and isinstance(child, (ast.Import, ast.ImportFrom)):
                yield child
            yield from walk(child, f, g)
    yield from walk(tree, False, False)


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_imports_at_module_top(path):
    bad = []
    for node in _function_imports(ast.parse(path.read_text())):
        roots = ({a.name.split(".")[0] for a in node.names} if isinstance(node, ast.Import)
                 else {"hybridlib" if node.level else node.module.split(".")[0]})
        if not roots <= LAZY_IMPORTS:
            bad.append(f"line {node.lineno}: {ast.unparse(node)}")
    assert not bad, f"{_rel(path)}: imports inside functions that belong at the top (or in LAZY_IMPORTS): {bad}"


def test_importing_the_library_starts_no_heavy_runtime():
    code = ("import importlib, pkgutil, sys, hybridlib\n"
            "for m in pkgutil.walk_packages(hybridlib.__path__, 'hybridlib.'): importlib.import_module(m.name)\n"
            "print(sorted(r for r in {'tensorflow', 'tensorflowjs', 'aiortc', 'playwright', 'ray'} if r in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]", proc.stdout


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_module_size(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_MODULE_LINES, f"{_rel(path)} has {n} lines (> {MAX_MODULE_LINES}): split it by concept"


def code_lines(nb_path: Path) -> int:
    """Non-blank, non-comment lines in a notebook's code cells."""
    nb = nbformat.read(nb_path, as_version=4)
    return sum(1 for c in nb.cells if c.cell_type == "code" for line in c.source.splitlines()
               if line.strip() and not line.strip().startswith("#"))


@pytest.mark.parametrize("nb_path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda p: p.stem)
def test_notebook_is_thin(nb_path):
    n = code_lines(nb_path)
    assert n <= MAX_NOTEBOOK_CODE_LINES, (f"{nb_path.name}: {n} code lines (> {MAX_NOTEBOOK_CODE_LINES}); "
                                          "move logic into src/hybridlib and call it")


def test_architecture_map_names_every_module():
    """docs/ARCHITECTURE.md's module map lists each module of the package (and nothing that is gone)."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    block = text.split("## Module map", 1)[1].split("```", 2)[1]
    listed, stack = set(), []
    for line in block.splitlines():
        m = re.match(r"^(\s*)([\w./]+?)(\.py|/)\s", line + " ")
        if not m:
            continue
        depth = len(m.group(1)) // 2
        stack[depth:] = [m.group(2)]
        if m.group(3) == ".py":
            listed.add("/".join(stack))
    have = {str(p.relative_to(SRC.parent)).removesuffix(".py") for p in MODULES if p.name != "__init__.py"}
    have = {h.replace("hybridlib/", "src/hybridlib/", 1) for h in have}
    assert have - listed == set(), f"modules missing from the map: {sorted(have - listed)}"
    assert listed - have == set(), f"the map lists modules that do not exist: {sorted(listed - have)}"


def _module_attribute_misses(path: Path) -> list[str]:
    """``alias.name`` uses where ``alias`` is an imported hybridlib module that has no ``name``
    (a rename that missed a caller; notebooks run some paths only at the quick preset)."""
    import importlib

    tree = ast.parse(path.read_text())
    local = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    local |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments) for a in n.args + n.kwonlyargs}
    mods = {}
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("hybridlib") and not n.level:
            for a in n.names:
                try:
                    mods[a.asname or a.name] = importlib.import_module(f"{n.module}.{a.name}")
                except ImportError:
                    pass
        elif isinstance(n, ast.Import):
            for a in n.names:
                if a.name.startswith("hybridlib") and a.asname:
                    mods[a.asname] = importlib.import_module(a.name)
    misses = []
    for n in ast.walk(tree):
        if (isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name) and n.value.id in mods
                and n.value.id not in local and not hasattr(mods[n.value.id], n.attr)):
            try:
                importlib.import_module(f"{mods[n.value.id].__name__}.{n.attr}")
            except ImportError:
                misses.append(f"line {n.lineno}: {n.value.id}.{n.attr} (no such name in {mods[n.value.id].__name__})")
    return misses


@pytest.mark.parametrize("path", sorted((ROOT / "notebooks" / "src").glob("*.py")) + sorted((ROOT / "benchmarks").glob("*.py")),
                         ids=_rel)
def test_notebooks_and_benchmarks_call_names_that_exist(path):
    misses = _module_attribute_misses(path)
    assert not misses, f"{_rel(path)}: {misses}"
