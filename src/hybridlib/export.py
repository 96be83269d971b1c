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

from .utils import InputError, current_umask, package_versions, sha256_file, write_json_atomic

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
    x = layer.get_input_at(0)  # node 0 = the model's own call (later splits add more nodes)
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _outputs_of(layer: Any) -> list[Any]:
    x = layer.get_output_at(0)
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


def split_model(model: tf_keras.Model | str | os.PathLike[str], layer: str | int,
                copy: bool = True) -> Split:
    """Head (input → cut set) and tail (cut set → output) for a cut after ``layer``.

    The cut set is every tensor made at or before ``layer`` (in topological order) and used
    after it; its order is the order of the producers in ``model.layers``. The tail's
    inputs are named ``cut_<producer>``. With ``copy`` (default) both halves get their own
    copy of the weights; ``copy=False`` shares ``model``'s layers (cheap when cutting one
    model many times; it adds call nodes to ``model``'s layers, harmless for inference).
    """
    import tf_keras as keras

    model = _as_model(model)
    if copy:
        model = _clone(model)
    layers = model.layers
    i = resolve_layer(model, layer)
    name = layers[i].name
    if name not in split_points(model):
        raise InputError(f"cannot split after {name!r}: it is the model's input or output")
    produced: dict[int, tuple[int, Any]] = {}  # tensor id → (producer index, tensor)
    for j, l in enumerate(layers[: i + 1]):
        for t in _outputs_of(l):
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
        out = l(ins if isinstance(l.get_input_at(0), (list, tuple)) else ins[0])
        for t_old, t_new in zip(_outputs_of(l), out if isinstance(out, (list, tuple)) else [out]):
            mapping[_key(t_old)] = t_new
    tail = keras.Model(tail_inputs if len(tail_inputs) > 1 else tail_inputs[0],
                       [mapping[_key(t)] for t in model.outputs] if len(model.outputs) > 1
                       else mapping[_key(model.outputs[0])], name=f"tail_{name}")
    return Split(layer=name, index=i, head=head, tail=tail, cut=[layers[j].name for j, _ in order],
                 shapes=[tuple(int(d) for d in t.shape[1:]) for _, t in order])


def run_split(split: Split, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Head then tail in Keras (the reference the browser split must match)."""
    out = []
    for i in range(0, len(x), batch_size):  # eager calls: no tf.function tracing per sub-model
        h = split.head(x[i:i + batch_size], training=False)
        out.append(np.asarray(split.tail(h, training=False)))
    return np.concatenate(out)


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


#: uint8 applies to conv/dense kernels and biases only; BatchNorm parameters stay float32.
#: Why: TF.js' uint8 is affine *per tensor* (256 levels from min to max). A BN
#: ``moving_variance`` spans orders of magnitude, so its small entries round to ~0 and
#: 1/sqrt(var + eps) blows up those channels: with every tensor in uint8 a 3-epoch quick model
#: kept only 53% top-1 agreement with Keras (accuracy −6.7 points, 300 test faces, measured in
#: Chromium and reproduced in numpy); kernels + biases alone keep 99.7% (+0.3 points). The BN
#: parameters are a few thousand floats, so the size stays ≈ 25% of fp32.
UINT8_PATTERNS: tuple[str, ...] = ("*/kernel", "*/bias")


def _quant_map(quantize: str) -> dict[str, Any] | None:
    v = variant_name(quantize)
    if v == "fp32":
        return None
    if v == "uint8":
        return {"uint8": list(UINT8_PATTERNS)}
    return {v: True}


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

    ``quantize``: ``none`` (fp32), ``float16`` (every weight) or ``uint8`` (affine per tensor,
    kernels and biases only — see :data:`UINT8_PATTERNS`; TF.js de-quantises at load).
    Writes ``manifest.json`` with SHA-256 per file; atomic.
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
            files = _write_manifest(tmp, variant, source,
                                    {"quantization_map": _quant_map(quantize), **(extra or {})})
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


# ----------------------------------------------------------------------------- parity in Chromium


def _off_loop(fn: Any) -> Any:
    """Run a browser job off the Jupyter event loop (see :func:`hybridlib.browser.run_sync`)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from .browser import run_sync

        return run_sync(fn, *args, **kwargs)

    return wrapper


def browser_predict(page: Any, name: str, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Probabilities of the TF.js model ``name`` (loaded in a harness page) on ``x``.

    Float32 values travel as base64 of their bytes: exact, and far cheaper than JSON numbers.
    """
    from .browser import f32_from_b64, f32_to_b64

    out = []
    for i in range(0, len(x), batch_size):
        xb = np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
        res = page.evaluate("([n, f, s]) => hl.predict(n, f, s)", [name, f32_to_b64(xb), list(xb.shape)])
        out.append(f32_from_b64(res[0]["b64"]).reshape(res[0]["shape"]))
    return np.concatenate(out)


def browser_chain(page: Any, head: str, tail: str, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Head then tail, both in TF.js (the cut-set tensors never leave the browser)."""
    from .browser import f32_from_b64, f32_to_b64

    out = []
    for i in range(0, len(x), batch_size):
        xb = np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
        res = page.evaluate("([h, t, f, s]) => hl.chain(h, t, f, s)", [head, tail, f32_to_b64(xb), list(xb.shape)])
        out.append(f32_from_b64(res["b64"]).reshape(res["shape"]))
    return np.concatenate(out)


@_off_loop
def parity(model: tf_keras.Model | str | os.PathLike[str], x: np.ndarray, y: np.ndarray | None,
           variants_root: str | os.PathLike[str], variants: Sequence[str] = VARIANTS,
           backend: str = "wasm") -> dict[str, Any]:
    """Keras vs TF.js in headless Chromium for each exported variant.

    Returns ``{"backend", "n", "keras_accuracy", "variants": {v: {"max_abs_diff",
    "mean_abs_diff", "top1_agreement", "accuracy", "accuracy_delta_points", "bytes"}}}``.
    """
    from . import browser

    m = _as_model(model)
    x = np.asarray(x, np.float32)
    ref = m.predict(x, batch_size=128, verbose=0)
    out: dict[str, Any] = {"backend": backend, "n": int(len(x)), "variants": {},
                           "keras_accuracy": float((ref.argmax(1) == y).mean()) if y is not None else None}
    dirs = {v: Path(variants_root) / v for v in variants}
    with browser.tfjs_session(dirs, backend=backend) as (page, _):
        out["tfjs_backend"] = page.evaluate("() => tf.getBackend()")
        out["tfjs_version"] = page.evaluate("() => tf.version.tfjs")
        for v in variants:
            page.evaluate("n => hl.load(n)", v)
            p = browser_predict(page, v, x)
            d = np.abs(p - ref)
            row = {"max_abs_diff": float(d.max()), "mean_abs_diff": float(d.mean()),
                   "top1_agreement": float((p.argmax(1) == ref.argmax(1)).mean()),
                   "bytes": sum(f.stat().st_size for f in dirs[v].iterdir()
                                if f.is_file() and f.name != "manifest.json")}
            if y is not None:
                row["accuracy"] = float((p.argmax(1) == y).mean())
                row["accuracy_delta_points"] = 100.0 * (row["accuracy"] - out["keras_accuracy"])
            out["variants"][v] = row
            page.evaluate("n => hl.unload(n)", v)
    return out


def pick_splits(model: tf_keras.Model, limit: int = 0) -> list[str]:
    """All split points (``limit`` 0), else ``limit`` of them evenly spread, always including
    at least one multi-tensor cut (inside an Inception module) when the model has one."""
    pts = split_points(model)
    if not limit or limit >= len(pts):
        return pts
    idx = sorted({round(i * (len(pts) - 1) / max(limit - 1, 1)) for i in range(limit)})
    chosen = [pts[i] for i in idx]
    inner = [p for p in pts if "_b" in p and p not in chosen]
    if inner and not any("_b" in c for c in chosen):
        chosen[len(chosen) // 2] = inner[len(inner) // 2]
    names = [l.name for l in model.layers]
    return sorted(set(chosen), key=names.index)


@_off_loop
def split_parity(model: tf_keras.Model | str | os.PathLike[str], x: np.ndarray,
                 layers: Sequence[str] | None = None, backend: str = "wasm",
                 workdir: str | os.PathLike[str] | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """At each split: exported TF.js head→tail vs the TF.js full model (same backend) and vs
    Keras, plus Keras head→tail vs Keras full. One row per split."""
    from tqdm.auto import tqdm

    from . import browser

    m = _clone(_as_model(model))  # one private copy, cut many times (copy=False below)
    x = np.asarray(x, np.float32)
    ref = m.predict(x, batch_size=128, verbose=0)
    layers = list(layers) if layers is not None else split_points(m)
    with tempfile.TemporaryDirectory(prefix="hl-splits-", dir=workdir) as td:
        root = Path(td)
        export_tfjs(m, root / "full")
        info = {}
        for ly in tqdm(layers, desc="export splits", disable=not progress):
            sp = split_model(m, ly, copy=False)
            k = run_split(sp, x)
            export_tfjs(sp.head, root / f"head_{sp.index}")
            export_tfjs(sp.tail, root / f"tail_{sp.index}")
            info[ly] = (sp, float(np.abs(k - ref).max()))
        models = {"full": root / "full"}
        for ly, (sp, _) in info.items():
            models[f"head_{sp.index}"] = root / f"head_{sp.index}"
            models[f"tail_{sp.index}"] = root / f"tail_{sp.index}"
        rows = []
        with browser.tfjs_session(models, backend=backend) as (page, _):
            page.evaluate("n => hl.load(n)", "full")
            full_js = browser_predict(page, "full", x)
            for ly in tqdm(layers, desc="browser splits", disable=not progress):
                sp, keras_d = info[ly]
                h, t = f"head_{sp.index}", f"tail_{sp.index}"
                page.evaluate("n => hl.load(n)", h)
                page.evaluate("n => hl.load(n)", t)
                p = browser_chain(page, h, t, x)
                page.evaluate("n => hl.unload(n)", h)
                page.evaluate("n => hl.unload(n)", t)
                rows.append({"layer": ly, "index": sp.index, "n_tensors": sp.n_tensors,
                             "cut_bytes_fp32": sp.cut_bytes,
                             "max_abs_diff_vs_tfjs_full": float(np.abs(p - full_js).max()),
                             "max_abs_diff_vs_keras": float(np.abs(p - ref).max()),
                             "keras_split_max_abs_diff": keras_d, "backend": backend})
    return rows


@_off_loop
def browser_timings(variants_root: str | os.PathLike[str], variants: Sequence[str] = VARIANTS,
                    backends: Sequence[str] = ("wasm", "webgl", "cpu"), runs: int = 30, warmup: int = 3,
                    batch: int = 1) -> list[dict[str, Any]]:
    """TF.js ms per forward pass (batch ``batch``, one face per frame) in headless Chromium,
    per variant × backend. Each row records the backend TF.js really used, load and first-call ms.

    A backend that cannot start is reported with ``error`` instead of numbers.
    """
    from . import browser

    dirs = {v: Path(variants_root) / v for v in variants}
    rows: list[dict[str, Any]] = []
    for backend in backends:
        try:
            with browser.tfjs_session(dirs, backend=backend) as (page, _):
                for v in variants:
                    info = page.evaluate("n => hl.load(n)", v)
                    t = page.evaluate("([n, s, r, w]) => hl.time(n, s, r, w)",
                                      [v, [batch, *info["inputs"][0][1:]], runs, warmup])
                    ms = np.asarray(t["times_ms"], float)
                    rows.append({"variant": v, "backend": t["backend"], "batch": batch, "runs": runs,
                                 "ms_median": float(np.median(ms)), "ms_p95": float(np.percentile(ms, 95)),
                                 "ms_min": float(ms.min()), "first_call_ms": float(t["first_ms"]),
                                 "load_ms": float(info["load_ms"])})
                    page.evaluate("n => hl.unload(n)", v)
        except Exception as e:  # noqa: BLE001 - a missing backend is a result, not a crash
            log.warning("backend %s failed: %s", backend, e)
            rows.extend({"variant": v, "backend": backend, "error": str(e)[:200]} for v in variants)
    return rows


# ----------------------------------------------------------------------------- figures


def default_tfjs_dir(model_path: str | os.PathLike[str]) -> Path:
    """Where a model's TF.js variants live: ``<model stem>_tfjs/`` beside the ``.h5``
    (what ``hybridlib serve`` serves and 02_export writes)."""
    p = Path(model_path)
    return p.with_name(p.stem + "_tfjs")


def plot_sizes(table: list[dict[str, Any]], title: str = "TF.js model size per variant") -> Any:
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame(table)
    df["MB"] = df["total_bytes"] / 1e6
    fig, ax = plt.subplots(figsize=(6, 3.2))
    sns.barplot(data=df, x="variant", y="MB", ax=ax)
    for c in ax.containers:
        ax.bar_label(c, labels=[f"{mb:.2f} MB\n×{r:.2f}" for mb, r in zip(df["MB"], df["ratio_to_fp32"])],
                     fontsize=8)
    ax.set_ylim(0, df["MB"].max() * 1.3)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_browser_ms(rows: list[dict[str, Any]], title: str = "TF.js inference in headless Chromium") -> Any:
    import matplotlib.pyplot as plt
    import pandas as pd
    import seaborn as sns

    df = pd.DataFrame([r for r in rows if "ms_median" in r])
    fig, ax = plt.subplots(figsize=(7, 3.4))
    sns.barplot(data=df, x="variant", y="ms_median", hue="backend", ax=ax)
    ax.set_yscale("log")
    ax.set_ylabel("ms per frame (median, batch 1)")
    ax.set_ylim(top=df["ms_median"].max() * 3)
    ax.legend(title="TF.js backend", bbox_to_anchor=(1.01, 1), loc="upper left")
    for c in ax.containers:
        ax.bar_label(c, fmt="%.1f", fontsize=7)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def plot_split_parity(rows: list[dict[str, Any]], title: str = "Head→tail vs full model at each split") -> Any:
    import matplotlib.pyplot as plt
    import pandas as pd

    df = pd.DataFrame(rows)
    fig, ax = plt.subplots(figsize=(10, 3.6))
    eps = 1e-10  # exact zeros on a log axis
    ax.semilogy(df["index"], df["max_abs_diff_vs_tfjs_full"] + eps, "o-", ms=3, label="TF.js head→tail vs TF.js full")
    ax.semilogy(df["index"], df["max_abs_diff_vs_keras"] + eps, "s-", ms=3, label="TF.js head→tail vs Keras full")
    ax.semilogy(df["index"], df["keras_split_max_abs_diff"] + eps, "^-", ms=3, label="Keras head→tail vs Keras full")
    ax.axhline(1e-5, color="crimson", ls="--", lw=1, label="criterion 1e-5")
    multi = df[df["n_tensors"] > 1]
    ax.scatter(multi["index"], [2e-10] * len(multi), marker="|", color="0.3", label="multi-tensor cut")
    ax.set_xlabel("split after layer # (model.layers order)")
    ax.set_ylabel("max |Δprob|  (+1e-10)")
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title)
    fig.tight_layout()
    return fig
