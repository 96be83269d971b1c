"""Per-layer profiles of a model on a device class, and the engine's graph built from them.

The device side is TF.js (wasm) in a Chromium page throttled to the class
(:data:`hybridlib.profiling.devices.DEVICES`), the cloud side native TF on all cores; both are
reconciled with their whole-model times, and shipped bytes are what the ``/split`` wire carries
(:func:`hybridlib.study.split.predict.wire_graph`). 06 and 09 read the same cached files.

Pitfalls (checked 2026-11-29): AlexNet's TF.js model is 15 shards / 62 MB even as uint8.
TF.js awaits every shard's headers before reading any body, so with Chromium's 6 HTTP/1.1
connections per host the load *hung* (6 unread bodies held every connection); and Chromium
aborts in-flight fetches with ``net::ERR_NETWORK_CHANGED`` whenever a network interface
appears or goes (other jobs' namespaces / veth pairs for ``tc`` shaping). Both loaders (the
profiler's and the split page's) now fetch through a retrying ``fetchFunc`` that reads each
body at once (:data:`hybridlib.profiling.tfjs_layers.RETRY_FETCH_JS`): the phone-class AlexNet
profile loads in ~5 s and quick predicts and executes AlexNet (phone × Wi-Fi).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from hybridlib import browser, export, partition
from hybridlib.export import split_assets
from hybridlib.profiling import devices, graphs, tables, tfjs_layers
from hybridlib.study.split.predict import wire_graph


def device_profile_path(ctx: Any, model: str, device: str) -> Path:
    """Where :func:`ensure_device_profile` caches (model, device class)'s TF.js profile."""
    return Path(ctx.artifacts_dir) / f"profile_tfjs_{model}_{device}.parquet"


def ensure_device_profile(ctx: Any, model: str, device: str, repeats: int | None = None,
                          refresh: bool = False) -> pd.DataFrame:
    """The TF.js (Chromium, wasm) per-layer profile of ``model`` on device class ``device``
    (:data:`hybridlib.profiling.devices.DEVICES`: its CPU throttling rate applied before timing),
    cached in ``ctx.artifacts_dir``. ``repeats``: default the preset's ``split_profile_repeats``
    for ``model``, else its ``profile_repeats``.

    It profiles the very files the executed split loads for device-only — the ``.h5`` of
    :func:`hybridlib.export.split_assets.model_h5` exported once as the device-only head
    (AlexNet's weights as uint8, compute fp32) — so the export is shared with 09's execution,
    and runs in this process (in a worker thread under a notebook's event loop, as the
    execution does) rather than a spawned one: for AlexNet that saves the export (~7 s) and a
    TensorFlow start-up (~10 s) of quick's time budget."""
    path = device_profile_path(ctx, model, device)
    if path.is_file() and not refresh:
        return tables.load_table(path)
    dev = devices.get_device(device)
    reps = repeats or dict(getattr(ctx.preset, "split_profile_repeats", ())).get(model) or ctx.preset.profile_repeats
    h5 = split_assets.model_h5(model, ctx)
    km = split_assets.load_h5(h5)
    (cut,) = split_assets.resolve_cuts(km, [km.layers[-1].name])
    head = split_assets.ensure_head(km, h5, cut, split_assets.cache_root(ctx) / "heads")
    js = browser.run_sync(tfjs_layers.profile_tfjs, km, repeats=reps, warmup=2, cpu_throttle=dev.cpu_throttle,
                          quantize=export.quantize_of(head["variant"]), tfjs_dir=head["dir"])
    js["model"] = model
    js["side"] = "device"
    js["device_class"] = dev.name
    js["source"] = str(h5)
    tables.save_table(js, path)
    return js


def device_graph(ctx: Any, model: str, device: str, dtype: str = "float32") -> partition.Graph:
    """The partition graph the engine solves for ``model`` on ``device``: device costs from
    :func:`ensure_device_profile` (that class's throttled TF.js), cloud costs from the cached
    native-TF profile (all cores, :func:`hybridlib.profiling.tables.ensure_profile`), both reconciled
    with their whole-model times; shipped bytes as the ``/split`` wire carries them in
    ``dtype`` (the input too: cloud-only uploads the float input in the same dtype)."""
    cloud = tables.ensure_profile(ctx, model, progress=False)
    cloud = cloud[cloud["side"] == "cloud"]
    js = ensure_device_profile(ctx, model, device)
    meta = cloud.set_index("layer")
    for c in ("type", "inputs", "out_shape", "out_bytes", "params"):
        js[c] = js["layer"].map(meta[c])
    t = pd.concat([cloud, js], ignore_index=True)
    g = graphs.to_graph(t, model, device=str(js["backend"].iloc[0]),
                         cpu_throttle=devices.get_device(device).cpu_throttle, input_itemsize=4,
                         name=f"{model}@{device}")
    return wire_graph(g, dtype)
