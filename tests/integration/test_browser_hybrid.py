"""The hybrid app in real headless Chromium with a fake camera playing a real photo."""
from __future__ import annotations

import time

import numpy as np
import pytest

from hybridlib import browser
from hybridlib.serving import media
from hybridlib.data import CLASS_NAMES

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]

WAIT_MS = 120_000


def _samples(page, n: int = 5, gap_s: float = 0.25) -> list[dict]:
    out = []
    start = page.evaluate("() => hlState.frames")
    for _ in range(n):
        page.wait_for_function(f"() => hlState.frames > {start}", timeout=WAIT_MS)
        st = page.evaluate("() => ({faces: hlState.faces, label: hlState.label, frames: hlState.frames,"
                           " emotion: document.getElementById('emotion').textContent,"
                           " message: hlState.message, backend: hlState.backend, video: hlState.video})")
        start = st["frames"]
        out.append(st)
        time.sleep(gap_s)
    return out


def _open(ctx, url: str, query: str = ""):
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(f"{url}/{query}")
    page.wait_for_function("() => window.hlState && (hlState.frames >= 3 || hlState.error)", timeout=WAIT_MS)
    return page, errors


def test_astronaut_one_face_box_and_label(hybrid_url, clip):
    true_boxes = media.face_clip_boxes("astronaut", size=(640, 480), n_frames=20, jitter=3.0)
    mean_box = np.mean(np.array(true_boxes, float), axis=0)
    cx, cy = media.box_centre(mean_box)
    with browser.launch(fake_video=clip("astronaut")) as ctx:
        page, errors = _open(ctx, hybrid_url)
        assert page.evaluate("() => hlState.error") is None
        # the page says what ran: the server sends COOP/COEP, so it is isolated and TF.js picks
        # its threaded SIMD binary; threads = the pool TF.js sized (cores ÷ 2: 1 on a 2-core box)
        wasm = page.evaluate("() => ({...hlState.wasm, iso: self.crossOriginIsolated,"
                             " chip: document.getElementById('backend').textContent})")
        assert wasm["isolated"] is True and wasm["iso"] is True and wasm["multithread"] is True
        assert wasm["binary"] == ("threaded-simd" if wasm["simd"] else "plain") and wasm["threads"] >= 1
        assert wasm["binary"] in wasm["chip"] and "thread" in wasm["chip"]
        for st in _samples(page):
            assert st["video"] == {"width": 640, "height": 480}
            assert st["backend"] == "wasm"
            assert len(st["faces"]) == 1, st["faces"]
            box = st["faces"][0]["box"]
            assert media.contains_point(box, cx, cy), (box, (cx, cy))
            assert media.iou(box, mean_box) >= 0.4, (box, mean_box)
            assert st["label"] in CLASS_NAMES and st["emotion"] == st["label"]
            probs = st["faces"][0]["probs"]
            assert set(probs) == set(CLASS_NAMES) and abs(sum(probs.values()) - 1) < 1e-3
        # the page shows what the state says: mode badge, FPS, per-stage ms, a highlighted bar
        assert page.text_content("#mode").strip() == "hybrid mode"
        assert page.text_content("#fps").strip() not in ("", "–")
        assert page.text_content("#ms-cnn").strip().endswith("ms")
        assert page.locator("#bars li.top").count() == 1
        assert not errors


def test_coffee_shows_no_face_and_no_label(hybrid_url, clip):
    with browser.launch(fake_video=clip("coffee")) as ctx:
        page, errors = _open(ctx, hybrid_url)
        for st in _samples(page):
            assert st["faces"] == []
            assert st["label"] is None
            assert st["emotion"] == "no face"
            assert "No face" in st["message"]
        assert page.locator("#bars li.top").count() == 0
        assert not errors


def test_missing_model_file_shows_error(untrained_h5, broken_models_dir):
    from hybridlib.serving import app as serve

    app = serve.make_app("hybrid", model_path=untrained_h5, models_dir=broken_models_dir)
    with serve.run_in_thread(app) as url, browser.launch() as ctx:
        page = ctx.new_page()
        page.goto(url + "/?variant=fp32")
        page.wait_for_function("() => window.hlState && hlState.modelError", timeout=WAIT_MS)
        msg = page.text_content("#message")
        assert "model failed to load" in msg.lower() and "fp32" in msg
        assert page.get_attribute("#message", "data-kind") == "error"
        assert page.evaluate("() => hlState.label") is None


def test_no_camera_message(hybrid_url):
    with browser.launch(camera=False) as ctx:
        page = ctx.new_page()
        page.goto(hybrid_url + "/")
        page.wait_for_function("() => window.hlState && hlState.cameraError", timeout=WAIT_MS)
        assert "camera" in page.text_content("#message").lower()
        assert page.get_attribute("#message", "data-kind") == "error"


def test_camera_denied_message(hybrid_url, clip):
    with browser.launch(fake_video=clip("astronaut"), deny_camera=True) as ctx:
        page = ctx.new_page()
        page.goto(hybrid_url + "/")
        page.wait_for_function("() => window.hlState && hlState.cameraError", timeout=WAIT_MS)
        assert "denied" in page.text_content("#message").lower()
        assert page.evaluate("() => hlState.frames") == 0


def test_variant_selector_switches_model(hybrid_url, clip):
    with browser.launch(fake_video=clip("astronaut")) as ctx:
        page, _ = _open(ctx, hybrid_url)
        assert page.evaluate("() => hlState.variant") == "fp32"
        opts = page.eval_on_selector_all("#variant option", "os => os.map(o => o.value)")
        assert opts == ["fp32", "float16", "uint8"]
        page.select_option("#variant", "uint8")
        page.wait_for_function("() => hlState.variant === 'uint8' && hlState.ttfp_ms.uint8", timeout=WAIT_MS)
        ttfp = page.evaluate("() => hlState.ttfp_ms")
        assert set(ttfp) == {"fp32", "uint8"} and all(v["backend"] == "wasm" for v in ttfp.values())
        st = _samples(page, n=2)
        assert all(len(s["faces"]) == 1 for s in st)
