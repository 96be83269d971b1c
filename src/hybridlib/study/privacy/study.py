"""12's run on a study context: read what earlier notebooks left, attack, save results and figures.

Inputs are only artifacts: the trained emotion CNN of 01 (``data/processed/<preset>/emotion_cnn.h5``)
and 06's early-exit bundle (``…/converter/exit_bundle``); the faces are the preset's dataset.
A missing model skips 12 (recorded with ``ctx.skip``); a missing bundle skips the converter row only.
"""
from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from typing import Any

from hybridlib import models
from hybridlib.models import artifacts
from hybridlib.study.privacy import attack, figures

log = logging.getLogger(__name__)

PART = "12 privacy"


@dataclass
class Study:
    """What the notebook shows: the attack result, the JSON saved, the sizes."""

    result: attack.Result
    payload: dict[str, Any]
    sizes: attack.Sizes


def bundle_dir(ctx: Any) -> Any:
    """Where 06 saves its early-exit bundle (the converter) for this preset."""
    return ctx.artifacts_dir / "converter" / "exit_bundle"


def run_study(ctx: Any, save: bool = True) -> Study | None:
    """Attack every shipped tensor on the preset's faces; with ``save``, write ``results/privacy.json``,
    ``results/privacy_rows.csv`` and the two figures. None (and a skip record) when 01's model is missing."""
    t0 = time.perf_counter()
    model_path = artifacts.default_model_path(ctx)
    if not artifacts.is_valid(model_path, ctx.data_label):
        ctx.skip(PART, f"no trained emotion CNN for {ctx.data_label} at data/processed/{ctx.preset.name}/"
                       f"{model_path.name}: run 01_train first", required=False)
        return None
    sizes = attack.sizes_for(ctx.preset)
    ds = ctx.dataset()
    xtr, _ = ds.split("train")
    xte, yte = ds.split("test")
    sizes = attack.Sizes(min(sizes.n_train, len(xtr)), min(sizes.n_test, len(xte)), sizes.epochs, sizes.width)
    model = artifacts.load_model(model_path)
    conv_dir = bundle_dir(ctx)
    res, why_not = attack.run(model, models.preprocess(xtr[:sizes.n_train]), models.preprocess(xte[:sizes.n_test]),
                              yte[:sizes.n_test], sizes, converter_dir=conv_dir)
    if why_not:
        why_not = why_not.replace(f"{ctx.root}{os.sep}", "")  # the report names no machine's directories
        ctx.skip(f"{PART}: converter code", f"06's early-exit bundle not readable ({why_not}); "
                                            "the converter row is left out", required=False)
    res.seconds["total"] = time.perf_counter() - t0
    payload = {**attack.to_json(res, why_not, sizes), "model": model_path.name,
               "loadavg_after": round(os.getloadavg()[0], 2), "data": ctx.data_label}
    if save:
        ctx.save_result("privacy", payload)
        ctx.save_table("privacy_rows", res.rows)
        best = attack.best_rows(res.rows)
        ctx.save_figure(figures.reconstructions(res.examples, best), "12_privacy_reconstructions")
        ctx.save_figure(figures.quality(best, res.raw_accuracy["value"], res.chance), "12_privacy_quality")
    return Study(res, payload, sizes)
