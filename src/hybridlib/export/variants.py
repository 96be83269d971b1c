"""TF.js variants: the quantisation vocabulary, the converter's quantisation map and the export
directory's ``manifest.json`` (write and verify).

Variants are named ``fp32``, ``float16``, ``uint8``; the converter (and ``--quantize``) says
``none|float16|uint8``. :func:`variant_name` and :func:`quantize_of` are the one place the two
vocabularies meet. A manifest records the SHA-256 and size of every file of an export
directory, its quantisation, the source model's hash and the library versions, so a reader can
check that what it loads is what was exported (:func:`verify_manifest`).
"""
from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from hybridlib.utils import InputError, package_versions, sha256_file, write_json_atomic

QUANTIZE = ("none", "float16", "uint8")
VARIANTS = ("fp32", "float16", "uint8")
_Q2V = {"none": "fp32", "float16": "float16", "uint8": "uint8", "fp32": "fp32"}


def variant_name(quantize: str) -> str:
    """``none|fp32`` → ``fp32``; ``float16``/``uint8`` unchanged; anything else is an error."""
    try:
        return _Q2V[quantize]
    except KeyError:
        raise InputError(f"quantize must be one of {', '.join(QUANTIZE)}; got {quantize!r}") from None


def quantize_of(variant: str) -> str:
    """The converter's quantize setting of a variant (``fp32`` → ``none``): the inverse of
    :func:`variant_name`, the one place the two vocabularies meet."""
    v = variant_name(variant)
    return "none" if v == "fp32" else v


#: uint8 applies to conv/dense kernels and biases only; BatchNorm parameters stay float32.
#: Why: TF.js' uint8 is affine *per tensor* (256 levels from min to max). A BN
#: ``moving_variance`` spans orders of magnitude, so its small entries round to ~0 and
#: 1/sqrt(var + eps) blows up those channels: with every tensor in uint8 a 3-epoch quick model
#: kept only 53% top-1 agreement with Keras (accuracy −6.7 points, 300 test faces, measured in
#: Chromium and reproduced in numpy); kernels + biases alone keep 99.7% (+0.3 points). The BN
#: parameters are a few thousand floats, so the size stays ≈ 25% of fp32.
UINT8_PATTERNS: tuple[str, ...] = ("*/kernel", "*/bias")


def quant_map(quantize: str) -> dict[str, Any] | None:
    """The converter's ``quantization_dtype_map`` for a variant (None: fp32, nothing quantised)."""
    v = variant_name(quantize)
    if v == "fp32":
        return None
    if v == "uint8":
        return {"uint8": list(UINT8_PATTERNS)}
    return {v: True}


def write_manifest(d: Path, variant: str, source: dict[str, Any], extra: dict[str, Any] | None) -> dict:
    """Write ``d/manifest.json`` for the files now in ``d``; returns ``{name: {bytes, sha256}}``."""
    files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(d.iterdir()) if p.is_file() and p.name != "manifest.json"}
    man = {"format": "tfjs-layers-model", "variant": variant, "quantize": quantize_of(variant),
           "files": files, "source": source, "versions": package_versions(("tensorflow", "tf_keras",
                                                                               "tensorflowjs", "numpy")),
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(extra or {})}
    write_json_atomic(d / "manifest.json", man)
    return files


def verify_manifest(d: str | os.PathLike[str]) -> list[str]:
    """Problems with an export directory (missing/changed files); empty list means intact."""
    d = Path(d)
    mp = d / "manifest.json"
    if not mp.is_file():
        return [f"{mp} missing"]
    man = json.loads(mp.read_text())
    errs = []
    for name, f in man.get("files", {}).items():
        p = d / name
        if not p.is_file():
            errs.append(f"{p} missing")
        elif sha256_file(p) != f["sha256"]:
            errs.append(f"{p} sha256 mismatch")
    return errs
