"""The aiohttp app over real HTTP on a loopback port: routes, /split, errors as JSON 4xx."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import numpy as np
import pytest

from hybridlib.serving import app as serve

from hybridlib.serving import http as serve_http
from hybridlib.data import CLASS_NAMES
from hybridlib.utils import InputError


def _req(url: str, data: bytes | None = None, headers: dict | None = None, method: str | None = None):
    r = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(r, timeout=60) as f:
            return f.status, dict(f.headers), f.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def test_pages_config_health(hybrid_url):
    s, h, b = _req(hybrid_url + "/")
    assert s == 200 and b"<title>hybridlib" in b and h["Content-Type"].startswith("text/html")
    for f in ("app.js", "style.css"):
        assert _req(f"{hybrid_url}/{f}")[0] == 200
    cfg = json.loads(_req(hybrid_url + "/config")[2])
    assert cfg["mode"] == "hybrid" and cfg["class_names"] == list(CLASS_NAMES)
    assert [v["name"] for v in cfg["variants"]] == ["fp32", "float16", "uint8"]
    assert cfg["input"]["shape"] == [48, 48, 1] and cfg["default_variant"] == "fp32"
    assert json.loads(_req(hybrid_url + "/healthz")[2])["ok"] is True


def test_vendor_whitelist_and_no_traversal(hybrid_url):
    s, h, b = _req(hybrid_url + "/vendor/tfjs-backend-wasm/tfjs-backend-wasm-simd.wasm")
    assert s == 200 and h["Content-Type"] == "application/wasm" and b[:4] == b"\0asm"
    assert _req(hybrid_url + "/vendor/face-api-model/tiny_face_detector_model.bin")[0] == 200
    for bad in ("/vendor/tfjs/package.json", "/vendor/tfjs/..%2F..%2F..%2Fpackage.json",
                "/vendor/../pyproject.toml", "/vendor/face-api-model/age_gender_model.bin",
                "/model/..%2F..%2Fetc/passwd", "/model/fp32/..%2Fmanifest.json", "/%2e%2e/pyproject.toml"):
        s, h, b = _req(hybrid_url + bad)
        assert s == 404, bad
        assert "error" in json.loads(b)


def test_model_files_served(hybrid_url, tfjs_variants):
    mj = json.loads(_req(hybrid_url + "/model/uint8/model.json")[2])
    for g in mj["weightsManifest"]:
        for p in g["paths"]:
            s, _, b = _req(f"{hybrid_url}/model/uint8/{p}")
            assert s == 200 and b == (tfjs_variants / "uint8" / p).read_bytes()
    assert _req(hybrid_url + "/model/int4/model.json")[0] == 404


@pytest.fixture(scope="module")
def tail_ref(untrained_h5):
    from hybridlib import export

    sp = export.split_model(untrained_h5, "pool2")
    x = np.random.default_rng(3).random((2, 12, 12, 64)).astype("float32")
    return x, np.asarray(sp.tail(x, training=False))


@pytest.mark.parametrize("dtype,codec,tol", [("float32", "none", 1e-6), ("float32", "zstd", 1e-6),
                                             ("float16", "lz4", 1e-3), ("uint8", "zlib", 2e-2)])
def test_split_runs_the_tail(hybrid_url, tail_ref, dtype, codec, tol):
    x, ref = tail_ref
    body, headers = serve_http.encode_tensor(x, dtype, codec)
    s, _, b = _req(hybrid_url + "/split/pool2", body, headers)
    assert s == 200, b
    out = json.loads(b)
    got = np.array([[r["probs"][c] for c in CLASS_NAMES] for r in out["batch"]])
    assert np.abs(got - ref).max() <= tol
    assert out["emotion"] == CLASS_NAMES[int(ref[0].argmax())] or dtype != "float32"
    assert out["layer"] == "pool2" and out["server_ms"] >= 0


def test_split_by_index(hybrid_url, tail_ref, untrained_h5):
    from hybridlib import export

    idx = [l.name for l in export.load_model(untrained_h5).layers].index("pool2")
    x, ref = tail_ref
    body, headers = serve_http.encode_tensor(x[:1])
    s, _, b = _req(f"{hybrid_url}/split/{idx}", body, headers)
    assert s == 200 and json.loads(b)["layer"] == "pool2"


def test_bad_requests_are_json_4xx(hybrid_url):
    x = np.zeros((1, 12, 12, 64), np.float32)
    body, h = serve_http.encode_tensor(x)
    nan = x.copy()
    nan[0, 1, 2, 3] = np.inf
    cases = [
        ("/split/pool2", body, {**h, "X-Shape": "1,12,12,32"}, "X-Shape"),
        ("/split/pool2", body, {**h, "X-Shape": "a,b"}, "X-Shape"),
        ("/split/pool2", body, {k: v for k, v in h.items() if k != "X-Shape"}, "X-Shape"),
        ("/split/pool2", body, {**h, "X-Dtype": "float64"}, "X-Dtype"),
        ("/split/pool2", body, {**h, "X-Codec": "gzip"}, "X-Codec"),
        ("/split/pool2", body[:100], h, "bytes"),
        ("/split/pool2", b"junk", {**h, "X-Codec": "lz4"}, "lz4"),
        ("/split/pool2", nan.astype("<f4").tobytes(), h, "NaN"),  # the encoder refuses NaN itself
        ("/split/pool2", serve_http.encode_tensor(x, "uint8")[0], {**h, "X-Dtype": "uint8"}, "X-Scale"),
        ("/split/no_such_layer", body, h, "no_such_layer"),
        ("/split/predictions", body, h, "output"),
        ("/split/incept3_b1x1", body, h, "tensors"),
        ("/split/999", body, h, "out of range"),
    ]
    for path, data, headers, needle in cases:
        s, rh, b = _req(hybrid_url + path, data, headers)
        assert 400 <= s < 500, (path, headers, s, b)
        assert rh["Content-Type"].startswith("application/json")
        assert needle in json.loads(b)["error"], (needle, b)
    # wrong method, unknown route: JSON too
    s, _, b = _req(hybrid_url + "/split/pool2")
    assert s == 405 and "error" in json.loads(b)
    s, _, b = _req(hybrid_url + "/nope.html")
    assert s == 404 and "error" in json.loads(b)


def test_oversized_body_is_413(hybrid_url):
    big = b"\0" * (serve_http.MAX_SPLIT_BODY + 1024)
    s, _, b = _req(hybrid_url + "/split/pool2", big, {"X-Shape": "1,12,12,64", "X-Dtype": "float32"})
    assert s == 413 and "error" in json.loads(b)


def test_metrics_count_split_traffic(hybrid_url, tail_ref):
    before = json.loads(_req(hybrid_url + "/metrics")[2])
    body, h = serve_http.encode_tensor(tail_ref[0][:1])
    _req(hybrid_url + "/split/pool2", body, h)
    _req(hybrid_url + "/split/pool2", body, {**h, "X-Dtype": "bogus"})
    m = json.loads(_req(hybrid_url + "/metrics")[2])
    assert m["split_requests"] == before["split_requests"] + 2
    assert m["split_errors"] == before["split_errors"] + 1
    assert m["bytes_in"] >= before["bytes_in"] + len(body)
    assert m["split_ms_p50"] is not None and m["mode"] == "hybrid"


def test_metrics_providers_are_merged(untrained_h5, tfjs_variants):
    app = serve.make_app("hybrid", model_path=untrained_h5, models_dir=tfjs_variants)
    app["metrics_providers"].append(lambda: {"sessions": 3, "frames_in": 7})
    app["metrics_providers"].append(lambda: 1 / 0)  # a broken provider must not break /metrics
    with serve.run_in_thread(app) as url:
        m = json.loads(_req(url + "/metrics")[2])
    assert m["sessions"] == 3 and m["frames_in"] == 7


def test_make_app_rejects_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="mode"):
        serve.make_app("edge")
    with pytest.raises(InputError, match="missing.h5"):
        serve.make_app("hybrid", model_path=tmp_path / "missing.h5")
    with pytest.raises(InputError, match="max_sessions"):
        serve.make_app("hybrid", max_sessions=0)


def test_split_without_model_is_400(tfjs_variants):
    app = serve.make_app("hybrid", models_dir=tfjs_variants)
    with serve.run_in_thread(app) as url:
        body, h = serve_http.encode_tensor(np.zeros((1, 12, 12, 64), np.float32))
        s, _, b = _req(url + "/split/pool2", body, h)
        assert s == 400 and "--model" in json.loads(b)["error"]
        # no model variants at all → /config says so (the page then shows "model failed")
    app2 = serve.make_app("hybrid")
    with serve.run_in_thread(app2) as url:
        cfg = json.loads(_req(url + "/config")[2])
        assert cfg["variants"] == [] and cfg["default_variant"] is None
