"""Cross-origin isolation on every response: the page, its scripts, the wasm binaries, model
files, JSON answers and errors all carry COOP/COEP/CORP, so the page may use TF.js' threaded
wasm (SharedArrayBuffer needs an isolated page, and one response without the headers breaks it)."""
from __future__ import annotations

import urllib.error
import urllib.request

import numpy as np
import pytest

from hybridlib import wire
from hybridlib.serving import app as serve

pytestmark = pytest.mark.integration


def _headers(url: str, data: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, headers=headers or {}, method="POST" if data is not None else "GET")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers)


def test_every_route_sends_the_isolation_headers(untrained_h5, tmp_path):
    from hybridlib import export

    md = export.ensure_tfjs(untrained_h5)
    app = serve.make_app("hybrid", model_path=untrained_h5, models_dir=md)
    body, h = wire.encode(np.zeros((1, 3), np.float32))
    with serve.run_in_thread(app) as url:
        routes = [("/", None, None), ("/app.js", None, None), ("/style.css", None, None), ("/config", None, None),
                  ("/healthz", None, None), ("/metrics", None, None),
                  ("/vendor/tfjs-backend-wasm/tfjs-backend-wasm-threaded-simd.wasm", None, None),
                  ("/vendor/face-api/face-api.js", None, None), ("/model/fp32/model.json", None, None),
                  ("/no-such-file.js", None, None), ("/model/fp32/..%2F..%2Fetc", None, None),
                  ("/split/no_such_layer", body, h)]
        seen = {}
        for path, data, hh in routes:
            status, got = _headers(url + path, data, hh)
            seen[path] = status
            for k, v in serve.ISOLATION_HEADERS.items():
                assert got.get(k) == v, (path, status, k, got.get(k))
        assert seen["/"] == 200 and seen["/no-such-file.js"] == 404 and seen["/split/no_such_layer"] in (400, 404)


def test_isolation_can_be_switched_off_for_measurements(untrained_h5):
    app = serve.make_app("hybrid", model_path=untrained_h5, isolated=False)
    with serve.run_in_thread(app) as url:
        status, got = _headers(url + "/healthz")
    assert status == 200 and "Cross-Origin-Embedder-Policy" not in got
