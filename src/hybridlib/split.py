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

Entry points: :func:`execute` → tidy DataFrame, one row per (cut, rep);
:func:`execute_grid` → the same over device classes × networks in one server + page;
:func:`summarize` → medians (and means) per condition and cut. Helpers the tests and the
study use: :func:`split_server`, :func:`open_split_page`, :func:`post_split`,
:class:`BackgroundLoad`, :func:`measure_load_factor`, :func:`model_h5`, :func:`example_input`.

Measured on this 2-core machine shared by several jobs (load average 3–10): per-call times
spread widely (p75/p25 up to 2×), DevTools throttling reads back below its set rate when
the CPU is contended, and the server's tail competes with the throttled page for the same
cores. Record the read-backs with every result; compare medians of interleaved reps.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)

MODELS = ("emotion_cnn", "alexnet")
LOADS = ("idle", "loaded")
WIRE_DTYPES = ("float32", "float16", "uint8")
PAGE_CODECS = ("none", "zlib")  # what the page can produce (CompressionStream 'deflate' = zlib)
COLUMNS = ("model", "cut", "device", "network", "load", "shaper", "backend", "rep", "head_ms", "encode_ms",
           "upload_ms", "tail_ms", "download_ms", "decode_ms", "total_ms", "up_bytes", "down_bytes")


#: the per-stage columns; ``other_ms`` = total − their sum: the page's own scheduling
#: (fetch() → request sent, response end → promise resolved, on the throttled main thread)
#: and the server's work outside ``server_ms`` (body read, tensor decode, executor hop).
STAGES = ("head_ms", "encode_ms", "upload_ms", "tail_ms", "download_ms", "decode_ms")

#: heads whose fp32 weights exceed this travel as the uint8 TF.js variant (kernels and biases
#: affine-quantised, see export.UINT8_PATTERNS): AlexNet's fc6/fc7 heads and device-only
#: AlexNet (250 MB fp32 → ~62 MB) — the browser would otherwise fetch a quarter gigabyte.
HEAD_FP32_MAX_BYTES = 64 * 1024 * 1024
PROBE_MAX_BYTES = 16 * 1024 * 1024
#: round-robin execution keeps every head in the page at once: only when their fp32 weights
#: (TF.js holds float32 even for uint8 downloads) fit in this
INTERLEAVE_MAX_BYTES = 256 * 1024 * 1024
INPUT_NOTE = "uniform[0,1) random input, seed 0 (synthetic; latency does not depend on pixel values)"


# ----------------------------------------------------------------------------- artifacts


def cache_root(ctx: Any = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where models and exported heads are cached: ``cache_dir``, else ``<ctx.artifacts_dir>/split``,
    else ``data/processed/split`` in the project."""
    if cache_dir is not None:
        return Path(cache_dir)
    if ctx is not None:
        return Path(ctx.artifacts_dir) / "split"
    from .utils import project_root

    return project_root() / "data" / "processed" / "split"


def _save_h5(model: Any, path: Path) -> Path:
    """tf_keras picks the format from the suffix, so write ``<tmpdir>/m.h5`` and rename (atomic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".h5-", dir=path.parent) as td:
        tmp = Path(td) / "m.h5"
        model.save(tmp, include_optimizer=False)
        os.replace(tmp, path)
    return path


def model_h5(model: str, ctx: Any = None, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The ``.h5`` a split experiment runs: the trained emotion CNN of ``ctx`` when valid, else
    the architecture with seeded (0) fresh weights, built once and cached."""
    if model not in MODELS:
        raise InputError(f"model must be one of {', '.join(MODELS)}; got {model!r}")
    if model == "emotion_cnn" and ctx is not None:
        from . import train

        p = train.default_model_path(ctx)
        if train.is_valid(p, ctx.data_label):
            return p
    p = cache_root(ctx, cache_dir) / f"{model}_fresh_seed0.h5"
    if not p.is_file():
        import tf_keras as keras

        from . import models

        keras.utils.set_random_seed(0)
        m = models.emotion_cnn() if model == "emotion_cnn" else models.alexnet()
        log.info("building %s with fresh seeded weights → %s", model, p)
        _save_h5(m, p)
    return p


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
    from . import export, models

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
    from . import export
    from .utils import sha256_file

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
        export.export_tfjs(sub, d, "none" if variant == "fp32" else "uint8",
                           extra={"split_head": {"layer": cut.layer, "mode": cut.mode, "h5_sha256_10": digest}})
    size = sum(p.stat().st_size for p in d.iterdir() if p.is_file() and p.name != "manifest.json")
    cut.params = params
    return {"name": name, "variant": variant, "dir": str(d), "params": params, "bytes": size}


_sha_cache: dict[tuple[str, int, int], str] = {}


def example_input(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """The input every executed rep uses: ``1×shape`` uniform [0, 1) float32 from ``seed``
    (:data:`INPUT_NOTE`); tests recompute it to compare with the full model."""
    return np.random.default_rng(seed).random((1, *shape), dtype=np.float32)


# ----------------------------------------------------------------------------- server


def add_probe_routes(app: Any) -> None:
    """``POST /probe/upload`` (reads and counts the body) and ``GET /probe/download?bytes=N``
    (N zero bytes, N ≤ 16 MiB): what :func:`hybridlib.devices.measure_link` times."""
    from aiohttp import web

    async def upload(request: web.Request) -> web.Response:
        n = len(await request.read())
        return web.json_response({"bytes": n})

    async def download(request: web.Request) -> web.Response:
        try:
            n = int(request.query.get("bytes", "0"))
        except ValueError:
            raise web.HTTPBadRequest(text=json.dumps({"error": "bytes must be an integer"}),
                                     content_type="application/json") from None
        if not 0 <= n <= PROBE_MAX_BYTES:
            raise web.HTTPBadRequest(text=json.dumps({"error": f"bytes must be in 0..{PROBE_MAX_BYTES}"}),
                                     content_type="application/json")
        return web.Response(body=bytes(n), content_type="application/octet-stream",
                            headers={"Cache-Control": "no-store"})

    app.router.add_post("/probe/upload", upload)
    app.router.add_get("/probe/download", download)


def _init_tf_pools() -> None:
    """Initialise TF in this process before cloud mode can pin it to one thread: the server
    side of a split is native TF on all cores (cloud.setup_cloud keeps pools already set up)."""
    import tensorflow as tf

    _ = tf.constant(1.0) + 1.0


@contextlib.contextmanager
def split_server(model_path: str | os.PathLike[str], heads_dir: str | os.PathLike[str], load: str = "idle",
                 cloud_model: str | os.PathLike[str] | None = None, host: str = "127.0.0.1",
                 max_sessions: int = 8) -> Iterator[tuple[str, Any]]:
    """The real aiohttp app (:func:`hybridlib.serve.make_app`) in a background thread.

    ``/split`` tails come from ``model_path``; ``heads_dir`` is served as ``/model/<head>/``.
    ``load="loaded"`` makes it a cloud-mode server too (``POST /offer`` for the background
    users), whose classifier is ``cloud_model`` (the emotion CNN: cloud users send faces).
    Yields ``(base_url, app)``.
    """
    from . import serve

    if load not in LOADS:
        raise InputError(f"load must be one of {', '.join(LOADS)}; got {load!r}")
    Path(heads_dir).mkdir(parents=True, exist_ok=True)
    _init_tf_pools()
    if load == "loaded":
        app = serve.make_app("cloud", model_path=cloud_model or model_path, models_dir=heads_dir,
                             max_sessions=max_sessions)
        with warnings.catch_warnings():  # serve's string app keys are the contract
            warnings.simplefilter("ignore")
            app["tail_runner"] = serve.TailRunner(Path(model_path))
    else:
        app = serve.make_app("hybrid", model_path=model_path, models_dir=heads_dir)
    add_probe_routes(app)
    with serve.run_in_thread(app, host=host) as url:
        yield url, app


def post_split(url: str, layer: str, x: np.ndarray, dtype: str = "float32", codec: str = "none",
               timeout_s: float = 120.0) -> dict[str, Any]:
    """POST one tensor to ``/split/<layer>`` from Python (probes, tests); returns the JSON answer."""
    import urllib.request

    from .serve import encode_tensor

    body, headers = encode_tensor(x, dtype, codec)
    req = urllib.request.Request(f"{url}/split/{layer}", data=body, method="POST",
                                 headers={**headers, "Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(req, timeout=timeout_s) as r:
        return json.loads(r.read())


def probe_tail_ms(url: str, layer: str, x: np.ndarray, n: int = 7) -> dict[str, Any]:
    """Median ``server_ms`` of ``n`` ``/split/<layer>`` calls (after one untimed call)."""
    post_split(url, layer, x)
    ts = [float(post_split(url, layer, x)["server_ms"]) for _ in range(n)]
    return {"median_ms": statistics.median(ts), "ms_all": ts}


class BackgroundLoad:
    """``users`` cloud-mode WebRTC users (:mod:`hybridlib.load`) in one spawned process against
    ``url``; each round is bounded (``round_s``) and :meth:`ensure` starts a new round when
    the last one ended. :meth:`stop` terminates the process this object started."""

    def __init__(self, url: str, users: int = 2, fps: int = 10, size: tuple[int, int] = (320, 240),
                 round_s: float = 120.0) -> None:
        from . import load

        if not 1 <= users <= 8:
            raise InputError(f"background users must be in 1..8 (a bounded load), got {users}")
        load._check_url(url)
        self.url, self.users, self.fps, self.size = url, users, fps, tuple(size)
        self.round_s = min(float(round_s), load.MAX_DURATION_S)
        self.proc: Any = None
        self.rounds = 0

    def ensure(self, settle_s: float = 2.0, timeout_s: float = 90.0) -> dict[str, Any]:
        """Start a round unless one runs; return once the server's ``/metrics`` shows the
        users' frames arriving (a load that never reached the server raises, never passes
        silently as "loaded")."""
        import multiprocessing as mp

        from . import load
        from .utils import HybridlibError

        if self.proc is not None and self.proc.is_alive():
            return _cloud_metrics(self.url)
        before = _cloud_metrics(self.url).get("frames_in", 0) or 0
        self.proc = mp.get_context("spawn").Process(
            target=load._worker, args=("cloud", self.url, self.users, self.round_s, self.fps, self.size, 0.2),
            daemon=True, name="hl-split-load")
        self.proc.start()
        self.rounds += 1
        t_end = time.monotonic() + timeout_s
        while True:
            m = _cloud_metrics(self.url)
            if (m.get("sessions") or 0) >= 1 and (m.get("frames_in") or 0) > before:
                break
            if not self.proc.is_alive():
                raise HybridlibError(f"background load process exited (code {self.proc.exitcode}) before any "
                                     "frame reached the server; from a script, guard it with "
                                     "`if __name__ == '__main__':` (multiprocessing spawn)")
            if time.monotonic() > t_end:
                self.stop()
                raise HybridlibError(f"background users sent no frames to {self.url} within {timeout_s:.0f} s")
            time.sleep(0.5)
        time.sleep(settle_s)  # let all peers connect and the rate settle
        return _cloud_metrics(self.url)

    def stop(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(10)
            if self.proc.is_alive():
                self.proc.kill()
                self.proc.join(5)
        self.proc = None

    def __enter__(self) -> BackgroundLoad:
        self.ensure()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()


def measure_load_factor(url: str, layer: str, x: np.ndarray, background: BackgroundLoad,
                        n: int = 9, leave_running: bool = True) -> dict[str, Any]:
    """Neurosurgeon-style: the server's tail ms with the background load ÷ without it.

    Probes ``/split/<layer>`` (use the input layer: the whole model, the engine's
    ``cloud_ms``) idle, under ``background``, and idle again after stopping it; the factor is
    loaded ÷ the mean of the two idle medians, so a drift in foreign load on a shared machine
    (measured here: idle medians of 30–70 ms for a ~5 ms model) biases it less. The load is
    started again afterwards when ``leave_running``.
    """
    if background.proc is not None and background.proc.is_alive():
        background.stop()
        time.sleep(1.0)
    idle1 = probe_tail_ms(url, layer, x, n)
    m = background.ensure()
    loaded = probe_tail_ms(url, layer, x, n)
    background.stop()
    time.sleep(1.0)
    idle2 = probe_tail_ms(url, layer, x, n)
    idle = (idle1["median_ms"] + idle2["median_ms"]) / 2
    f = loaded["median_ms"] / idle if idle > 0 else float("nan")
    if leave_running:
        background.ensure()
    return {"layer": layer, "idle_ms": idle, "loaded_ms": loaded["median_ms"], "load_factor": f,
            "idle_before_ms": idle1["median_ms"], "idle_after_ms": idle2["median_ms"],
            "users": background.users, "fps": background.fps, "size": list(background.size),
            "sessions_seen": m.get("sessions"), "idle_all": idle1["ms_all"] + idle2["ms_all"],
            "loaded_all": loaded["ms_all"]}


def _cloud_metrics(url: str) -> dict[str, Any]:
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
            return json.loads(r.read())
    except Exception:  # noqa: BLE001 - metrics are provenance only
        return {}


# ----------------------------------------------------------------------------- execution


def _check_args(model: str, device: str, network: str, load: str, repeats: int, warmup: int, dtype: str,
                codec: str) -> None:
    from . import devices

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
                 load_users: int = 2, seed: int = 0, interleave: bool | None = None) -> pd.DataFrame:
    """:func:`execute` for every device class × network, sharing one server, browser and page.

    Each head is downloaded once and run under every condition (cut outer, conditions inner),
    which saves the start-up per condition. ``df.attrs["device"][name]``,
    ``df.attrs["network"][network]`` and ``df.attrs["link"][network]`` hold the read-backs per
    condition (:func:`execute` returns them flat).
    """
    from .browser import run_sync

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
                    codec, ctx, cache_dir, readback, shaper, load_users, seed, interleave)


@contextlib.contextmanager
def _launch(executable: str | None) -> Iterator[Any]:
    """Chromium (no camera) like :func:`hybridlib.browser.launch`, optionally another binary
    (the tc shaper's in-namespace wrapper)."""
    from playwright.sync_api import sync_playwright

    from .browser import CHROMIUM_FLAGS, chromium_path

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
                  shaper: str, load_users: int, seed: int, interleave: bool | None) -> pd.DataFrame:
    import pandas as pd

    from . import devices
    from .browser import f32_to_b64

    devs = [devices.get_device(d) for d in device_names]
    nets = [devices.network_conditions(n) for n in networks]
    root = cache_root(ctx, cache_dir)
    h5 = model_h5(model, ctx, root)
    from . import export

    km = export.load_model(h5)
    resolved = resolve_cuts(km, cuts)
    heads_dir = root / "heads"
    heads = {c.cut: ensure_head(km, h5, c, heads_dir) for c in resolved}
    x = example_input(tuple(int(d) for d in km.input_shape[1:]), seed)
    cloud_h5 = model_h5("emotion_cnn", ctx, root) if load == "loaded" else None
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
        url, _app = stack.enter_context(split_server(h5, heads_dir, load=load, cloud_model=cloud_h5, host=host))
        bg: BackgroundLoad | None = None
        if load == "loaded":
            bg = BackgroundLoad(url, users=load_users)
            stack.callback(bg.stop)
            load_info = {**measure_load_factor(url, input_layer, x, bg), "measured": True}
            log.info("load factor %.2f (%s users)", load_info["load_factor"], load_users)
        bctx = stack.enter_context(_launch(wrapper if tc else None))
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
        if inter:
            # every head in memory at once; each round runs every cut once, starting one cut
            # later each round, so a burst of foreign load spreads over cuts (profile.round_robin)
            for c in resolved:
                load_head(c)
            for d in devs:
                devices.apply_device(cdp, d)
                for n in nets:
                    applied = shape(n)
                    if bg is not None:
                        bg.ensure()
                    for rep in range(warmup + repeats):
                        k = rep % len(resolved)
                        for c in resolved[k:] + resolved[:k]:
                            run(c, d, n, applied, rep)
            for c in resolved:
                unload_head(c)
        else:  # big heads (AlexNet fc): one at a time
            for c in resolved:
                load_head(c)
                for d in devs:
                    devices.apply_device(cdp, d)
                    for n in nets:
                        applied = shape(n)
                        if bg is not None:
                            bg.ensure()
                        for rep in range(warmup + repeats):
                            run(c, d, n, applied, rep)
                unload_head(c)
        backend = page.evaluate("() => hlSplit.backend")
        if backend != "wasm":
            log.warning("TF.js backend is %s, not wasm", backend)
        if bg is not None:
            end = probe_tail_ms(url, input_layer, x, 5)  # the load seen while the cuts ran, probed again
            load_info["loaded_ms_end"] = end["median_ms"]
            load_info["metrics"] = _cloud_metrics(url)
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
