"""The early-exit bundle on disk: its file names, its decision rule and a checked reader.

Why in ``export``: the bundle is an exported artifact like a TF.js model; the server's
``--mode exit`` reads it and the early-exit study writes it
(:func:`hybridlib.study.early_exit.execute.save_bundle`), so its format lives below both.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hybridlib.utils import InputError

RULE = "exit iff normalised entropy of exit1 < threshold (T=0: nothing exits; T=1: all but exactly uniform)"
EDGE_DIR = "edge"   # served as /model/edge/ (the bundle is the server's models_dir)
CHAIN_H5 = "chain.h5"
META = "exit.json"

def read_bundle(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """``exit.json`` of a bundle, checked (every file present), with ``dir``/``chain_h5``/``edge_dir`` added."""
    d = Path(bundle)
    p = d / META
    if not p.is_file():
        raise InputError(f"exit bundle {d}: {META} is missing (write one with hybridlib.study.early_exit.execute.save_bundle, "
                         "e.g. by running 06_early_exit)")
    try:
        meta = json.loads(p.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"exit bundle {p}: not JSON ({e})") from None
    for k in ("channels", "cut", "threshold", "codec"):
        if k not in meta:
            raise InputError(f"exit bundle {p}: field {k!r} is missing")
    for f in (d / CHAIN_H5, d / EDGE_DIR / "model.json"):
        if not f.is_file():
            raise InputError(f"exit bundle {d}: {f.relative_to(d)} is missing")
    return {**meta, "dir": str(d), "chain_h5": str(d / CHAIN_H5), "edge_dir": str(d / EDGE_DIR)}


def check_threshold(t: Any, name: str = "threshold") -> float:
    """``t`` as a float in [0, 1], or :class:`InputError` naming ``name``."""
    try:
        v = float(t)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a number in [0, 1], got {t!r}") from None
    if isinstance(t, bool) or not (0.0 <= v <= 1.0):
        raise InputError(f"{name} must be a number in [0, 1], got {t!r}")
    return v
