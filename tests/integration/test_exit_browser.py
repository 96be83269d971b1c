"""Early exit executed in real headless Chromium:

* the branchy edge model + converter exported to TF.js give Keras' branch probabilities and
  converter features (before quantisation) within 1e-4 in fp32 — in the TF.js harness and
  through the benchmark page's ``hlSplit.stepExit`` (which also decides in the page);
* ``serve --mode exit``: the app answers at the edge when T = 1 (no /split request) and posts
  the converter's uint8 code to the server's tail when T = 0, showing bytes and stage times.
"""
from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from hybridlib import browser
from hybridlib.data import CLASS_NAMES

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]

WAIT_MS = 180_000
C = 4
TOL = 1e-4


@pytest.fixture(scope="module")
def exit_parts(untrained_h5: Path, work_dir: Path):
    """The real CNN (seeded weights), a converter C=4 at pool3 (seeded), its bundle (T = 0.5)."""
    from hybridlib import export
    from hybridlib.study.early_exit import converter, execute as exit_exec

    model = export.load_model(untrained_h5)
    head, tail = converter.split_trunk(model, "pool3")
    conv = converter.build(head, tail, "pool3", C, seed=1)
    # seeded weights give a near-uniform branch (entropies within 2e-4 of 1); sharpen its
    # softmax so inputs differ in confidence and a threshold can split them
    dense = conv.branch.get_layer("exit1_softmax")
    w, b = dense.get_weights()
    dense.set_weights([w * 300.0, b])
    bundle = exit_exec.save_bundle(model, conv, 0.5, work_dir / "exit_bundle")
    return model, conv, bundle


def _inputs(n: int = 8) -> np.ndarray:
    return np.random.default_rng(3).random((n, 48, 48, 1), dtype=np.float32)


def _keras_parts(conv, x):
    f = conv.head.predict(x, verbose=0)
    return conv.branch.predict(f, verbose=0), conv.encoder.predict(f, verbose=0)


def test_edge_model_tfjs_equals_keras(exit_parts):
    from hybridlib.study.early_exit import execute as exit_exec

    model, conv, bundle = exit_parts
    x = _inputs()
    p_ref, c_ref = _keras_parts(conv, x)
    meta = exit_exec.read_bundle(bundle)
    assert meta["cut"] == f"conv_enc{C}" and meta["code_shape"] == [6, 6, C]
    with browser.tfjs_session({"edge": meta["edge_dir"]}) as (page, _):
        page.evaluate("n => hl.load(n)", "edge")
        res = page.evaluate("([n, f, s]) => hl.predict(n, f, s)", ["edge", browser.f32_to_b64(x), list(x.shape)])
        backend = page.evaluate("() => tf.getBackend()")
    assert backend == "wasm"
    p = browser.f32_from_b64(res[0]["b64"]).reshape(res[0]["shape"])
    c = browser.f32_from_b64(res[1]["b64"]).reshape(res[1]["shape"])
    assert p.shape == p_ref.shape == (len(x), len(CLASS_NAMES)) and c.shape == c_ref.shape == (len(x), 6, 6, C)
    dp, dc = float(np.abs(p - p_ref).max()), float(np.abs(c - c_ref).max())
    print(f"TF.js (wasm) vs Keras: branch probs max|Δ| = {dp:.2e}, converter code max|Δ| = {dc:.2e} "
          f"(|code| ≤ {np.abs(c_ref).max():.2f})")
    assert dp <= TOL, dp
    assert dc <= TOL * max(1.0, float(np.abs(c_ref).max())), dc
    assert not np.allclose(c_ref, 0)  # a real signal, not a trivially equal zero tensor


def test_benchmark_page_decides_and_ships_like_keras(exit_parts):
    """stepExit on the split page: the page's entropy and decision match the library's on the
    same inputs; exited inputs send nothing, shipped ones a uint8+zlib body answered by the tail."""
    from hybridlib.study.early_exit import branches as early_exit, execute as exit_exec

    model, conv, bundle = exit_parts
    x = _inputs()
    p_ref, c_ref = _keras_parts(conv, x)
    h = np.sort(early_exit.entropy(p_ref))
    k = int(np.argmax(np.diff(h)))  # the widest gap: T there cannot flip on a 1e-6 difference
    t = float((h[k] + h[k + 1]) / 2)
    assert h[k + 1] - h[k] > 1e-4, h
    df = exit_exec.execute(bundle, x, devices=("desktop",), networks=("none",), threshold=t, warmup=1)
    hp = early_exit.entropy(p_ref)
    assert df.attrs["backend"] == "wasm"
    assert float(np.abs(df.attrs["branch_probs"] - p_ref).max()) <= TOL
    assert float(np.abs(df.attrs["codes"] - c_ref).max()) <= TOL * max(1.0, float(np.abs(c_ref).max()))
    np.testing.assert_allclose(df.entropy.to_numpy(), hp, atol=1e-5)
    assert df.exited.tolist() == (hp < t).tolist()
    assert 0 < df.exited.sum() < len(x)  # both outcomes seen
    ex, sh = df[df.exited], df[~df.exited]
    assert (ex.up_bytes == 0).all() and (ex.top1.to_numpy() == p_ref.argmax(1)[ex.i]).all()
    assert (sh.up_bytes > 0).all() and (sh.up_bytes < 6 * 6 * C + 64).all()  # uint8 + zlib of 144 values
    assert (sh.tail_ms > 0).all()
    s = exit_exec.summarize(df).iloc[0]
    assert (sh.header_bytes > 0).all() and (ex.header_bytes == 0).all()
    assert s.exit_fraction == pytest.approx(df.exited.mean())
    assert s.bytes_per_input == pytest.approx((df.up_bytes + df.header_bytes).mean())
    assert s.body_per_input == pytest.approx(df.up_bytes.mean())


# ----------------------------------------------------------------------------- the app


@pytest.fixture(scope="module")
def exit_url(exit_parts) -> Iterator[str]:
    from hybridlib.serving import app as serve

    app = serve.make_app("exit", exit_bundle=exit_parts[2])
    with serve.run_in_thread(app) as url:
        yield url


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def _run_app(url: str, clip_path: Path, threshold: float) -> tuple[dict, dict, dict]:
    before = _get(url + "/metrics")
    with browser.launch(fake_video=clip_path) as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{url}/?exit_threshold={threshold}")
        page.wait_for_function("() => window.hlState && ((hlState.exit && hlState.exit.inputs >= 2 && hlState.label)"
                               " || hlState.error)", timeout=WAIT_MS)
        st = page.evaluate("() => ({error: hlState.error, label: hlState.label, exit: hlState.exit,"
                           " mode: document.getElementById('mode').textContent,"
                           " decision: document.getElementById('exit-decision').textContent,"
                           " bytes: document.getElementById('exit-bytes').textContent,"
                           " ms: ['edge','encode','upload','tail','download'].map("
                           "   k => document.getElementById('ms-x-' + k).textContent)})")
    after = _get(url + "/metrics")
    assert not errors, errors
    return st, before, after


def test_app_exit_mode_config(exit_url):
    cfg = _get(exit_url + "/config")
    assert cfg["mode"] == "exit" and cfg["exit"]["cut"] == f"conv_enc{C}" and cfg["exit"]["threshold"] == 0.5
    assert cfg["exit"]["dtype"] == "uint8" and cfg["exit"]["codec"] == "zlib"


def test_app_exits_at_the_edge_when_confident_enough(exit_url, clip):
    st, before, after = _run_app(exit_url, clip("astronaut"), 1.0)
    assert st["error"] is None, st["error"]
    assert st["mode"].strip() == "exit mode" and st["label"] in CLASS_NAMES
    ex = st["exit"]
    assert ex["threshold"] == 1.0 and ex["exited"] == ex["inputs"] >= 2 and ex["bytes_up"] == 0
    assert ex["last"]["decision"] == "edge" and st["decision"].startswith("answered here")
    assert after["split_requests"] == before["split_requests"]  # nothing went to the server
    assert st["bytes"] == "0 B"


def test_app_ships_the_code_when_not_confident(exit_url, clip):
    st, before, after = _run_app(exit_url, clip("astronaut"), 0.0)
    assert st["error"] is None, st["error"]
    ex = st["exit"]
    assert ex["exited"] == 0 and ex["shipped"] == ex["inputs"] >= 2 and st["label"] in CLASS_NAMES
    last = ex["last"]
    assert last["decision"] == "cloud" and last["layer"] == f"conv_enc{C}"
    # one face: 6×6×4 uint8 values, zlib'd — far below the 2,304 B crop
    assert 0 < last["up_bytes"] < 2304 and last["tail_ms"] > 0
    grew = after["split_layers"].get(f"conv_enc{C}", 0) - before["split_layers"].get(f"conv_enc{C}", 0)
    assert grew >= 2 and after["bytes_in"] - before["bytes_in"] >= ex["bytes_up"]
    assert all(v.endswith("ms") for v in st["ms"]), st["ms"]
    print("exit app, T = 0:", json.dumps({k: last[k] for k in ("up_bytes", "edge_ms", "encode_ms", "upload_ms",
                                                                "tail_ms", "download_ms", "total_ms")}))


def test_profile_edge_ms_runs_the_bundle_throttled(exit_parts):
    from hybridlib.study.early_exit import execute as exit_exec

    r = exit_exec.profile_edge_ms(exit_parts[2], "phone", runs=2, warmup=1)
    assert r["backend"] == "wasm" and r["cpu_throttle"] == 4.0 and r["device"] == "phone"
    assert len(r["times_ms"]) == 2 and r["median_ms"] > 0
