#!/usr/bin/env python3
"""Build an output-free notebook from a percent-format script (authoring convenience).

    python scripts/nbbuild.py notebooks/src/00_data.py notebooks/00_data.ipynb

Cells start with ``# %%`` (code), ``# %% [markdown]`` (markdown, lines prefixed ``# ``)
or ``# %% parameters`` (code cell tagged ``parameters`` for papermill). The committed
.ipynb is what runs; this only saves hand-editing JSON.
"""
import sys
from pathlib import Path

import nbformat


def build(src: Path) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
                   "language_info": {"name": "python"}}
    cells, kind, buf = [], None, []

    def flush():
        if kind is None:
            return
        text = "\n".join(buf).strip("\n")
        if kind == "markdown":
            text = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in text.splitlines())
            cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            c = nbformat.v4.new_code_cell(text)
            if kind == "parameters":
                c.metadata["tags"] = ["parameters"]
            cells.append(c)

    for line in src.read_text().splitlines():
        if line.startswith("# %%"):
            flush()
            rest = line[4:].strip()
            kind = "markdown" if rest.startswith("[markdown]") else ("parameters" if rest == "parameters" else "code")
            buf = []
        else:
            buf.append(line)
    flush()
    for i, c in enumerate(cells):
        c["id"] = f"c{i:02d}"
    nb.cells = cells
    return nb


if __name__ == "__main__":
    nbformat.write(build(Path(sys.argv[1])), sys.argv[2])
