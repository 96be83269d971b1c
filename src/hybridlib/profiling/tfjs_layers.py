"""Per-layer latency of a Keras model in TF.js, in headless Chromium (the browser device side).

**device (TF.js)** = the exported layers model in headless Chromium on the ``wasm`` backend
(:func:`profile_tfjs`), layer by layer, optionally CPU-throttled to a device class
(:func:`hybridlib.profiling.devices.set_cpu_throttle`); the backend is recorded with every row.
The page code lives in ``serving/web/profiling/`` (:mod:`.scripts`): ``load_model.js`` loads
the model with :data:`RETRY_FETCH_JS` as its fetch function, ``layer_profile.js`` times each
layer alone, then the whole model and the prefix sub-models that :mod:`.reconcile` needs.
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from hybridlib import browser, export
from hybridlib.profiling.devices import set_cpu_throttle
from hybridlib.profiling.layers import PowerModel, build_model, inbound_names, provenance
from hybridlib.profiling.reconcile import apply_reconciliation, probe_cuts, single_cuts
from hybridlib.profiling.scripts import page_script
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

log = logging.getLogger(__name__)

#: ``retry_fetch.js``: one fetch with retries, as TF.js's ``fetchFunc`` (LoadOptions): Chromium
#: aborts in-flight fetches with ``net::ERR_NETWORK_CHANGED`` (a TypeError "Failed to fetch") whenever a network
#: interface appears or goes — here other jobs' network namespaces / veth pairs for tc
#: shaping, several a minute while tests run. AlexNet's 15 shards (62 MB) take long enough
#: that restarting the whole model load (the old retry) kept losing a shard to the next
#: change; retrying the failed request alone, with backoff, loads it. Retries are counted in
#: ``window.__hlFetchRetries`` (recorded in the profile's ``fetch_retries``).
#:
#: The body is read inside the retry (a cut-off body is retried too) and *before* the
#: promise resolves. Why (found 2026-11-29): TF.js awaits every shard's response headers
#: (``Promise.all``) before reading any body, and Chromium opens at most 6 HTTP/1.1
#: connections per host; with more than 6 shards too large for the socket buffers, the 6
#: unread bodies hold every connection and shard 7's headers never come — AlexNet's load hung
#: forever with the renderer idle. Reading each body as it arrives frees its connection.
RETRY_FETCH_JS = page_script("retry_fetch.js")
#: ``load_model.js``: loads the model before any CPU throttling; every request retried
#: (:data:`RETRY_FETCH_JS`), and the whole load retried a few times on top; returns the number
#: of retried requests
LOAD_JS = page_script("load_model.js", RETRY_FETCH=RETRY_FETCH_JS)
#: ``layer_profile.js``: ``[name, repeats, warmup, probeNames]`` → per-layer rows, the whole
#: model's and the prefix sub-models' medians
PROFILE_JS = page_script("layer_profile.js")


def profile_tfjs(model: str | tf_keras.Model, repeats: int = 5, warmup: int = 2, backend: str = "wasm",
                 power: PowerModel = PowerModel(), workdir: str | Path | None = None,
                 cpu_throttle: float = 1.0, quantize: str = "none",
                 tfjs_dir: str | Path | None = None) -> pd.DataFrame:
    """Per-layer latency of ``model`` in TF.js inside headless Chromium (device side).

    Exports the model as an fp32 TF.js layers model (:mod:`hybridlib.export`), loads it in
    the harness page and times ``layer.apply`` + ``dataSync`` per layer (median of
    ``repeats`` after ``warmup``), then the whole model and two prefix sub-models in
    interleaved rounds, and reconciles the two (:func:`reconcile`). ``cpu_throttle`` > 1
    slows the page with DevTools CPU throttling *before* anything is timed, so the profile
    is that of the device class the split is executed on (``desktop`` = 1, ``phone`` = 4).
    The backend and the rate actually used are recorded in every row. ``quantize="uint8"``
    stores the weights as uint8 (TF.js de-quantises them at load, so the compute is fp32
    either way): AlexNet's 250 MB of fp32 weights are a quarter of that to load.
    ``tfjs_dir``: an existing TF.js export of ``model`` (a Keras model object) to load instead
    of exporting again — the split study's device-only head (``quantize`` then only labels
    the rows): exporting AlexNet costs seconds and its 62 MB twice on disk.
    """

    import tf_keras as keras

    keras_model = build_model(model) if isinstance(model, str) else model
    names = [l.name for l in keras_model.layers]
    inbound = [(l.name, [] if isinstance(l, keras.layers.InputLayer) else inbound_names(l))
               for l in keras_model.layers]
    probes = probe_cuts(single_cuts(inbound), names)
    with tempfile.TemporaryDirectory(prefix="hl-prof-", dir=workdir) as td:
        out = Path(td) / "m"
        if tfjs_dir is not None:
            out = Path(tfjs_dir)
            if not (out / "model.json").is_file():
                raise InputError(f"tfjs_dir {out} holds no model.json")
        else:
            export.export_tfjs(keras_model, out, quantize)
        with browser.tfjs_session({"m": out}, backend=backend, timeout_s=600) as (page, _url):
            retries = int(page.evaluate(LOAD_JS, "m") or 0)
            if retries:
                log.info("model load: %d request(s) retried (net::ERR_NETWORK_CHANGED?)", retries)
            rate = set_cpu_throttle(page, cpu_throttle) if cpu_throttle != 1 else 1.0
            res = page.evaluate(PROFILE_JS, ["m", repeats, warmup, probes])
    df = pd.DataFrame(res["rows"])
    df["model"] = keras_model.name
    df["model_ms"] = res["model_ms"]
    df["index"] = df["layer"].map({n: i for i, n in enumerate(names)})
    rows = df.to_dict("records")
    apply_reconciliation(rows, float(res["model_ms"]),
                          [(names.index(p), float(t)) for p, t in zip(probes, res["probe_ms"])])
    df = pd.DataFrame(rows)
    prov = provenance("device", f"tfjs-{res['backend']}", 1, repeats, warmup)
    prov["chromium"] = browser.chromium_version()
    prov["cpu_throttle"] = rate
    prov["weights"] = quantize
    prov["fetch_retries"] = retries
    for k, v in prov.items():
        df[k] = v
    df["energy_mj"] = df["ms"].map(power.energy_mj)
    df["power_w"] = power.active_w
    return df


def tfjs_worker(args: tuple[Any, ...]) -> pd.DataFrame:
    """``(model, repeats, warmup[, cpu_throttle[, quantize]])`` → :func:`profile_tfjs`."""
    model, repeats, warmup, *rest = args
    return profile_tfjs(model, repeats=repeats, warmup=warmup, cpu_throttle=rest[0] if rest else 1.0,
                        quantize=rest[1] if len(rest) > 1 else "none")
