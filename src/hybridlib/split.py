"""Executed splits: the head in a (throttled) Chromium page, the tail on the server, per-stage ms.

Why (issue 12): the partition engine's plans were never executed. Here a cut is run end to
end: the page downloads only the TF.js head it needs, runs it on wasm, encodes the cut
tensor with the ``/split`` wire contract (DESIGN.md §6: little-endian raw bytes, ``X-Shape``,
``X-Dtype`` float32|float16|uint8 (+ ``X-Scale``/``X-Zero-Point``: q = round(x/scale) + zp),
``X-Codec`` none|zlib), POSTs ``/split/<layer>`` to the real aiohttp server
(:func:`hybridlib.serve.make_app`, native TF on all cores) and reads ``{"probs", "emotion",
"server_ms"}`` back. Device-only (cut = output layer) and cloud-only (cut = input layer: the
page uploads the input, the server runs the whole model) are the two end cuts of the same loop.

Per-stage times come from the page's ``performance.now()`` and Resource Timing:

* ``head_ms``   TF.js head (``predict`` + ``data()``), on the throttled CPU;
* ``encode_ms`` float32 → wire dtype (+ optional zlib via CompressionStream);
* ``upload_ms`` ≈ responseStart − requestStart − server_ms (request out + the tail's wait);
* ``tail_ms``   the server's own ``server_ms`` (tail sub-model only);
* ``download_ms`` responseEnd − responseStart;
* ``decode_ms`` JSON parse of the answer;
* ``total_ms``  first head op → probabilities in hand (page clock).

Device classes and links: :mod:`hybridlib.devices` (DevTools CPU throttling and network
emulation; ``tc`` kernel shaping as a second shaper). Every row records the ``shaper``.

Server load (``load="loaded"``): a bounded background of cloud-mode WebRTC users from
:mod:`hybridlib.load` against the same server, and the load factor (tail ms loaded ÷ idle,
probed through ``/split``) measured, not assumed: :func:`measure_load_factor`.

Entry point: :func:`execute` → tidy DataFrame, one row per (cut, rep).
"""
from __future__ import annotations

import logging
from typing import Any

from .utils import InputError

log = logging.getLogger(__name__)

MODELS = ("emotion_cnn", "alexnet")
LOADS = ("idle", "loaded")
WIRE_DTYPES = ("float32", "float16", "uint8")
PAGE_CODECS = ("none", "zlib")  # what the page can produce (CompressionStream 'deflate' = zlib)
COLUMNS = ("model", "cut", "device", "network", "load", "shaper", "backend", "rep", "head_ms", "encode_ms",
           "upload_ms", "tail_ms", "download_ms", "decode_ms", "total_ms", "up_bytes", "down_bytes")


def execute(model: str, cuts: list[str], *, device: str = "phone", network: str = "wifi", load: str = "idle",
            repeats: int = 5, warmup: int = 2, dtype: str = "float32", codec: str = "none",
            ctx: Any = None) -> Any:
    """Execute each cut of ``model`` end to end and time every stage.

    ``model``: ``emotion_cnn`` (the trained model of ``ctx`` if valid, else seeded fresh
    weights — latency does not depend on weight values) or ``alexnet`` (fresh weights).
    ``cuts``: Keras layer names = partition graph node ids; the input layer's name (or
    ``"input"``) = cloud-only, the output layer's name = device-only.
    ``device``: ``desktop`` (×1) | ``phone`` (×4) | ``lowend`` (×10) CPU throttling.
    ``network``: ``3g`` | ``lte`` | ``wifi`` (DevTools emulation of the partition presets) |
    ``none``. ``load``: ``idle`` | ``loaded`` (background cloud-mode users; the measured load
    factor is in ``df.attrs["load_factor"]`` and the ``load_factor`` column).
    ``dtype``/``codec``: wire encoding of the cut tensor.

    Returns a DataFrame, one row per (cut, rep), columns :data:`COLUMNS` plus provenance
    (``cpu_throttle``, ``head_variant``, ``dtype``, ``codec``, ``head_bytes``, ``fetch_ms``,
    ``load_factor``, ``emotion``/``top1``). ``df.attrs`` holds read-backs (measured CPU
    slow-down, measured link) and the probabilities of the last rep per cut.
    """
    raise NotImplementedError("split.execute: work in progress (wip/split)")
