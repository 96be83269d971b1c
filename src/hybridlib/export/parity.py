"""Parity and speed of the exported TF.js models in headless Chromium: Keras vs TF.js per
variant, head→tail vs the full model at every split, and ms per forward pass per backend.
"""
from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm.auto import tqdm

from hybridlib import browser
from hybridlib.browser import f32_from_b64, f32_to_b64, run_sync
from hybridlib.export.splits import as_model, independent_copy, run_split, split_model
from hybridlib.export.tfjs import export_tfjs
from hybridlib.export.variants import VARIANTS
from hybridlib.models.networks import cut_sets, split_points

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

log = logging.getLogger(__name__)


def _off_loop(fn: Any) -> Any:
    """Run a browser job off the Jupyter event loop (see :func:`hybridlib.browser.run_sync`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return run_sync(fn, *args, **kwargs)

    return wrapper


def browser_predict(page: Any, name: str, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Probabilities of the TF.js model ``name`` (loaded in a harness page) on ``x``.

    Float32 values travel as base64 of their bytes: exact, and far cheaper than JSON numbers.
    """

    out = []
    for i in range(0, len(x), batch_size):
        xb = np.ascontiguousarray(x[i:i + batch_size], dtype=np.float32)
        res = page.evaluate("([n, f, s]) => hl.predict(n, f, s)", [name, f32_to_b64(xb), list(xb.shape)])
        out.append(f32_from_b64(res[0]["b64"]).reshape(res[0]["shape"]))
    return np.concatenate(out)


def browser_chain(page: Any, head: str, tail: str, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Head then tail, both in TF.js (the cut-set tensors never leave the browser)."""

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

    m = as_model(model)
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
    # a multi-tensor cut is one where more than one tensor crosses (from the graph, not from
    # layer names: "incept3_bn" is a one-tensor cut although its name contains "_b")
    sets = cut_sets(model)
    multi = {p for p in pts if len(sets.get(p, [])) > 1}
    inner = [p for p in pts if p in multi and p not in chosen]
    if inner and not any(c in multi for c in chosen):
        chosen[len(chosen) // 2] = inner[len(inner) // 2]
    names = [l.name for l in model.layers]
    return sorted(set(chosen), key=names.index)


@_off_loop
def split_parity(model: tf_keras.Model | str | os.PathLike[str], x: np.ndarray,
                 layers: Sequence[str] | None = None, backend: str = "wasm",
                 workdir: str | os.PathLike[str] | None = None, progress: bool = False) -> list[dict[str, Any]]:
    """At each split: exported TF.js head→tail vs the TF.js full model (same backend) and vs
    Keras, plus Keras head→tail vs Keras full. One row per split."""

    m = independent_copy(as_model(model))  # one private copy, cut many times (copy=False below)
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
                    batch: int = 1, budget_s: float | None = None) -> list[dict[str, Any]]:
    """TF.js ms per forward pass (batch ``batch``, one face per frame) in headless Chromium,
    per variant × backend. Each row records the backend TF.js really used, load and first-call ms.

    ``budget_s``: a variant × backend stops timing after at least 10 runs once its runs took
    longer than this (``runs`` is then the number done). Why: a software-GL webgl call takes
    ~250 ms here, 25× wasm's, so 30 of them cost 20 s of a quick run to pin a median that 10
    already show is far off; fast backends still get all ``runs``.

    A backend that cannot start is reported with ``error`` instead of numbers.
    """

    dirs = {v: Path(variants_root) / v for v in variants}
    rows: list[dict[str, Any]] = []
    for backend in backends:
        try:
            with browser.tfjs_session(dirs, backend=backend) as (page, _):
                for v in variants:
                    info = page.evaluate("n => hl.load(n)", v)
                    t = page.evaluate("([n, s, r, w, b]) => hl.time(n, s, r, w, b)",
                                      [v, [batch, *info["inputs"][0][1:]], runs, warmup,
                                       1000 * budget_s if budget_s else 0])
                    ms = np.asarray(t["times_ms"], float)
                    rows.append({"variant": v, "backend": t["backend"], "batch": batch, "runs": len(ms),
                                 "ms_median": float(np.median(ms)), "ms_p95": float(np.percentile(ms, 95)),
                                 "ms_min": float(ms.min()), "first_call_ms": float(t["first_ms"]),
                                 "load_ms": float(info["load_ms"])})
                    page.evaluate("n => hl.unload(n)", v)
        except Exception as e:  # noqa: BLE001 - a missing backend is a result, not a crash
            log.warning("backend %s failed: %s", backend, e)
            rows.extend({"variant": v, "backend": backend, "error": str(e)[:200]} for v in variants)
    return rows
