"""``hybridlib serve`` as its own process on 127.0.0.1, with a psutil sampler of its CPU (children
included) so the server's cost is measured alone.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from hybridlib.study.load.limits import HOST


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    url: str
    mode: str
    pipeline: str
    backend: str = "inprocess"
    startup_s: float = 0.0  # spawn → first 200 on /healthz (for --backend ray: Ray + Serve up)

    def cpu_sample(self) -> tuple[float, float, float]:
        """(wall, CPU-seconds of the server and its children so far, RSS MB)."""

        t = time.time()
        try:
            p = psutil.Process(self.proc.pid)
            procs = [p] + p.children(recursive=True)
        except psutil.NoSuchProcess:
            return t, 0.0, 0.0
        cpu = rss = 0.0
        for q in procs:
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                c = q.cpu_times()
                cpu += c.user + c.system
                rss += q.memory_info().rss / 2 ** 20
        return t, cpu, rss

    def healthz(self) -> bool:
        """Whether the server answers ``GET /healthz`` with 200 now (and its process lives)."""

        if self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{self.url}/healthz", timeout=10) as r:
                return r.status == 200
        except Exception:  # noqa: BLE001 - any failure means "not up"
            return False

    def wait_idle(self, timeout_s: float = 60.0) -> float:
        """Wait until the server reports no open session (``/metrics`` ``sessions == 0``);
        returns the seconds waited. Why: a server that fell behind (the seed pipeline) keeps
        working off queued frames after its users left; the next step must not pay for them.
        A server too busy to answer ``/metrics`` is not idle: keep asking until the timeout."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout_s and self.proc.poll() is None:
            m = self._fetch_metrics(timeout_s=10)
            if m is not None and not m.get("sessions"):
                break
            time.sleep(0.25)
        return time.perf_counter() - t0

    def end_sessions(self) -> bool:
        """Tell the server its open sessions' users have left (``SIGUSR1``, see
        ``hybridlib.serving.cloud.install_end_signal``): a seed server drops its queued frames
        instead of working them off for tens of seconds, answering nobody. Send it only once
        the step's users have all hung up, so the step itself is untouched."""

        if not hasattr(signal, "SIGUSR1") or self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGUSR1)
        return True

    def metrics(self, timeout_s: float = 30.0) -> dict:
        """The cloud provider's ``/metrics`` dict ({} when the server does not answer)."""
        return self._fetch_metrics(timeout_s) or {}

    def _fetch_metrics(self, timeout_s: float) -> dict | None:
        try:
            with urllib.request.urlopen(f"{self.url}/metrics", timeout=timeout_s) as r:
                d = json.loads(r.read())
        except Exception:
            return None
        # serve's /metrics may nest providers' dicts; find the cloud one
        if isinstance(d, dict) and "frames_dropped" not in d:
            for v in d.values():
                if isinstance(v, dict) and "frames_dropped" in v:
                    return v
        return d if isinstance(d, dict) else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _serve_cmd(mode: str, port: int, model_path: Path | None, max_sessions: int, pipeline: str,
               models_dir: Path | None, backend: str = "inprocess", ray_address: str | None = None) -> list[str]:
    """The ``hybridlib serve`` command line for one load run (the real server, in its own process)."""
    cmd = [sys.executable, "-m", "hybridlib.cli", "serve", "--mode", mode, "--host", HOST,
           "--port", str(port), "--max-sessions", str(max_sessions)]
    if model_path is not None:
        cmd += ["--model", str(model_path)]
    if models_dir is not None:
        cmd += ["--models-dir", str(models_dir)]
    if mode == "cloud":
        cmd += ["--pipeline", pipeline]
        if backend != "inprocess":
            cmd += ["--backend", backend]
        if ray_address:
            cmd += ["--ray-address", ray_address]
    return cmd


@contextlib.contextmanager
def server(mode: str, model_path: str | Path | None = None, max_sessions: int = 8,
           pipeline: str = "ours", models_dir: str | Path | None = None,
           startup_timeout_s: float = 120.0, log_path: str | Path | None = None,
           backend: str = "inprocess", ray_address: str | None = None,
           serve_args: Sequence[str] = ()) -> Iterator[ServerProcess]:
    """Start ``hybridlib serve`` on a free loopback port as a separate process; stop it after.

    ``backend="ray"`` without ``ray_address``: the server starts its own local Ray, so every Ray
    process is its descendant and :meth:`ServerProcess.cpu_sample` counts their CPU too.
    ``serve_args``: more ``hybridlib serve`` options, appended as given."""

    port = _free_port()
    cmd = _serve_cmd(mode, port, Path(model_path) if model_path else None, max_sessions, pipeline,
                     Path(models_dir) if models_dir else None, backend, ray_address) + list(serve_args)
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    logf = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT if log_path else subprocess.DEVNULL,
                            env=env)
    url = f"http://{HOST}:{port}"
    t_spawn = time.perf_counter()
    try:
        t_end = time.time() + startup_timeout_s
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with code {proc.returncode}: {' '.join(cmd)}")
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            if time.time() > t_end:
                raise RuntimeError(f"server did not answer /healthz in {startup_timeout_s}s")
            time.sleep(0.3)
        yield ServerProcess(proc, url, mode, pipeline, backend, round(time.perf_counter() - t_spawn, 2))
    finally:
        proc.terminate()
        try:
            proc.wait(30 if backend == "ray" else 15)  # ray: serve.shutdown + ray.shutdown first
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if log_path:
            logf.close()
