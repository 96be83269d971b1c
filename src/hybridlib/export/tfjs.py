"""TF.js conversion of the emotion CNN: fp32/float16/uint8 layers models, exported atomically.

Why this shape (docs/ARCHITECTURE.md, Pitfalls): tensorflowjs 4.22 converts only tf_keras ``.h5`` files, and
a *layers* model (``--input_format=keras``) keeps the layer boundaries that splitting and
per-layer profiling need (a graph model would fuse them away). The conversion runs in
process (``dispatch_keras_h5_to_tfjs_layers_model_conversion``), so exporting a head and a
tail at every layer boundary costs no TensorFlow start-up per model.

An export directory holds ``model.json``, ``group1-shard*.bin`` and ``manifest.json``
(SHA-256 and size of every file, quantisation, source model hash, versions). It appears
atomically: written into a temporary sibling and renamed into place, so a reader never
sees half a model.

Variants (names, quantisation map, manifests): :mod:`.variants`; head/tail splits:
:mod:`.splits`; parity and speed in Chromium: :mod:`.parity`; figures: :mod:`.figures`.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridlib.export.splits import split_model
from hybridlib.export.variants import (
    QUANTIZE,
    VARIANTS,
    quant_map,
    quantize_of,
    variant_name,
    verify_manifest,
    write_manifest,
)
from hybridlib.models.artifacts import load_model
from hybridlib.utils import InputError, current_umask, sha256_file, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

log = logging.getLogger(__name__)


@dataclass
class ExportResult:
    """One TF.js model directory (see module doc) and its numbers."""

    out_dir: Path
    variant: str
    files: dict[str, dict[str, Any]]  # name → {"bytes", "sha256"}
    weight_bytes: int
    total_bytes: int
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {"out_dir": str(self.out_dir), "variant": self.variant, "files": self.files,
                "weight_bytes": self.weight_bytes, "total_bytes": self.total_bytes,
                "seconds": round(self.seconds, 3)}


@contextlib.contextmanager
def atomic_dir(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces ``out`` (old one removed)."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists() and not out.is_dir():
        raise InputError(f"output {out} exists and is not a directory")
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~current_umask())  # mkdtemp made it 0700; give it the user's umask
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".old", dir=out.parent))
            os.replace(out, old / "x")
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _source_h5(model: tf_keras.Model | str | os.PathLike[str], workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The ``.h5`` the converter reads and the manifest's ``source`` record.

    A path is validated (one Keras load, so a bad file fails with a message naming it) and
    hashed; a model object is saved into ``workdir`` (no optimizer state). Done once per export
    call, however many variants are derived from it.
    """
    if isinstance(model, (str, os.PathLike)):
        h5 = Path(model)
        load_model(h5)  # validate early, with a message naming the file
        return h5, {"path": str(h5), "sha256": sha256_file(h5)}
    h5 = workdir / "model.h5"
    model.save(h5, include_optimizer=False)
    return h5, {"model": model.name, "params": int(model.count_params())}


#: TF.js requests every weight shard of a model at once and reads no body until all have
#: answered; over HTTP/1.1 a browser opens six connections per host, so a model of more than
#: six shards whose bodies outgrow the browser's buffers never finishes loading (seen with a
#: 14-shard 56 MB model). The default shard size keeps every export within this many files.
MAX_SHARDS = 6
MIN_SHARD_BYTES = 4 * 1024 * 1024


def shard_size(weight_bytes: int, max_shards: int = MAX_SHARDS) -> int:
    """Bytes per shard so that ``weight_bytes`` fit in at most ``max_shards`` files (at least
    4 MiB, TF.js' usual size, rounded up to 4 KiB)."""
    need = -(-int(weight_bytes) // max_shards)
    return max(MIN_SHARD_BYTES, -(-need // 4096) * 4096)


def _convert(h5: Path, out_dir: str | os.PathLike[str], quantize: str, source: dict[str, Any],
             extra: dict[str, Any] | None, shard_bytes: int | None) -> ExportResult:
    """One variant of ``h5`` into ``out_dir`` (atomic), with its manifest."""
    from tensorflowjs.converters.converter import dispatch_keras_h5_to_tfjs_layers_model_conversion

    if shard_bytes is None:  # the .h5's size bounds the fp32 weights from above
        shard_bytes = shard_size(h5.stat().st_size)

    variant = variant_name(quantize)
    t0 = time.perf_counter()
    with atomic_dir(out_dir) as tmp:
        dispatch_keras_h5_to_tfjs_layers_model_conversion(
            str(h5), output_dir=str(tmp), quantization_dtype_map=quant_map(quantize),
            weight_shard_size_bytes=shard_bytes)
        files = write_manifest(tmp, variant, source, {"quantization_map": quant_map(quantize), **(extra or {})})
    weights = sum(f["bytes"] for n, f in files.items() if n.endswith(".bin"))
    res = ExportResult(out_dir=Path(out_dir), variant=variant, files=files, weight_bytes=weights,
                       total_bytes=sum(f["bytes"] for f in files.values()),
                       seconds=time.perf_counter() - t0)
    log.info("exported %s → %s (%d bytes)", variant, out_dir, res.total_bytes)
    return res


def export_tfjs(model: tf_keras.Model | str | os.PathLike[str], out_dir: str | os.PathLike[str],
                quantize: str = "none", extra: dict[str, Any] | None = None,
                shard_bytes: int | None = None) -> ExportResult:
    """Convert a tf_keras model (object or ``.h5``) to a TF.js layers model in ``out_dir``.

    ``quantize``: ``none`` (fp32), ``float16`` (every weight) or ``uint8`` (affine per tensor,
    kernels and biases only — see :data:`~hybridlib.export.variants.UINT8_PATTERNS`; TF.js
    de-quantises at load). Writes ``manifest.json`` with SHA-256 per file; atomic.
    ``shard_bytes``: weight file size; default :func:`shard_size` (at most :data:`MAX_SHARDS` files).
    """
    variant_name(quantize)  # a bad value fails before any work
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hl-export-") as td:
        h5, source = _source_h5(model, Path(td))
        res = _convert(h5, out_dir, quantize, source, extra, shard_bytes)
    res.seconds = time.perf_counter() - t0
    return res


def export_variants(model: tf_keras.Model | str | os.PathLike[str], out_root: str | os.PathLike[str],
                    quantize: Sequence[str] = QUANTIZE) -> dict[str, ExportResult]:
    """Export each variant into ``out_root/<variant>/`` (what ``GET /model/<variant>/`` serves).

    The model is read once (a path: validated and hashed once; an object: saved once) and every
    variant is converted from that one ``.h5`` — ``--quantize all`` used to load the file once
    per variant.
    """
    names = [variant_name(q) for q in quantize]  # every value checked before any work
    with tempfile.TemporaryDirectory(prefix="hl-export-") as td:
        h5, source = _source_h5(model, Path(td))
        return {v: _convert(h5, Path(out_root) / v, q, source, None, None)
                for v, q in zip(names, quantize)}


def export_split(model: tf_keras.Model | str | os.PathLike[str], out_dir: str | os.PathLike[str],
                 layer: str | int, quantize: str = "none") -> dict[str, Any]:
    """Export the head and tail of a cut after ``layer`` to ``out_dir/head`` and ``out_dir/tail``.

    ``split.json`` beside them records the cut set (producer layers and shapes).
    """
    sp = split_model(model, layer)
    info = {"layer": sp.layer, "index": sp.index, "cut": sp.cut, "shapes": [list(s) for s in sp.shapes],
            "cut_bytes_fp32": sp.cut_bytes}
    out = Path(out_dir)
    with atomic_dir(out) as tmp:
        head = export_tfjs(sp.head, tmp / "head", quantize, extra={"split": info, "part": "head"})
        tail = export_tfjs(sp.tail, tmp / "tail", quantize, extra={"split": info, "part": "tail"})
        write_json_atomic(tmp / "split.json", {**info, "variant": variant_name(quantize),
                                               "head_bytes": head.total_bytes, "tail_bytes": tail.total_bytes})
    return {**info, "head_bytes": head.total_bytes, "tail_bytes": tail.total_bytes, "out_dir": str(out)}


def size_table(results: dict[str, ExportResult]) -> list[dict[str, Any]]:
    """Rows ``variant, total_bytes, weight_bytes, ratio_to_fp32`` for notebooks and the CLI."""
    base = results["fp32"].total_bytes if "fp32" in results else None
    return [{"variant": v, "total_bytes": r.total_bytes, "weight_bytes": r.weight_bytes,
             "ratio_to_fp32": round(r.total_bytes / base, 4) if base else None,
             "files": len(r.files)} for v, r in results.items()]


def default_tfjs_dir(model_path: str | os.PathLike[str]) -> Path:
    """Where a model's TF.js variants live: ``<model stem>_tfjs/`` beside the ``.h5``
    (what ``hybridlib serve`` serves and 02_export writes)."""
    p = Path(model_path)
    return p.with_name(p.stem + "_tfjs")


def ensure_tfjs(model_path: str | os.PathLike[str], out_root: str | os.PathLike[str] | None = None) -> Path:
    """TF.js variants of ``model_path`` in ``out_root`` (default ``<model>_tfjs/`` beside it),
    re-exported only when missing or made from a different ``.h5`` (SHA-256 in the manifest)."""
    mp = Path(model_path)
    out = Path(out_root) if out_root else default_tfjs_dir(mp)
    digest = sha256_file(mp)
    missing = []
    for v in VARIANTS:
        q = quantize_of(v)
        man_path = out / v / "manifest.json"
        man = json.loads(man_path.read_text()) if man_path.is_file() else {}
        ok = (man.get("source", {}).get("sha256") == digest
              and man.get("quantization_map") == quant_map(q)  # same export recipe
              and not verify_manifest(out / v))
        if not ok:
            missing.append(q)
    if missing:
        export_variants(mp, out, missing)
    return out
