"""The server side of an executed split: the real aiohttp app with probe routes, ``/split`` posts
from Python, a background of cloud-mode users and the measured load factor.

Why: :mod:`hybridlib.study.split.execute` drives the page; the server it talks to (and how loaded it
is) is a separate concept, reused by :mod:`hybridlib.serving.splitmode` (probe routes).
"""
from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import statistics
import time
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from hybridlib.serving import app as serve
from hybridlib.serving.http import encode_tensor
from hybridlib.serving.probe import add_probe_routes
from hybridlib.serving.tails import TailRunner
from hybridlib.study import load
from hybridlib.utils import HybridlibError, InputError

log = logging.getLogger(__name__)

LOADS = ("idle", "loaded")


# ----------------------------------------------------------------------------- server


def init_tf_pools() -> None:
    """Initialise TF in this process before cloud mode can pin it to one thread: the server
    side of a split is native TF on all cores (cloud.setup_cloud keeps pools already set up)."""
    import tensorflow as tf

    _ = tf.constant(1.0) + 1.0


@contextlib.contextmanager
def split_server(model_path: str | os.PathLike[str], heads_dir: str | os.PathLike[str], load: str = "idle",
                 cloud_model: str | os.PathLike[str] | None = None, host: str = "127.0.0.1",
                 max_sessions: int = 8, model: Any = None) -> Iterator[tuple[str, Any]]:
    """The real aiohttp app (:func:`hybridlib.serving.app.make_app`) in a background thread.

    ``/split`` tails come from ``model_path``; ``heads_dir`` is served as ``/model/<head>/``.
    ``load="loaded"`` makes it a cloud-mode server too (``POST /offer`` for the background
    users), whose classifier is ``cloud_model`` (the emotion CNN: cloud users send faces).
    ``model``: ``model_path`` already loaded (the tails are cut from it instead of loading the
    file again). Yields ``(base_url, app)``.
    """

    if load not in LOADS:
        raise InputError(f"load must be one of {', '.join(LOADS)}; got {load!r}")
    Path(heads_dir).mkdir(parents=True, exist_ok=True)
    init_tf_pools()
    if load == "loaded":
        app = serve.make_app("cloud", model_path=cloud_model or model_path, models_dir=heads_dir,
                             max_sessions=max_sessions)
        with warnings.catch_warnings():  # serve's string app keys are the contract
            warnings.simplefilter("ignore")
            app["tail_runner"] = TailRunner(Path(model_path), model=model)
    else:
        app = serve.make_app("hybrid", model_path=model_path, models_dir=heads_dir)
        if model is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                app["tail_runner"] = TailRunner(Path(model_path), model=model)
    add_probe_routes(app)
    with serve.run_in_thread(app, host=host) as url:
        yield url, app


def post_split(url: str, layer: str, x: np.ndarray, dtype: str = "float32", codec: str = "none",
               timeout_s: float = 120.0) -> dict[str, Any]:
    """POST one tensor to ``/split/<layer>`` from Python (probes, tests); returns the JSON answer."""


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
    """``users`` cloud-mode WebRTC users (:mod:`hybridlib.study.load`) in one spawned process against
    ``url``; each round is bounded (``round_s``) and :meth:`ensure` starts a new round when
    the last one ended. :meth:`stop` terminates the process this object started."""

    def __init__(self, url: str, users: int = 2, fps: int = 10, size: tuple[int, int] = (320, 240),
                 round_s: float = 120.0) -> None:
        if not 1 <= users <= 8:
            raise InputError(f"background users must be in 1..8 (a bounded load), got {users}")
        load.check_url(url)
        self.url, self.users, self.fps, self.size = url, users, fps, tuple(size)
        self.round_s = min(float(round_s), load.MAX_DURATION_S)
        self.proc: Any = None
        self.rounds = 0

    def ensure(self, settle_s: float = 2.0, timeout_s: float = 90.0) -> dict[str, Any]:
        """Start a round unless one runs; return once the server's ``/metrics`` shows the
        users' frames arriving (a load that never reached the server raises, never passes
        silently as "loaded")."""


        if self.proc is not None and self.proc.is_alive():
            return cloud_metrics(self.url)
        before = cloud_metrics(self.url).get("frames_in", 0) or 0
        self.proc = mp.get_context("spawn").Process(
            target=load.user_worker, args=("cloud", self.url, self.users, self.round_s, self.fps, self.size, 0.2),
            daemon=True, name="hl-split-load")
        self.proc.start()
        self.rounds += 1
        t_end = time.monotonic() + timeout_s
        while True:
            m = cloud_metrics(self.url)
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
        return cloud_metrics(self.url)

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


def cloud_metrics(url: str) -> dict[str, Any]:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as r:
            return json.loads(r.read())
    except Exception:  # noqa: BLE001 - metrics are provenance only
        return {}

