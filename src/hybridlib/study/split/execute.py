"""Executed splits: the head in a (throttled) Chromium page, the tail on the server, per-stage ms.

Why: the partition engine's plans are predictions until executed. Here a cut is run end to
end: the page downloads only the TF.js head it needs, runs it on wasm, encodes the cut
tensor with the ``/split`` wire contract (docs/ARCHITECTURE.md, Serving contract: little-endian raw bytes, ``X-Shape``,
``X-Dtype`` float32|float16|uint8 (+ ``X-Scale``/``X-Zero-Point``: q = round(x/scale) + zp),
``X-Codec`` none|zlib), POSTs ``/split/<layer>`` to the real aiohttp server
(:func:`hybridlib.serving.app.make_app`, native TF on all cores) and reads ``{"probs", "emotion",
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

Device classes and links: :mod:`hybridlib.profiling.devices` (DevTools CPU throttling and network
emulation; ``tc`` kernel shaping as a second shaper). Every row records the ``shaper``.

Server load (``load="loaded"``): a bounded background of cloud-mode WebRTC users from
:mod:`hybridlib.study.load` against the same server, and the load factor (tail ms loaded ÷ idle,
probed through ``/split``) measured, not assumed: :func:`measure_load_factor`.

Assets (model files, cuts, heads, the input: :func:`~hybridlib.export.split_assets.model_h5`,
:func:`~hybridlib.export.split_assets.example_input`) live in :mod:`hybridlib.export.split_assets`,
the server side (:func:`~hybridlib.study.split.server.split_server`,
:func:`~hybridlib.study.split.server.post_split`, :class:`~hybridlib.study.split.server.BackgroundLoad`,
the load factor) in :mod:`hybridlib.study.split.server`; import them from there.

Entry points: :func:`execute` → tidy DataFrame, one row per (cut, rep);
:func:`execute_grid` → the same over device classes × networks in one server + page;
:func:`summarize` → medians (and means) per condition and cut; :func:`open_split_page` and
:func:`launch_chromium` for callers that drive the page themselves (early exit, choice).

Measured on this 2-core machine shared by several jobs (load average 3–10): per-call times
spread widely (p75/p25 up to 2×), DevTools throttling reads back below its set rate when
the CPU is contended, and the server's tail competes with the throttled page for the same
cores. Record the read-backs with every result; compare medians of interleaved reps.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib.browser import CHROMIUM_FLAGS, chromium_path, f32_to_b64, run_sync
from hybridlib.export.split_assets import (
    INPUT_NOTE,
    MODELS,
    Cut,
    cache_root,
    ensure_head,
    example_input,
    load_h5,
    model_h5,
    resolve_cuts,
)
from hybridlib.profiling import devices
from hybridlib.study.split.server import (
    LOADS,
    BackgroundLoad,
    cloud_metrics,
    measure_load_factor,
    probe_tail_ms,
    split_server,
)
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

WIRE_DTYPES = ("float32", "float16", "uint8")
PAGE_CODECS = ("none", "zlib")  # what the page can produce (CompressionStream 'deflate' = zlib)
COLUMNS = ("model", "cut", "device", "network", "load", "shaper", "backend", "rep", "head_ms", "encode_ms",
           "upload_ms", "tail_ms", "download_ms", "decode_ms", "total_ms", "up_bytes", "down_bytes")


#: the per-stage columns; ``other_ms`` = total − their sum: the page's own scheduling
#: (fetch() → request sent, response end → promise resolved, on the throttled main thread)
#: and the server's work outside ``server_ms`` (body read, tensor decode, executor hop).
STAGES = ("head_ms", "encode_ms", "upload_ms", "tail_ms", "download_ms", "decode_ms")

#: round-robin execution keeps every head in the page at once: only when their fp32 weights
#: (TF.js holds float32 even for uint8 downloads) fit in this
INTERLEAVE_MAX_BYTES = 256 * 1024 * 1024


# ----------------------------------------------------------------------------- execution


def _check_args(model: str, device: str, network: str, load: str, repeats: int, warmup: int, dtype: str,
                codec: str) -> None:
    if model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    devices.get_device(device)
    devices.network_conditions(network)
    if load not in LOADS:
        raise InputError(f"load must be one of {', '.join(LOADS)}; got {load!r}")
    if repeats < 1 or warmup < 0:
        raise InputError(f"repeats must be ≥ 1 and warmup ≥ 0; got {repeats}, {warmup}")
    if dtype not in WIRE_DTYPES:
        raise InputError(f"dtype must be one of {', '.join(WIRE_DTYPES)}; got {dtype!r}")
    if codec not in PAGE_CODECS:
        raise InputError(f"codec must be one of {', '.join(PAGE_CODECS)} (what the page can encode); got {codec!r}")


def open_split_page(context: Any, url: str, backend: str = "wasm", timeout_s: float = 300) -> Any:
    """Open ``/split.html`` of a running split server in a Playwright context; TF.js ready."""
    page = context.new_page()
    page.set_default_timeout(timeout_s * 1000)
    page.on("pageerror", lambda e: log.warning("split page error: %s", e))
    page.goto(f"{url}/split.html")
    page.wait_for_function("() => window.hlSplit && window.hlSplit.loaded")
    page.evaluate("b => hlSplit.init(b)", backend)
    return page


def execute(model: str, cuts: list[str], *, device: str = "phone", network: str = "wifi", load: str = "idle",
            repeats: int = 5, warmup: int = 2, dtype: str = "float32", codec: str = "none",
            ctx: Any = None, cache_dir: str | os.PathLike[str] | None = None, readback: bool = True,
            shaper: str = "devtools", load_users: int = 2, seed: int = 0,
            interleave: bool | None = None) -> pd.DataFrame:
    """Execute each cut of ``model`` end to end and time every stage.

    ``model``: ``emotion_cnn`` (the trained model of ``ctx`` if valid, else seeded fresh
    weights — latency does not depend on weight values) or ``alexnet`` (fresh weights).
    ``cuts``: Keras layer names = partition graph node ids; the input layer's name (or
    ``"input"``) = cloud-only, the output layer's name = device-only.
    ``device``: ``desktop`` (×1) | ``phone`` (×4) | ``lowend`` (×10) CPU throttling.
    ``network``: ``3g`` | ``lte`` | ``wifi`` (the partition presets) | ``none``.
    ``shaper``: ``devtools`` (DevTools emulation of latency + rates, default) or ``tc``
    (kernel tbf rates in a network namespace, Chromium inside it; latency still from
    DevTools since netem is missing). ``load``: ``idle`` | ``loaded`` (``load_users``
    background cloud-mode users; the measured load factor is in ``df.attrs["load"]`` and the
    ``load_factor`` column). ``dtype``/``codec``: wire encoding of the cut tensor (codec
    ``none`` | ``zlib``). ``readback``: measure the effective CPU slow-down and the shaped link.

    Returns a DataFrame, one row per (cut, rep), columns :data:`COLUMNS` plus provenance
    (``layer``, ``mode``, ``cpu_throttle``, ``head_variant``, ``head_bytes``, ``head_params``,
    ``dtype``, ``codec``, ``other_ms`` (total − Σ stages, see :data:`STAGES`), ``fetch_ms``,
    ``queue_ms``, ``load_factor``, ``top1``). ``df.attrs``
    holds the read-backs (``device``: ``{"measured_rate", "cpu_throttle", …}``; ``link``:
    ``{"up_mbps", "down_mbps", "rtt_ms", …}`` or None when unshaped or ``readback=False``;
    ``network``: the conditions applied), the load measurement (``load``: ``{"load_factor",
    "idle_ms", "loaded_ms", "measured", …}``) and each cut's last-rep probabilities (``probs``).

    Heads are loaded over an unshaped link, then the link is shaped for the warm-up and timed
    reps (the per-inference cost, not the one-off download; the head's size is in
    ``head_bytes``). ``interleave`` (default: when all heads' fp32 weights fit in
    :data:`INTERLEAVE_MAX_BYTES`) keeps every head loaded and runs the cuts round-robin, one
    rep of each per round, so a burst of foreign load on a shared machine lands on several
    cuts' different reps instead of on one cut's whole sample; otherwise (AlexNet's fc
    heads) each cut's reps run back to back.
    """
    df = execute_grid(model, cuts, devices=(device,), networks=(network,), load=load, repeats=repeats,
                      warmup=warmup, dtype=dtype, codec=codec, ctx=ctx, cache_dir=cache_dir,
                      readback=readback, shaper=shaper, load_users=load_users, seed=seed, interleave=interleave)
    # one condition: the read-backs flat, as documented (execute_grid keys them by condition)
    d, n = df.attrs["device"], df.attrs["network"]
    df.attrs["device"] = d[next(iter(d))] if d else {}
    df.attrs["network"] = n[next(iter(n))] if n else {}
    df.attrs["link"] = next(iter(df.attrs["link"].values()), None)
    return df


def execute_grid(model: str, cuts: list[str], *, devices: Sequence[str] = ("phone",),
                 networks: Sequence[str] = ("wifi",), load: str = "idle", repeats: int = 5, warmup: int = 2,
                 dtype: str = "float32", codec: str = "none", ctx: Any = None,
                 cache_dir: str | os.PathLike[str] | None = None, readback: bool = True, shaper: str = "devtools",
                 load_users: int = 2, seed: int = 0, interleave: bool | None = None,
                 model_path: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """:func:`execute` for every device class × network, sharing one server, browser and page.

    Each head is downloaded once and run under every condition (cut outer, conditions inner),
    which saves the start-up per condition. ``df.attrs["device"][name]``,
    ``df.attrs["network"][network]`` and ``df.attrs["link"][network]`` hold the read-backs per
    condition (:func:`execute` returns them flat). ``model_path``: run this ``.h5`` instead of
    :func:`model_h5`'s file for ``model`` (``model`` then only labels the rows; for ``emotion_cnn``
    it is also the loaded server's cloud model) — e.g. the converter's chain model
    (:mod:`hybridlib.study.early_exit.converter_exec`).
    """
    if model_path is not None and not Path(model_path).is_file():
        raise InputError(f"model_path {model_path} is not a file")

    if not devices or not networks:
        raise InputError("devices and networks must each name at least one condition")
    for d in devices:
        for n in networks:
            _check_args(model, d, n, load, repeats, warmup, dtype, codec)
    if shaper not in ("devtools", "tc"):
        raise InputError(f"shaper must be devtools or tc; got {shaper!r}")
    if shaper == "tc" and "none" in networks:
        raise InputError("shaper 'tc' shapes a named network (3g|lte|wifi); 'none' is unshaped loopback")
    if shaper == "tc" and load == "loaded":
        raise InputError("load='loaded' with shaper='tc' is not supported: the background users and probes "
                         "talk to 127.0.0.1, the tc-shaped server listens on the veth address")
    return run_sync(_execute_grid, model, list(cuts), list(devices), list(networks), load, repeats, warmup, dtype,
                    codec, ctx, cache_dir, readback, shaper, load_users, seed, interleave,
                    None if model_path is None else Path(model_path))


@contextlib.contextmanager
def launch_chromium(executable: str | None) -> Iterator[Any]:
    """Chromium (no camera) like :func:`hybridlib.browser.launch`, optionally another binary
    (the tc shaper's in-namespace wrapper)."""
    from playwright.sync_api import sync_playwright


    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=executable or chromium_path(), headless=True,
                               args=list(CHROMIUM_FLAGS))
        try:
            c = b.new_context()
            try:
                yield c
            finally:
                c.close()
        finally:
            b.close()


def _execute_grid(model: str, cuts: list[str], device_names: list[str], networks: list[str], load: str,
                  repeats: int, warmup: int, dtype: str, codec: str, ctx: Any, cache_dir: Any, readback: bool,
                  shaper: str, load_users: int, seed: int, interleave: bool | None,
                  model_path: Path | None = None) -> pd.DataFrame:
    devs = [devices.get_device(d) for d in device_names]
    nets = [devices.network_conditions(n) for n in networks]
    root = cache_root(ctx, cache_dir)
    h5 = model_path if model_path is not None else model_h5(model, ctx, root)

    km = load_h5(h5)
    resolved = resolve_cuts(km, cuts)
    heads_dir = root / "heads"
    heads = {c.cut: ensure_head(km, h5, c, heads_dir) for c in resolved}
    x = example_input(tuple(int(d) for d in km.input_shape[1:]), seed)
    cloud_h5 = None if load != "loaded" else (
        model_path if model_path is not None and model == "emotion_cnn" else model_h5("emotion_cnn", ctx, root))
    input_layer = km.layers[0].name
    attrs: dict[str, Any] = {"input": INPUT_NOTE, "input_seed": seed, "probs": {}, "heads": heads,
                             "model_path": str(h5), "device": {}, "link": {}, "network": {}, "shaper": shaper}
    rows: list[dict[str, Any]] = []
    load_info: dict[str, Any] = {"load_factor": 1.0, "measured": False}
    with contextlib.ExitStack() as stack:
        tc = None
        host = "127.0.0.1"
        if shaper == "tc":
            tc = stack.enter_context(devices.TcShaper(rate_mbit=1000.0))
            host = tc.host_ip
            wrapper = tc.chromium_wrapper(stack.enter_context(tempfile.TemporaryDirectory(prefix="hl-tc-")))
        url, _app = stack.enter_context(split_server(h5, heads_dir, load=load, cloud_model=cloud_h5, host=host,
                                                     model=km))
        bg: BackgroundLoad | None = None
        if load == "loaded":
            bg = BackgroundLoad(url, users=load_users)
            stack.callback(bg.stop)
            load_info = {**measure_load_factor(url, input_layer, x, bg), "measured": True}
            log.info("load factor %.2f (%s users)", load_info["load_factor"], load_users)
        bctx = stack.enter_context(launch_chromium(wrapper if tc else None))
        page = open_split_page(bctx, url)
        cdp = bctx.new_cdp_session(page)
        page.evaluate("([b, s]) => hlSplit.setInput(b, s)", [f32_to_b64(x), [1, *km.input_shape[1:]]])

        def shape(net: devices.NetworkConditions) -> dict[str, Any]:
            """Shape the link for ``net``; returns what was applied (with the shaper)."""
            if tc is None:
                return devices.apply_network(cdp, net)
            tc.set_rates(net.down_mbps or 1000.0, net.up_mbps or 1000.0)
            lat = devices.NetworkConditions(f"{net.name}-latency", net.latency_ms, -1.0, -1.0)
            applied = devices.apply_network(cdp, lat)
            return {**applied, "shaper": "tc", "latency_source": "devtools", "tc_down_mbit": net.down_mbps,
                    "tc_up_mbit": net.up_mbps, "qdisc": tc.qdiscs()}

        def unshape() -> None:
            devices.apply_network(cdp, "none")
            if tc is not None:
                tc.set_rates(1000.0)

        for d in devs:
            attrs["device"][d.name] = (devices.read_back_device(page, cdp, d) if readback
                                       else devices.apply_device(cdp, d))
        for n in nets:
            applied = shape(n)
            attrs["network"][n.name] = {**n.to_dict(), "applied": applied}
            if readback and n.shaped:
                attrs["link"][n.name] = devices.measure_link(page, url, up_bytes=(1_000, 100_000),
                                                             down_bytes=(1_000, 100_000))
        unshape()
        infos: dict[str, dict[str, Any]] = {}

        def load_head(c: Cut) -> None:
            h = heads[c.cut]
            infos[c.cut] = {}
            if h["name"]:
                unshape()  # the one-off download is not the per-inference cost
                devices.apply_device(cdp, "desktop")
                infos[c.cut] = page.evaluate("([k, u]) => hlSplit.loadHead(k, u)",
                                             [h["name"], f"/model/{h['name']}/model.json"])

        def unload_head(c: Cut) -> None:
            if heads[c.cut]["name"]:
                page.evaluate("k => hlSplit.unloadHead(k)", heads[c.cut]["name"])

        def run(c: Cut, d: devices.DeviceClass, n: devices.NetworkConditions, applied: dict[str, Any],
                rep: int) -> None:
            h, info = heads[c.cut], infos[c.cut]
            opts = {"head": h["name"], "layer": c.layer, "dtype": dtype, "codec": codec, "mode": c.mode}
            r = page.evaluate("o => hlSplit.step(o)", opts)
            if rep < warmup:
                return
            probs = r.pop("probs")
            rows.append({
                "model": model, "cut": c.cut, "device": d.name, "network": n.name, "load": load,
                "shaper": applied["shaper"], "backend": r["backend"], "rep": rep - warmup,
                **{k: float(r.get(k) or 0.0) for k in (*STAGES, "total_ms")},
                "up_bytes": int(r["up_bytes"]), "down_bytes": int(r["down_bytes"]),
                "layer": c.layer, "mode": c.mode, "cpu_throttle": d.cpu_throttle,
                "head_variant": h["variant"], "head_bytes": int(info.get("bytes") or h["bytes"]),
                "head_load_ms": info.get("load_ms"), "head_params": h["params"],
                "dtype": dtype if c.mode != "device" else None,
                "codec": codec if c.mode != "device" else None,
                "other_ms": float(r["total_ms"]) - sum(float(r.get(k) or 0.0) for k in STAGES),
                "fetch_ms": float(r.get("fetch_ms") or 0.0), "queue_ms": r.get("queue_ms"),
                "timing": r.get("timing", "page"), "load_factor": load_info["load_factor"],
                "interleaved": inter, "seq": len(rows),
                "top1": r.get("top1") if r.get("top1") is not None else
                (int(np.argmax(list(probs.values()))) if isinstance(probs, dict) else None),
            })
            attrs["probs"][c.cut] = list(probs.values()) if isinstance(probs, dict) else list(probs)

        mem = sum(4 * h["params"] for h in heads.values())
        inter = bool(interleave) if interleave is not None else mem <= INTERLEAVE_MAX_BYTES
        attrs["interleaved"] = inter
        def sweep(heads: Callable[[int], list[Any]]) -> None:
            """Every device × network; repetition ``rep`` runs the cuts ``heads(rep)``."""
            for d in devs:
                devices.apply_device(cdp, d)
                for n in nets:
                    applied = shape(n)
                    if bg is not None:
                        bg.ensure()
                    for rep in range(warmup + repeats):
                        for c in heads(rep):
                            run(c, d, n, applied, rep)

        if inter:
            # every head in memory at once; each round runs every cut once, starting one cut
            # later each round, so a burst of foreign load spreads over cuts (timing.round_robin)
            for c in resolved:
                load_head(c)
            sweep(lambda rep: resolved[rep % len(resolved):] + resolved[:rep % len(resolved)])
            for c in resolved:
                unload_head(c)
        else:  # big heads (AlexNet fc): one at a time
            for c in resolved:
                load_head(c)
                sweep(lambda rep, c=c: [c])
                unload_head(c)
        backend = page.evaluate("() => hlSplit.backend")
        if backend != "wasm":
            log.warning("TF.js backend is %s, not wasm", backend)
        if bg is not None:
            end = probe_tail_ms(url, input_layer, x, 5)  # the load seen while the cuts ran, probed again
            load_info["loaded_ms_end"] = end["median_ms"]
            load_info["metrics"] = cloud_metrics(url)
    attrs["load"] = load_info
    df = pd.DataFrame(rows)
    if len(df):  # tidy order (cut as requested, then condition, rep); ``seq`` keeps the executed order
        order = {c.cut: i for i, c in enumerate(resolved)}
        dord = {d.name: i for i, d in enumerate(devs)}
        nord = {n.name: i for i, n in enumerate(nets)}
        maps = {"cut": order, "device": dord, "network": nord}
        df = df.sort_values(["cut", "device", "network", "rep"], kind="stable",
                            key=lambda col: col.map(maps[col.name]) if col.name in maps else col)
        df = df.reset_index(drop=True)
    df.attrs.update(attrs)
    return df


def summarize(df: pd.DataFrame) -> pd.DataFrame:
    """Median of every stage per (model, cut, device, network, load, shaper) — what the
    predicted-vs-measured comparison and the stacked per-cut bars use — plus ``n`` reps,
    the p25/p75 of ``total_ms`` (the spread on a shared machine is part of the result) and
    the means of ``head_ms``/``total_ms``.

    Why the means too: DevTools CPU throttling is a duty cycle (the page's thread runs, then
    is held), so a call shorter than the cycle either slips through unthrottled or waits a
    whole hold. Measured here for the emotion CNN at 10×: 21 calls split into 9–14 ms and
    100–210 ms (median 102, mean 87, desktop 14). The mean is the throttled cost per call;
    the median of few reps can land on either mode.
    """
    keys = ["model", "cut", "device", "network", "load", "shaper"]
    cols = [*STAGES, "other_ms", "total_ms", "up_bytes", "down_bytes"]
    g = df.groupby(keys, sort=False)
    out = g[cols].median()
    out["n"] = g["total_ms"].size()
    out["total_p25"] = g["total_ms"].quantile(0.25)
    out["total_p75"] = g["total_ms"].quantile(0.75)
    out["head_mean"] = g["head_ms"].mean()
    out["total_mean"] = g["total_ms"].mean()
    for c in ("mode", "cpu_throttle", "load_factor", "head_bytes"):
        if c in df:
            out[c] = g[c].first()
    return out.reset_index()
