"""Profile tables on disk: written and read back with their list columns, and the study's cached
per-layer profile of each model (:func:`ensure_profile`, made once per preset in ``artifacts_dir``).
"""
from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import browser as br
from hybridlib.models import artifacts as train
from hybridlib.profiling.layers import profile_model
from hybridlib.profiling.tfjs_layers import tfjs_worker
from hybridlib.profiling.timing import run_in_worker
from hybridlib.utils import InputError, atomic_path

log = logging.getLogger(__name__)


def save_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as parquet (lists kept) atomically; csv next to it for humans."""

    path = Path(path)
    with atomic_path(path.with_suffix(".parquet")) as tmp:
        df.to_parquet(tmp, index=False)
    flat = df.copy()
    for c in flat.columns:
        if flat[c].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            flat[c] = flat[c].map(lambda v: " ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
    with atomic_path(path.with_suffix(".csv")) as tmp:
        flat.to_csv(tmp, index=False)
    return path.with_suffix(".parquet")


def load_table(path: str | Path) -> pd.DataFrame:
    """A table written by :func:`save_table`, its list columns as lists again."""
    p = Path(path).with_suffix(".parquet")
    if not p.is_file():
        raise InputError(f"profile table {p} does not exist (run `hybridlib profile`)")
    df = pd.read_parquet(p)
    for c in ("inputs", "out_shape", "ms_all"):
        if c in df:
            df[c] = df[c].map(lambda v: list(v) if v is not None else [])
    return df


# ------------------------------------------------------------------------------ study helpers


def model_source(ctx: Any, model: str) -> str:
    """What to profile for ``model``: the trained emotion CNN if 01_train left a valid one,
    else a freshly initialised one (latency does not depend on the weights' values)."""
    if model != "emotion_cnn":
        return model
    try:
        path = train.default_model_path(ctx)
        if train.is_valid(path, ctx.data_label):
            return str(path)
    except Exception as e:  # noqa: BLE001 - fall back to the builder, say why
        log.info("trained emotion CNN unavailable (%s); profiling fresh weights", e)
    return "emotion_cnn"


def ensure_profile(ctx: Any, model: str, browser: bool = False, refresh: bool = False,
                   progress: bool = True) -> pd.DataFrame:
    """The cached tidy profile of ``model`` for ``ctx``'s preset (``artifacts_dir``), made if missing.

    TF device and cloud rows always; TF.js (Chromium, wasm) device rows too when ``browser``
    is true and Chromium + the npm assets are there (otherwise logged and skipped).
    """
    path = Path(ctx.artifacts_dir) / f"profile_{model}.parquet"
    df = None
    if path.is_file() and not refresh:
        df = load_table(path)
        if not browser or df["backend"].str.startswith("tfjs").any():
            return df
    reps = ctx.preset.profile_repeats
    if df is None:
        df = profile_model(model_source(ctx, model), repeats=reps, warmup=2, progress=progress)
        df["model"] = model
    if browser:
        try:
            if br.have_chromium() and not br.missing_vendor_files():
                # own process: Playwright's sync API refuses to run inside a notebook's event loop
                js = run_in_worker(tfjs_worker, (model_source(ctx, model), reps, 2), 0)
                js["model"] = model
                meta = df[df["side"] == "cloud"].set_index("layer")
                for c in ("type", "index", "inputs", "out_shape", "out_bytes", "params"):
                    js[c] = js["layer"].map(meta[c])
                js["side"] = "device"
                df = pd.concat([df, js], ignore_index=True)
            else:
                warnings.warn("TF.js profiling skipped: Chromium or npm assets missing", stacklevel=2)
        except Exception as e:  # noqa: BLE001 - the TF sides stand on their own; say so loudly
            warnings.warn(f"TF.js profiling failed ({type(e).__name__}: {e}); TF sides only", stacklevel=2)
    save_table(df, path)
    return df
