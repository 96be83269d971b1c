"""TF.js export of the emotion CNN: fp32/float16/uint8 layers models, head/tail splits, parity.

Why this shape (DESIGN.md §8): tensorflowjs 4.22 converts only tf_keras ``.h5`` files, and
a *layers* model (``--input_format=keras``) keeps the layer boundaries that splitting and
per-layer profiling need (a graph model would fuse them away). The conversion runs in
process (``dispatch_keras_h5_to_tfjs_layers_model_conversion``), so exporting a head and a
tail at every layer boundary costs no TensorFlow start-up per model.

An export directory holds ``model.json``, ``group1-shard*.bin`` and ``manifest.json``
(SHA-256 and size of every file, quantisation, source model hash, versions). It appears
atomically: written into a temporary sibling and renamed into place, so a reader never
sees half a model.

Splits: a cut "after layer L" (position i in the model's topological layer order) sends
every tensor produced at or before i and consumed after i. In a chain that is one tensor;
inside an Inception module it is several (the *cut set*). :func:`split_model` builds the
head (input → cut set) and the tail (cut set → softmax) as tf_keras models sharing the
original weights; :func:`split_points` lists every boundary the graph allows.

Variants are named ``fp32``, ``float16``, ``uint8`` (``--quantize none|float16|uint8``).
"""
from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .utils import InputError, package_versions, sha256_file, write_json_atomic

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

log = logging.getLogger(__name__)

QUANTIZE = ("none", "float16", "uint8")
VARIANTS = ("fp32", "float16", "uint8")
_Q2V = {"none": "fp32", "float16": "float16", "uint8": "uint8", "fp32": "fp32"}


def variant_name(quantize: str) -> str:
    """``none|fp32`` → ``fp32``; ``float16``/``uint8`` unchanged; anything else is an error."""
    try:
        return _Q2V[quantize]
    except KeyError:
        raise InputError(f"quantize must be one of {', '.join(QUANTIZE)}; got {quantize!r}") from None


# ----------------------------------------------------------------------------- model io


def load_model(path: str | os.PathLike[str]) -> tf_keras.Model:
    """Load a tf_keras ``.h5`` (inference only, no compile); errors name the file."""
    import tf_keras as keras

    p = Path(path)
    if not p.is_file():
        raise InputError(f"model file {p} does not exist")
    if p.suffix not in (".h5", ".hdf5", ".keras"):
        raise InputError(f"model file {p}: expected a tf_keras .h5 file")
    try:
        return keras.models.load_model(p, compile=False)
    except Exception as e:  # noqa: BLE001 - h5py/keras raise many types for a bad file
        raise InputError(f"model file {p}: cannot load as a tf_keras model ({type(e).__name__}: {e})") from e


def _as_model(model: tf_keras.Model | str | os.PathLike[str]) -> tf_keras.Model:
    return load_model(model) if isinstance(model, (str, os.PathLike)) else model


def _clone(model: tf_keras.Model) -> tf_keras.Model:
    """A weight-sharing-free copy, so building sub-models never adds nodes to ``model``."""
    import tf_keras as keras

    c = keras.models.clone_model(model)
    c.set_weights(model.get_weights())
    return c


# ----------------------------------------------------------------------------- splits


@dataclass
class Split:
    """A cut after ``layer`` (index ``index`` in ``model.layers``)."""

    layer: str
    index: int
    head: Any  # tf_keras.Model: input → cut tensors (in ``cut`` order)
    tail: Any  # tf_keras.Model: cut tensors → output
    cut: list[str] = field(default_factory=list)  # producer layer of each cut tensor
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # without batch

    @property
    def n_tensors(self) -> int:
        return len(self.cut)

    @property
    def cut_bytes(self) -> int:
        """fp32 bytes one sample sends across this cut."""
        return int(sum(4 * np.prod(s) for s in self.shapes))


def _inputs_of(layer: Any) -> list[Any]:
    x = layer.input
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _key(t: Any) -> int:
    return id(t)


def split_points(model: tf_keras.Model) -> list[str]:
    """Every layer after which a cut is possible: all but input layers and the output layer."""
    import tf_keras as keras

    outs = {t.node.layer.name for t in model.outputs}
    return [l.name for l in model.layers
            if not isinstance(l, keras.layers.InputLayer) and l.name not in outs]


def resolve_layer(model: tf_keras.Model, layer: str | int) -> int:
    """Index in ``model.layers`` of a layer given by name or index; errors list valid names."""
    names = [l.name for l in model.layers]
    if isinstance(layer, int) or (isinstance(layer, str) and layer.lstrip("-").isdigit()):
        i = int(layer)
        if not 0 <= i < len(names):
            raise InputError(f"split layer index {i} out of range 0..{len(names) - 1}")
        return i
    if layer not in names:
        pts = split_points(model)
        raise InputError(f"split layer {layer!r} is not in model {model.name!r}; valid: "
                         f"{', '.join(pts[:12])}{' …' if len(pts) > 12 else ''}")
    return names.index(layer)


def split_model(model: tf_keras.Model | str | os.PathLike[str], layer: str | int) -> Split:
    """Head (input → cut set) and tail (cut set → output) for a cut after ``layer``.

    The cut set is every tensor made at or before ``layer`` (in topological order) and used
    after it; its order is the order of the producers in ``model.layers``. The tail's
    inputs are named ``cut_<producer>``. Both halves get their own copy of the weights.
    """
    import tf_keras as keras

    model = _clone(_as_model(model))
    layers = model.layers
    i = resolve_layer(model, layer)
    name = layers[i].name
    if name not in split_points(model):
        raise InputError(f"cannot split after {name!r}: it is the model's input or output")
    pos = {id(l): j for j, l in enumerate(layers)}
    produced: dict[int, tuple[int, Any]] = {}  # tensor id → (producer index, tensor)
    for j, l in enumerate(layers[: i + 1]):
        for t in (l.output if isinstance(l.output, (list, tuple)) else [l.output]):
            produced[_key(t)] = (j, t)
    cut: dict[int, tuple[int, Any]] = {}
    for l in layers[i + 1:]:
        for t in _inputs_of(l):
            if _key(t) in produced:
                cut[_key(t)] = produced[_key(t)]
    for t in model.outputs:  # an output computed before the cut travels too
        if _key(t) in produced:
            cut[_key(t)] = produced[_key(t)]
    order = sorted(cut.values(), key=lambda jt: jt[0])
    head = keras.Model(model.inputs, [t for _, t in order] if len(order) > 1 else order[0][1],
                       name=f"head_{name}")
    mapping: dict[int, Any] = {}
    tail_inputs = []
    for j, t in order:
        inp = keras.Input(shape=tuple(t.shape[1:]), name=f"cut_{layers[j].name}")
        mapping[_key(t)] = inp
        tail_inputs.append(inp)
    for l in layers[i + 1:]:
        ins = [mapping[_key(t)] for t in _inputs_of(l)]
        out = l(ins if isinstance(l.input, (list, tuple)) else ins[0])
        for t_old, t_new in zip(l.output if isinstance(l.output, (list, tuple)) else [l.output],
                                out if isinstance(out, (list, tuple)) else [out]):
            mapping[_key(t_old)] = t_new
    tail = keras.Model(tail_inputs if len(tail_inputs) > 1 else tail_inputs[0],
                       [mapping[_key(t)] for t in model.outputs] if len(model.outputs) > 1
                       else mapping[_key(model.outputs[0])], name=f"tail_{name}")
    del pos
    return Split(layer=name, index=i, head=head, tail=tail, cut=[layers[j].name for j, _ in order],
                 shapes=[tuple(int(d) for d in t.shape[1:]) for _, t in order])


def run_split(split: Split, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Head then tail in Keras (the reference the browser split must match)."""
    h = split.head.predict(x, batch_size=batch_size, verbose=0)
    return split.tail.predict(h, batch_size=batch_size, verbose=0)


# ----------------------------------------------------------------------------- TF.js export


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


def _quant_map(quantize: str) -> dict[str, Any] | None:
    v = variant_name(quantize)
    return None if v == "fp32" else {v: True}


def _write_manifest(d: Path, variant: str, source: dict[str, Any], extra: dict[str, Any] | None) -> dict:
    files = {p.name: {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
             for p in sorted(d.iterdir()) if p.is_file() and p.name != "manifest.json"}
    man = {"format": "tfjs-layers-model", "variant": variant, "quantize": variant if variant != "fp32" else "none",
           "files": files, "source": source, "versions": package_versions(("tensorflow", "tf_keras",
                                                                               "tensorflowjs", "numpy")),
           "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **(extra or {})}
    write_json_atomic(d / "manifest.json", man)
    return files


def export_tfjs(model: tf_keras.Model | str | os.PathLike[str], out_dir: str | os.PathLike[str],
                quantize: str = "none", extra: dict[str, Any] | None = None,
                shard_bytes: int = 4 * 1024 * 1024) -> ExportResult:
    """Convert a tf_keras model (object or ``.h5``) to a TF.js layers model in ``out_dir``.

    ``quantize``: ``none`` (fp32), ``float16`` or ``uint8`` (affine per weight, TF.js
    de-quantises at load). Writes ``manifest.json`` with SHA-256 per file; atomic.
    """
    from tensorflowjs.converters.converter import dispatch_keras_h5_to_tfjs_layers_model_conversion

    variant = variant_name(quantize)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hl-export-") as td:
        if isinstance(model, (str, os.PathLike)):
            h5 = Path(model)
            load_model(h5)  # validate early, with a message naming the file
            source = {"path": str(h5), "sha256": sha256_file(h5)}
        else:
            h5 = Path(td) / "model.h5"
            model.save(h5, include_optimizer=False)
            source = {"model": model.name, "params": int(model.count_params())}
        with atomic_dir(out_dir) as tmp:
            dispatch_keras_h5_to_tfjs_layers_model_conversion(
                str(h5), output_dir=str(tmp), quantization_dtype_map=_quant_map(quantize),
                weight_shard_size_bytes=shard_bytes)
            files = _write_manifest(tmp, variant, source, extra)
    weights = sum(f["bytes"] for n, f in files.items() if n.endswith(".bin"))
    res = ExportResult(out_dir=Path(out_dir), variant=variant, files=files, weight_bytes=weights,
                       total_bytes=sum(f["bytes"] for f in files.values()),
                       seconds=time.perf_counter() - t0)
    log.info("exported %s → %s (%d bytes)", variant, out_dir, res.total_bytes)
    return res


def export_variants(model: tf_keras.Model | str | os.PathLike[str], out_root: str | os.PathLike[str],
                    quantize: Sequence[str] = ("none", "float16", "uint8")) -> dict[str, ExportResult]:
    """Export each variant into ``out_root/<variant>/`` (what ``GET /model/<variant>/`` serves)."""
    m = _as_model(model)
    return {variant_name(q): export_tfjs(model if isinstance(model, (str, os.PathLike)) else m,
                                         Path(out_root) / variant_name(q), q) for q in quantize}


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


def verify_manifest(d: str | os.PathLike[str]) -> list[str]:
    """Problems with an export directory (missing/changed files); empty list means intact."""
    import json

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
