"""Split-experiment assets: cached model files, cut resolution, head export, the example input.

Why: :mod:`hybridlib.study.split.execute` executes cuts; what it executes (the ``.h5``, the resolved
:class:`Cut`, the exported TF.js head, the seeded input) is one concept, kept here so the
executor and the split-mode server (:mod:`hybridlib.serving.splitmode`) share it.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hybridlib import export, models
from hybridlib.models import artifacts, neurosurgeon
from hybridlib.models.train import save_h5
from hybridlib.utils import InputError, project_root, sha256_file

log = logging.getLogger(__name__)

#: seed 003's benchmark networks by lower-case benchmark name (IMC is ``alexnet``), seeded weights
NEUROSURGEON_MODELS = {k.lower(): k for k in neurosurgeon.NEUROSURGEON if k != "IMC"}
MODELS = ("emotion_cnn", "alexnet", *NEUROSURGEON_MODELS)
#: heads whose fp32 weights exceed this travel as the uint8 TF.js variant (kernels and biases
#: affine-quantised, see export.UINT8_PATTERNS): AlexNet's fc6/fc7 heads and device-only
#: AlexNet (250 MB fp32 → ~62 MB) — the browser would otherwise fetch a quarter gigabyte.
HEAD_FP32_MAX_BYTES = 64 * 1024 * 1024
INPUT_NOTE = "uniform[0,1) random input, seed 0 (synthetic; latency does not depend on pixel values)"


# ----------------------------------------------------------------------------- artifacts


def cache_root(ctx: Any = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where models and exported heads are cached: ``cache_dir``, else ``<ctx.artifacts_dir>/split``,
    else ``data/processed/split`` in the project."""
    if cache_dir is not None:
        return Path(cache_dir)
    if ctx is not None:
        return Path(ctx.artifacts_dir) / "split"

    return project_root() / "data" / "processed" / "split"


def model_h5(model: str, ctx: Any = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The ``.h5`` a split experiment runs: the trained emotion CNN of ``ctx`` when valid, else
    the architecture with seeded (0) fresh weights, built once and cached."""
    if model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    if model == "emotion_cnn" and ctx is not None:
        p = artifacts.default_model_path(ctx)
        if artifacts.is_valid(p, ctx.data_label):
            return p
    p = cache_root(ctx, cache_dir) / f"{model}_fresh_seed0.h5"
    if not p.is_file():
        import tf_keras as keras

        keras.utils.set_random_seed(0)
        m = (models.emotion_cnn() if model == "emotion_cnn" else models.alexnet() if model == "alexnet"
             else neurosurgeon.build(NEUROSURGEON_MODELS[model], seed=0))
        log.info("building %s with fresh seeded weights → %s", model, p)
        save_h5(m, p)
    return p


_loaded: dict[tuple[str, int, int], Any] = {}


def load_h5(path: str | os.PathLike[str]) -> Any:
    """:func:`hybridlib.export.load_model` of ``path``, kept for the next caller in this process
    (keyed by path, mtime and size, so a rewritten file is loaded again; one model kept).

    Why: 09 needs the same ``.h5`` four times — its device profile's head export, the cut
    selection, the execution's heads and the server's tails — and loading AlexNet's 250 MB
    ``.h5`` took 15–20 s each on this loaded 2-core box, most of quick's AlexNet time. Callers
    use the model sequentially (never two predicts at once)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = export.load_model(p)
    return _loaded[key]


@dataclass
class Cut:
    """One requested cut, resolved against the model."""

    cut: str  # as requested
    layer: str  # Keras layer name
    mode: str  # cloud | split | device
    shape: tuple[int, ...]  # tensor that crosses the link (without batch); () for device-only
    params: int = 0  # parameters of the head the page runs


def resolve_cuts(model: Any, cuts: list[str]) -> list[Cut]:
    """Map cut names to (layer, mode); input → cloud-only, output → device-only.

    Errors name the cut: unknown layers, and cuts inside an Inception module (several
    tensors cross; ``/split`` takes one).
    """

    if not cuts:
        raise InputError("cuts is empty: give at least one layer name (input = cloud-only, output = device-only)")
    names = [l.name for l in model.layers]
    inp, outp = names[0], names[-1]
    chain = set(models.chain_cut_points(model))
    out = []
    for c in cuts:
        name = inp if c in ("input", inp) else c
        if name not in names:
            raise InputError(f"cut {c!r} is not a layer of {model.name}; valid cuts: input, "
                             f"{', '.join(models.chain_cut_points(model)[:10])} …, {outp}")
        if name == inp:
            out.append(Cut(c, name, "cloud", tuple(int(d) for d in model.input_shape[1:]), 0))
        elif name == outp:
            out.append(Cut(c, name, "device", (), int(model.count_params())))
        else:
            if name not in chain:
                sp = export.split_model(model, name, copy=False)
                raise InputError(f"cut {c!r} sends {sp.n_tensors} tensors ({', '.join(sp.cut)}); /split takes "
                                 "one: choose a chain cut point (models.chain_cut_points)")
            l = model.get_layer(name)
            shape = l.output_shape
            out.append(Cut(c, name, "split", tuple(int(d) for d in shape[1:]), 0))
    return out


def ensure_head(model: Any, h5: Path, cut: Cut, heads_dir: Path) -> dict[str, Any]:
    """Export (once, cached by the ``.h5``'s hash) the TF.js head the page runs for ``cut``.

    Returns ``{"name", "variant", "dir", "params", "bytes"}``; ``name`` is the directory under
    ``heads_dir`` that ``GET /model/<name>/model.json`` serves.
    """

    if cut.mode == "cloud":
        return {"name": None, "variant": None, "dir": None, "params": 0, "bytes": 0}
    if cut.mode == "device":
        sub = model
    else:
        sub = export.split_model(model, cut.layer, copy=False).head
    params = int(sub.count_params())
    variant = "fp32" if params * 4 <= HEAD_FP32_MAX_BYTES else "uint8"
    st = Path(h5).stat()
    key = (str(h5), st.st_mtime_ns, st.st_size)  # a retrained model in the same process re-hashes
    digest = _sha_cache.get(key) or _sha_cache.setdefault(key, sha256_file(h5)[:10])
    name = f"{model.name}-{digest}.{cut.layer}.{variant}"
    d = heads_dir / name
    if export.verify_manifest(d):
        log.info("exporting head %s (%d params, %s)", name, params, variant)
        export.export_tfjs(sub, d, export.quantize_of(variant),
                           extra={"split_head": {"layer": cut.layer, "mode": cut.mode, "h5_sha256_10": digest}})
    size = sum(p.stat().st_size for p in d.iterdir() if p.is_file() and p.name != "manifest.json")
    cut.params = params
    return {"name": name, "variant": variant, "dir": str(d), "params": params, "bytes": size}


_sha_cache: dict[tuple[str, int, int], str] = {}


def example_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """The input every executed rep uses: ``1×shape`` uniform [0, 1) float32 from ``seed``
    (:data:`INPUT_NOTE`); tests recompute it to compare with the full model."""
    return np.random.default_rng(seed).random((1, *shape), dtype=np.float32)

