"""The app's exit mode (seed 004's early exit + converter, executed): the page runs the edge
model (trunk → ``exit1`` softmax + the converter's C-channel code) in TF.js, computes the
branch's normalised entropy itself and answers on the device when it is below the threshold;
otherwise it posts the code (wire codec: per-tensor uint8 + zlib, ``web/wire.js``) to
``POST /split/conv_encC``, where the server restores it and runs the unchanged tail.

Everything comes from one **bundle** (:mod:`hybridlib.study.early_exit.execute`, written by 06):
``edge/`` (TF.js) is served as ``GET /model/edge/model.json`` (the bundle is the app's models
folder), ``chain.h5`` is the ``/split`` model, ``exit.json`` the operating point. ``GET /config``
carries it as ``"exit": {channels, cut, threshold, codec, dtype, rule, edge_url}``; the page's
``?exit_threshold=T`` overrides the threshold for a demo (0 ships everything, 1 exits
everything but an exactly uniform branch).
"""
from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

from aiohttp import web

from hybridlib.export import exit_bundle
from hybridlib.serving.tails import TailRunner
from hybridlib.utils import InputError

log = logging.getLogger(__name__)


def setup_exit(app: web.Application, bundle: str | os.PathLike[str] | None, threshold: float | None = None) -> None:
    """Point ``app`` at the bundle: ``/split`` tails from its chain model, ``/model/edge/`` from
    its TF.js edge model, ``/config``'s ``exit`` entry from its ``exit.json`` (``threshold``
    overrides the recorded operating point)."""

    if bundle is None:
        raise InputError("exit mode needs --exit-bundle DIR (written by 06_early_exit: "
                         "data/processed/<preset>/converter/exit_bundle)")
    meta = exit_bundle.read_bundle(bundle)
    t = exit_bundle.check_threshold(meta["threshold"] if threshold is None else threshold, "exit threshold")
    cfg = {k: meta[k] for k in ("channels", "at", "cut", "codec", "dtype", "rule", "edge_url", "code_shape",
                                "n_classes") if k in meta}
    cfg.update({"threshold": t, "threshold_recorded": float(meta["threshold"])})
    with warnings.catch_warnings():  # the app's string keys are the contract (see make_app)
        warnings.simplefilter("ignore")
        app["model_path"] = Path(meta["chain_h5"])
        app["tail_runner"] = TailRunner(app["model_path"])
        app["models_dir"] = Path(meta["dir"])
        app["exit_config"] = cfg
    log.info("exit mode: bundle %s, C=%s, cut %s, T=%.3f", meta["dir"], meta["channels"], meta["cut"], t)
