"""Page JavaScript of the profiling stack, read from its files under ``serving/web/profiling/``.

Why files: page code kept in Python strings is invisible to a JavaScript linter, an editor and a
reader; as files it sits beside the app's other page code (``serving/web/``, shipped as package
data). Each file holds one function expression, with a ``//`` comment header saying what it does;
:func:`page_script` strips that header, so what ``page.evaluate`` receives starts with the
function itself. The files are read through :mod:`importlib.resources` on the ``hybridlib``
package: nothing of :mod:`hybridlib.serving` is imported (it sits above this layer).
"""
from __future__ import annotations

import functools
from importlib import resources

from hybridlib.utils import InputError

#: the folder of the profiling scripts, relative to the ``hybridlib`` package
SCRIPT_DIR = ("serving", "web", "profiling")


@functools.cache
def page_script(name: str, **parts: str) -> str:
    """The function expression in ``serving/web/profiling/<name>``, its comment header dropped.

    ``parts`` replace placeholder names in the body (``RETRY_FETCH`` → another script's text), so
    one script can embed another without the two being kept in sync by hand.
    """
    node = resources.files("hybridlib").joinpath(*SCRIPT_DIR, name)
    if not node.is_file():
        raise InputError(f"no page script {name!r} under hybridlib/{'/'.join(SCRIPT_DIR)}/")
    lines = node.read_text(encoding="utf-8").splitlines()
    while lines and (not lines[0].strip() or lines[0].lstrip().startswith("//")):
        lines.pop(0)
    text = "\n".join(lines).strip()
    for key, value in parts.items():
        if key not in text:
            raise InputError(f"page script {name!r} has no placeholder {key!r}")
        text = text.replace(key, value.strip())
    return text
