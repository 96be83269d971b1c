"""The classroom through real Chromium pages: the eager start-up downloads each file once and still
predicts, the old serial start-up and a forced SIMD binary still work and say what ran, a full
cloud server is told to the user in words (and retried), and a small room runs end to end over
the shared link."""
from __future__ import annotations

import pytest

from hybridlib import browser
from hybridlib.study import classroom

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]

WAIT_MS = 120_000
_READ = """() => ({first: hlState.first_prediction_ms, err: hlState.error, wasm: hlState.wasm,
  backend: hlState.backend, tl: hlState.timeline, chip: document.getElementById('backend').textContent,
  res: performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)})"""


def _first(ctx, url: str, query: str) -> dict:
    page = ctx.new_page()
    try:
        page.goto(f"{url}/?{query}")
        page.wait_for_function("() => window.hlState && (hlState.first_prediction_ms || hlState.error)",
                               timeout=WAIT_MS)
        return page.evaluate(_READ)
    finally:
        page.close()


def test_start_ups_predict_and_report_what_ran(hybrid_url, clip):
    with browser.launch(fake_video=clip("astronaut")) as ctx:
        eager = _first(ctx, hybrid_url, "variant=uint8")
        serial = _first(ctx.browser.new_context(), hybrid_url, "variant=uint8&eager=0")
        simd = _first(ctx.browser.new_context(), hybrid_url, "variant=uint8&binary=simd")
    for r in (eager, serial, simd):
        assert r["err"] is None and r["first"] > 0 and r["backend"] == "wasm"
        assert r["wasm"]["binary"] in r["chip"] and r["wasm"]["threads"] >= 1
        assert {"config", "faceapi", "backend", "detector", "model", "first_detect"} <= set(r["tl"])
    assert eager["wasm"]["binary"] == serial["wasm"]["binary"] == "threaded-simd"
    assert simd["wasm"]["binary"] == "simd" and simd["wasm"]["multithread"] is False
    # eager: the model files are fetched once (handed to TF.js from memory, not asked again)
    model_files = [p for p in eager["res"] if p.startswith("/model/uint8/")]
    assert "/model/uint8/model.json" in model_files and len(model_files) == len(set(model_files))


@pytest.fixture(scope="module")
def full_cloud(untrained_h5, work_dir):
    from hybridlib.study import load

    with load.server("cloud", untrained_h5, max_sessions=1, log_path=work_dir / "classroom_cloud.log") as s:
        yield s


def test_a_full_cloud_server_is_said_plainly_and_retried(full_cloud, clip):
    with browser.launch(fake_video=clip("astronaut")) as ctx:
        first = ctx.new_page()
        first.goto(f"{full_cloud.url}/")
        first.wait_for_function("() => window.hlState && (hlState.ready || hlState.error)", timeout=WAIT_MS)
        assert first.evaluate("() => hlState.error") is None
        second = ctx.browser.new_context().new_page()
        second.goto(f"{full_cloud.url}/?retry_s=1")
        second.wait_for_function("() => window.hlState && hlState.full && hlState.full.tries >= 2", timeout=WAIT_MS)
        st = second.evaluate("() => ({full: hlState.full, msg: hlState.message, kind: hlState.messageKind,"
                             " err: hlState.error, shown: document.getElementById('message').textContent})")
    assert st["err"] is None and st["kind"] == "warn" and st["full"]["max_sessions"] == 1
    assert "server is full" in st["msg"] and "1 camera " in st["msg"] and "Trying again in 1 s" in st["msg"]
    assert st["shown"] == st["msg"]


def test_a_small_room_over_the_shared_link(untrained_h5, tfjs_variants, clip):
    r = classroom.hybrid_room(untrained_h5, tfjs_variants, clip("astronaut"), phones=3, pages=1, window_s=1.0,
                              mbps=50, rtt_ms=10, variant="uint8", lead_s=4.0, timeout_s=150)
    s, phones = r["summary"], r["phones"]
    assert s["phones"] == 3 and s["failed"] == 0 and s["no_prediction"] == 0, phones
    assert [p["kind"] for p in phones].count("page") == 1
    assert all(p["first_s"] >= p["done_s"] - 1e-6 or p["kind"] == "page" for p in phones)
    assert all(p["first_s"] > p["join_s"] for p in phones)
    assert s["page_wasm"][0]["binary"] == "threaded-simd"
    # every byte of every phone crossed the one link
    assert s["link"]["bytes_down"] >= sum(p["bytes"] for p in phones) * 0.95
    assert s["server"]["cpu_s"] is not None and s["compute_tail_s"] is not None
