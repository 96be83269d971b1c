"""Every file-serving route stays inside its folder: ``..`` raw and percent-encoded, encoded
slashes and backslashes, absolute paths, NUL, and symlinks that point outside → 404 JSON.

A real aiohttp app (hybrid mode, no Keras model, so no TensorFlow) on a loopback port, and the
Playwright harness's static server; requests go through ``http.client`` so the path reaches
the server byte for byte (no client-side normalisation of ``..``).
"""
from __future__ import annotations

import http.client
import json
import shutil
from urllib.parse import urlsplit

import pytest

from hybridlib import browser
from hybridlib.serving import app as serve
from hybridlib.serving import http as serve_http

SECRET = b"KERAS-H5-SECRET-BYTES"


def _get(url: str, path: str) -> tuple[int, str, bytes]:
    u = urlsplit(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
    try:
        c.putrequest("GET", path, skip_host=False, skip_accept_encoding=True)
        c.endheaders()
        r = c.getresponse()
        return r.status, r.getheader("Content-Type", ""), r.read()
    finally:
        c.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """``root/emotion_cnn.h5`` (the secret) beside ``root/emotion_cnn_tfjs/<variant>/``, a copy
    of the web folder with a link out, and links inside and outside the models folder."""
    root = tmp_path_factory.mktemp("site")
    (root / "emotion_cnn.h5").write_bytes(SECRET)
    md = root / "emotion_cnn_tfjs"
    (md / "fp32").mkdir(parents=True)
    (md / "fp32" / "model.json").write_text('{"format": "layers-model"}')
    (md / "fp32" / "group1-shard1of1.bin").write_bytes(b"\1\2\3\4")
    (md / "fp32" / "leak.bin").symlink_to(root / "emotion_cnn.h5")          # file link out
    (md / "fp32" / "alias.json").symlink_to(md / "fp32" / "model.json")     # link inside: fine
    outside = root / "outside"
    outside.mkdir()
    (outside / "model.json").write_bytes(SECRET)
    (md / "evil").symlink_to(outside, target_is_directory=True)             # variant dir link out
    web = root / "web"
    shutil.copytree(serve.WEB_DIR, web)
    (web / "leak.js").symlink_to(root / "emotion_cnn.h5")
    app = serve.make_app("hybrid", models_dir=md, web_dir=web)
    with serve.run_in_thread(app) as url:
        yield url, root, md, web


BAD_PATHS = [
    "/model/../emotion_cnn.h5",
    "/model/%2E%2E/emotion_cnn.h5",
    "/model/%2e%2e/emotion_cnn.h5",
    "/model/fp32/../../emotion_cnn.h5",
    "/model/fp32/..%2F..%2Femotion_cnn.h5",
    "/model/fp32/%2e%2e%2f%2e%2e%2femotion_cnn.h5",
    "/model/fp32/%2E%2E%2F%2E%2E%2Femotion_cnn.h5",
    "/model/%2e%2e%2f%2e%2e/emotion_cnn.h5",
    "/model/fp32/..%5C..%5Cemotion_cnn.h5",
    "/model/fp32/%2Fetc%2Fpasswd",
    "/model/fp32//etc/passwd",
    "/model/fp32/model.json%00.txt",
    "/model/fp32/leak.bin",
    "/model/evil/model.json",
    "/model/./fp32/model.json",
    "/model/fp32/.",
    "/%2e%2e/pyproject.toml",
    "/%2E%2E%2Fpyproject.toml",
    "/..%2F..%2Fpyproject.toml",
    "/../../pyproject.toml",
    "/%2Fetc%2Fpasswd",
    "/leak.js",
    "/vendor/../pyproject.toml",
    "/vendor/tfjs/..%2F..%2F..%2Fpackage.json",
    "/vendor/tfjs/%2e%2e%2fpackage.json",
    "/vendor/tfjs/package.json",
    "/vendor/%2Fetc%2Fpasswd",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_traversal_is_404_json(site, path):
    url = site[0]
    status, ctype, body = _get(url, path)
    assert status == 404, (path, status, body[:200])
    assert ctype.startswith("application/json") and isinstance(json.loads(body)["error"], str)
    assert SECRET not in body and b"root:" not in body


def test_legitimate_files_still_served(site):
    url, _, md, web = site
    assert _get(url, "/model/fp32/model.json")[0] == 200
    s, _, b = _get(url, "/model/fp32/group1-shard1of1.bin")
    assert s == 200 and b == b"\1\2\3\4"
    s, _, b = _get(url, "/model/fp32/alias.json")  # a link that stays inside is fine
    assert s == 200 and b == (md / "fp32" / "model.json").read_bytes()
    s, _, b = _get(url, "/app.js")
    assert s == 200 and b == (web / "app.js").read_bytes()
    assert _get(url, "/")[0] == 200


def test_safe_file_resolves_then_checks_containment(site):
    _, root, md, _ = site
    assert serve_http.safe_file(md, "fp32", "model.json") == (md / "fp32" / "model.json").resolve()
    for parts in (("..", "emotion_cnn.h5"), ("fp32", "../../emotion_cnn.h5"), ("fp32", "leak.bin"),
                  ("evil", "model.json"), (str(root / "emotion_cnn.h5"),), ("fp32", "..\\x"),
                  ("fp32", "a\0b"), ("fp32",), ("", "fp32"), ("fp32", "missing.bin")):
        assert serve_http.safe_file(md, *parts) is None, parts


def test_harness_static_server_refuses_traversal(site):
    """The Playwright harness server (browser.serve_static) follows the same rule."""
    _, root, md, _ = site
    with browser.serve_static({"/model/full/": md / "fp32", "/": md}) as url:
        assert _get(url, "/model/full/model.json")[0] == 200
        for path in ("/model/full/../../emotion_cnn.h5", "/model/full/%2e%2e/%2e%2e/emotion_cnn.h5",
                     "/model/full/..%2F..%2Femotion_cnn.h5", "/model/full/leak.bin",
                     "/evil/model.json", "/model/full/%2Fetc%2Fpasswd", "/vendor/../../emotion_cnn.h5"):
            status, ctype, body = _get(url, path)
            assert status == 404 and SECRET not in body, path
            assert "error" in json.loads(body)


def test_vendor_file_refuses_a_whitelisted_name_that_links_out(tmp_path, monkeypatch):
    nm = tmp_path / "node_modules"
    prefix, (pkg_dir, names) = next(iter(browser.VENDOR.items()))
    d = nm / pkg_dir
    d.mkdir(parents=True)
    (tmp_path / "secret").write_bytes(SECRET)
    (d / names[0]).symlink_to(tmp_path / "secret")
    monkeypatch.setattr(browser, "node_modules", lambda: nm)
    assert browser.vendor_file(f"{prefix}/{names[0]}") is None
    (d / names[0]).unlink()
    (d / names[0]).write_bytes(b"ok")
    assert browser.vendor_file(f"{prefix}/{names[0]}") == (d / names[0]).resolve()
