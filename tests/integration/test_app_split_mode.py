"""The app's split mode in real headless Chromium (fake camera, real photo): the page probes the
link, the server's engine picks the cut (POST /plan), the head runs in TF.js, the tail on the
server; the user's cut override reaches the server; /plan refuses malformed bodies."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from hybridlib import browser
from hybridlib.data import CLASS_NAMES

pytestmark = [pytest.mark.integration, pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]

WAIT_MS = 180_000


@pytest.fixture(scope="module")
def split_url(untrained_h5: Path, work_dir: Path) -> Iterator[str]:
    """A real `serve --mode split` app on a free 127.0.0.1 port (background thread)."""
    from hybridlib.serving import app as serve

    app = serve.make_app("split", model_path=untrained_h5, heads_dir=work_dir / "split-heads")
    with serve.run_in_thread(app) as url:
        yield url


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _state(page) -> dict:
    return page.evaluate("() => ({label: hlState.label, split: hlState.split, plan: hlState.plan,"
                         " error: hlState.error, cut_now: document.getElementById('cut-now').textContent,"
                         " ms: ['head','encode','upload','tail','download'].map("
                         "   k => document.getElementById('ms-' + k).textContent),"
                         " mode: document.getElementById('mode').textContent})")


def test_split_mode_page_plans_runs_and_obeys_override(split_url, clip):
    with browser.launch(fake_video=clip("astronaut")) as ctx:
        page = ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(split_url + "/")
        page.wait_for_function("() => window.hlState && ((hlState.split && hlState.label) || hlState.error)",
                               timeout=WAIT_MS)
        st = _state(page)
        assert st["error"] is None, st["error"]
        assert st["mode"].strip() == "split mode"
        plan = st["plan"]
        assert plan["cut"] in plan["cuts"] and plan["link"]["uplink_mbps"] > 0
        assert st["split"]["cut"] == plan["cut"]
        assert st["label"] in CLASS_NAMES
        assert st["cut_now"].startswith(plan["cut"])
        assert all(v.endswith("ms") for v in st["ms"]), st["ms"]
        counts0 = _get(split_url + "/split-counts")
        if plan["kind"] != "device-only":
            assert counts0.get(plan["cut"], 0) >= 1, counts0
        # the select lists every cut (plus auto); choose an interior one the plan did not pick
        opts = page.eval_on_selector_all("#cut option", "os => os.map(o => o.value)")
        assert opts == ["", *plan["cuts"]]
        mid = next(c for c in plan["cuts"][len(plan["cuts"]) // 2:-1] if c != plan["cut"])
        page.select_option("#cut", mid)
        page.wait_for_function(f"() => hlState.split && hlState.split.cut === {json.dumps(mid)} && hlState.label",
                               timeout=WAIT_MS)
        page.wait_for_function(f"() => hlState.split.layer === {json.dumps(mid)}", timeout=WAIT_MS)
        st = _state(page)
        assert st["cut_now"].startswith(mid) and "yours" in st["cut_now"]
        assert st["label"] in CLASS_NAMES
        counts1 = _get(split_url + "/split-counts")
        assert counts1.get(mid, 0) >= 1 and counts0.get(mid, 0) == 0, (counts0, counts1)
        # the re-plan rule: a rate or RTT move beyond the margin (25%) re-plans, within it not
        moved = page.evaluate("""() => { const a = {uplink_mbps: 10, downlink_mbps: 20, rtt_ms: 40};
            const m = hlSplitApp.linkMoved;
            return [hlSplitApp.REPLAN_MARGIN, m(a, {...a, uplink_mbps: 12}), m(a, {...a, uplink_mbps: 7}),
                    m(a, {...a, downlink_mbps: 30}), m(a, {...a, rtt_ms: 60}), m(a, {...a, rtt_ms: 45})]; }""")
        assert moved == [0.25, False, True, True, True, False]
        # and the load rule: the server's factor against the one the plan was made with
        lm = page.evaluate("() => { const m = hlSplitApp.loadMoved; return [m(1.2, 1.0, 0.25), m(3.0, 1.0, 0.25),"
                           " m(1.0, 4.0, 0.25), m(2.0, undefined, 0.25)]; }")
        assert lm == [False, True, True, False]
        assert not errors, errors
        print("measured on loopback:", json.dumps({"plan": plan, "override": st["split"]}))


@pytest.mark.parametrize("body, status, field", [
    (b"not json", 400, "JSON"),
    (b'{"downlink_mbps": 10, "rtt_ms": 5}', 400, "uplink_mbps"),
    (b'{"uplink_mbps": -1, "downlink_mbps": 10, "rtt_ms": 5}', 400, "uplink_mbps"),
    (b'{"uplink_mbps": 1, "downlink_mbps": "x", "rtt_ms": 5}', 400, "downlink_mbps"),
    (b'[1, 2]', 400, "JSON object"),
    (b'{"uplink_mbps": 1e300, "downlink_mbps": 10, "rtt_ms": 5}', 400, "uplink_mbps"),
    (b'{"uplink_mbps": 1, "downlink_mbps": 10, "rtt_ms": NaN}', 400, "rtt_ms"),
])
def test_plan_rejects_malformed_bodies(split_url, body, status, field):
    code, ans = _post(split_url + "/plan", body)
    assert code == status and field in ans["error"], (code, ans)


def test_plan_answers_a_cut_of_the_served_model(split_url):
    code, ans = _post(split_url + "/plan", b'{"uplink_mbps": 0.5, "downlink_mbps": 2, "rtt_ms": 300}')
    assert code == 200, ans
    # a half-megabit link with 300 ms RTT: no transfer can beat running the whole model here
    # at the server's own speed (device_model_ms omitted = the server's), so device-only
    assert ans["cut"] == ans["cuts"][-1] and ans["kind"] == "device-only"
    assert ans["predicted"]["upload_ms"] == 0


@pytest.mark.parametrize("wire", ["float32", "uint8+zlib"])
def test_split_mode_page_sends_the_planned_wire(untrained_h5, work_dir, clip, wire):
    """`serve --split-wire`: /plan carries the wire and the page encodes the cut tensor that
    way (X-Dtype/X-Codec the server decodes); the bytes it ships are the wire's. Measured at one
    cut over DevTools' 3G (printed; no time is asserted)."""
    import numpy as np

    from hybridlib import export
    from hybridlib.profiling import devices
    from hybridlib.serving import app as serve

    app = serve.make_app("split", model_path=untrained_h5, heads_dir=work_dir / "split-heads", split_wire=wire)
    cut = "pool2"
    raw = int(np.prod(export.load_model(untrained_h5).get_layer(cut).output_shape[1:]))
    with serve.run_in_thread(app) as url, browser.launch(fake_video=clip("astronaut")) as ctx:
        page = ctx.new_page()
        page.goto(url + "/")
        page.wait_for_function("() => window.hlState && ((hlState.split && hlState.label) || hlState.error)",
                               timeout=WAIT_MS)
        plan = page.evaluate("() => hlState.plan")
        assert plan["wire"]["name"] == wire
        page.select_option("#cut", cut)
        page.wait_for_function(f"() => hlState.split && hlState.split.layer === {json.dumps(cut)} && hlState.label",
                               timeout=WAIT_MS)
        cdp = ctx.new_cdp_session(page)
        devices.apply_network(cdp, "3g")
        rows = []
        for _ in range(6):
            n = page.evaluate("() => hlState.splitSeq")
            page.wait_for_function(f"() => hlState.splitSeq > {n + 1} && hlState.split.layer === {json.dumps(cut)}",
                                   timeout=WAIT_MS)
            rows.append(page.evaluate("() => hlState.split"))
        assert page.evaluate("() => hlState.error") is None
        assert page.evaluate("() => hlState.label") in CLASS_NAMES
    assert {r["wire"] for r in rows} == {wire.replace("float32", "float32+none") if "+" not in wire else wire}
    ups = [r["up_bytes"] for r in rows]
    if wire == "float32":
        assert set(ups) == {raw * 4}
    else:
        assert max(ups) < raw  # uint8 is raw bytes; zlib only shrinks it
    med = lambda k: float(np.median([r[k] for r in rows]))  # noqa: E731
    print(f"split wire {wire} at {cut}, 3G (DevTools): up {int(np.median(ups))} B, encode {med('encode_ms'):.1f} ms, "
          f"upload {med('upload_ms'):.0f} ms, tail {med('tail_ms'):.1f} ms, head {med('head_ms'):.1f} ms")


def test_plan_reports_the_load_it_planned_with_and_the_static_baseline(split_url):
    body = b'{"uplink_mbps": 20, "downlink_mbps": 50, "rtt_ms": 10}'
    code, aware = _post(split_url + "/plan", body)
    assert code == 200 and aware["load"]["aware"] is True and aware["load"]["planned_with"] >= 1.0
    code, static = _post(split_url + "/plan?planner=static", body)
    assert code == 200 and static["load"] == {**static["load"], "aware": False, "planned_with": 1.0}
    code, bad = _post(split_url + "/plan?planner=psychic", body)
    assert code == 400 and "planner" in bad["error"]
    load = _get(split_url + "/load")
    assert load["factor"] >= 1.0 and isinstance(load["samples"], int) and 0 < load["margin"] < 1


def test_a_link_change_during_the_run_is_read_back_and_re_planned(split_url, clip):
    """DevTools shapes the page's own traffic mid-run (4 Mbit/s up, 8 down, +60 ms per request):
    the page's next probe reads the new link back within the re-plan margin and asks for a new plan."""
    up, down = 4.0, 8.0
    with browser.launch(fake_video=clip("astronaut")) as ctx:
        page = ctx.new_page()
        page.goto(split_url + "/?reprobe_ms=1500")
        page.wait_for_function("() => window.hlState && (hlState.plan || hlState.error)", timeout=WAIT_MS)
        assert page.evaluate("() => hlState.error") is None
        plans0 = page.evaluate("() => hlState.plans")
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", {"offline": False, "latency": 60,
                                                      "uploadThroughput": up * 1e6 / 8, "downloadThroughput": down * 1e6 / 8})
        page.wait_for_function(f"() => hlState.plans > {plans0} && hlState.probed", timeout=WAIT_MS)
        link = page.evaluate("() => hlState.plan.link")
        # the probe subtracts one round trip from each transfer; DevTools adds its latency per request
        assert abs(link["uplink_mbps"] - up) / up <= 0.25, link
        assert abs(link["downlink_mbps"] - down) / down <= 0.25, link
        assert link["rtt_ms"] >= 60, link
