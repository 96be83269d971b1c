"""Model files and their manifests: save, verify, load, and ``ensure_model`` for notebooks.

Artifacts are written atomically — ``<name>.h5`` (no optimizer state: the model is for
inference and export), ``<name>.history.json`` and, last, ``<name>.manifest.json`` holding the
SHA-256 of the ``.h5``, the dataset fingerprint, preset, hyper-parameters and library versions.
A model is valid only when its manifest's hash matches the file (:func:`load_model` checks), so
a half-written or swapped file is never used.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridlib import models
from hybridlib.data.fer import CLASS_NAMES
from hybridlib.models.train import MODEL_NAME, TrainConfig, TrainResult, save_h5, fit
from hybridlib.utils import InputError, package_versions, sha256_file, write_json_atomic

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

    from hybridlib.config import RunContext
    from hybridlib.data.fer import Dataset

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- save / load


def _sidecars(path: Path) -> tuple[Path, Path]:
    stem = path.with_suffix("")
    return Path(f"{stem}.history.json"), Path(f"{stem}.manifest.json")


def manifest_path(path: str | Path) -> Path:
    """``<name>.manifest.json`` next to ``<name>.h5``."""
    return _sidecars(Path(path))[1]


def save(result: TrainResult, path: str | Path, *, dataset: Dataset | None = None,
         preset: str | None = None, data_label: str | None = None,
         extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write ``path`` (.h5), its history JSON and, last, its manifest — each atomically.

    Returns the manifest. The manifest is written after the model so that a crash never
    leaves a manifest describing a model that is not there.
    """
    path = Path(path)
    if path.suffix != ".h5":
        raise InputError(f"model path {path} must end in .h5 (tf_keras HDF5, what tensorflowjs converts)")
    hist_path, man_path = _sidecars(path)
    save_h5(result.model, path)
    write_json_atomic(hist_path, result.history)
    manifest = {
        "model": path.name,
        "sha256": sha256_file(path),
        "bytes": path.stat().st_size,
        "architecture": result.model.name,
        "params": int(result.model.count_params()),
        "layer_counts": models.layer_counts(result.model),
        "input": {"shape": list(models.EMOTION_INPUT_SHAPE), "dtype": "float32", "scale": "uint8 / 255"},
        "class_names": list(CLASS_NAMES),
        "preset": preset,
        "data_label": data_label,
        "dataset": None if dataset is None else {
            "fingerprint": dataset.fingerprint(), "source": dataset.source,
            "synthetic": bool(dataset.synthetic), "rows": len(dataset)},
        "hyperparameters": result.config.to_dict(),
        "training": {k: v for k, v in result.summary().items() if k != "config"},
        "history": hist_path.name,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    write_json_atomic(man_path, manifest)
    return manifest


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest of model ``path``; :class:`InputError` if missing or unreadable."""

    mp = manifest_path(path)
    if not mp.is_file():
        raise InputError(f"model {path} has no manifest {mp.name}")
    try:
        return json.loads(mp.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise InputError(f"manifest {mp} is not valid JSON ({e})") from None


def verify(path: str | Path) -> dict[str, Any]:
    """Check ``path`` exists and matches its manifest's SHA-256; return the manifest."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"model file {path} does not exist (train one with `hybridlib train`)")
    man = read_manifest(path)
    digest = sha256_file(path)
    if man.get("sha256") != digest:
        raise InputError(f"model file {path} does not match its manifest (sha256 {digest[:12]}… ≠ "
                         f"{str(man.get('sha256'))[:12]}…): it was modified or is corrupt")
    return man


def load_model(path: str | Path, *, check_manifest: bool = False) -> tf_keras.Model:
    """Load a saved ``.h5`` model for inference (not compiled).

    A missing, truncated or non-HDF5 file raises :class:`InputError` naming the file
    (never a raw h5py traceback). With ``check_manifest`` the file must also match the
    SHA-256 recorded in its manifest.
    """
    import tf_keras as keras

    path = Path(path)
    if not path.exists():
        raise InputError(f"model file {path} does not exist (train one with `hybridlib train`)")
    if not path.is_file():
        raise InputError(f"model path {path} is not a file")
    if path.suffix not in (".h5", ".hdf5", ".keras"):
        raise InputError(f"model file {path}: expected a tf_keras .h5 file")
    if check_manifest:
        verify(path)
    try:
        return keras.models.load_model(path, compile=False)
    except Exception as e:  # h5py raises OSError, keras ValueError/KeyError/TypeError: all mean "bad file"
        raise InputError(f"model file {path} is not a readable Keras .h5 model "
                         f"({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else 'no detail'})") from None


def default_model_path(ctx: RunContext) -> Path:
    """Where the study's trained emotion CNN lives: ``data/processed/<preset>/emotion_cnn.h5``."""
    return ctx.artifacts_dir / f"{MODEL_NAME}.h5"


def is_valid(path: str | Path, data_label: str | None = None) -> bool:
    """True when ``path`` exists, matches its manifest and (if given) was trained on ``data_label``."""
    try:
        man = verify(path)
    except InputError as e:
        log.info("model %s not usable: %s", path, e)
        return False
    return data_label is None or man.get("data_label") == data_label


def ensure_model(ctx: RunContext, progress: bool = True) -> Path:
    """The trained emotion CNN for ``ctx``: reuse a valid one, else train it at the preset's size.

    Later notebooks call this so each runs alone. Valid = file and manifest agree and it
    was trained on the same data (synthetic vs a FER-2013 path). Training here uses the
    preset's untuned default config (01_train's sweep is not repeated); smoke = 1 epoch.
    """
    path = default_model_path(ctx)
    if is_valid(path, ctx.data_label):
        return path
    log.info("no valid trained model at %s: training one (preset %s)", path, ctx.preset.name)
    ds = ctx.dataset()
    res = fit(*ds.split("train"), *ds.split("val"), TrainConfig.from_preset(ctx.preset),
              progress=progress, desc="ensure_model")
    save(res, path, dataset=ds, preset=ctx.preset.name, data_label=ctx.data_label,
         extra={"made_by": "train.ensure_model (untuned default config)"})
    return path
