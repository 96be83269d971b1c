"""The app's split-mode planner (/plan's pure logic): the cut it names is the argmin of the
cost model computed by hand, it moves with the link, and bad bodies name the bad field."""
from __future__ import annotations

import pytest

from hybridlib.serving.splitmode import check_plan_body, plan_cut
from hybridlib.utils import InputError

# a chain like the emotion CNN's: big early activations, small late ones (synthetic costs)
LAYERS = [
    {"layer": "input", "ms": 0.0, "out_bytes": 48 * 48 * 4},
    {"layer": "conv", "ms": 1.0, "out_bytes": 48 * 48 * 32 * 4},
    {"layer": "pool", "ms": 1.0, "out_bytes": 3 * 3 * 64 * 4},
    {"layer": "dense", "ms": 10.0, "out_bytes": 7 * 4},
]


def by_hand(link: dict, device_model_ms: float) -> dict[str, float]:
    """Latency of every single cut, from the cost model's formulas, written out."""
    total = sum(r["ms"] for r in LAYERS)
    k = device_model_ms / total
    up = lambda n: n * 8 / (link["uplink_mbps"] * 1000) + link["rtt_ms"] / 2  # noqa: E731
    down = lambda n: n * 8 / (link["downlink_mbps"] * 1000) + link["rtt_ms"] / 2  # noqa: E731
    out = {}
    for i, r in enumerate(LAYERS):
        head = sum(x["ms"] * k for x in LAYERS[: i + 1])
        tail = sum(x["ms"] for x in LAYERS[i + 1:])
        last = i == len(LAYERS) - 1
        out[r["layer"]] = head + tail + (0 if last else up(r["out_bytes"]) + down(LAYERS[-1]["out_bytes"]))
    return out


@pytest.mark.parametrize("link, device_ms, want", [
    ({"uplink_mbps": 1000.0, "downlink_mbps": 1000.0, "rtt_ms": 0.2}, 700.0, "input"),   # slow phone, fast link
    ({"uplink_mbps": 2.0, "downlink_mbps": 10.0, "rtt_ms": 40.0}, 7.0, "dense"),        # fast device, slow link
    ({"uplink_mbps": 2.0, "downlink_mbps": 50.0, "rtt_ms": 5.0}, 60.0, "pool"),          # in between
])
def test_cut_is_the_hand_computed_argmin(link, device_ms, want):
    ans = plan_cut(LAYERS, {**link, "device_model_ms": device_ms})
    costs = by_hand(link, device_ms)
    assert min(costs, key=costs.get) == want  # the case is what its comment says
    assert ans["cut"] == want
    assert ans["predicted"]["total_ms"] == pytest.approx(costs[want], rel=1e-9)
    assert ans["latency_ms"] == pytest.approx(costs[want], rel=1e-9)
    assert ans["kind"] == {"input": "cloud-only", "dense": "device-only"}.get(want, "split")
    assert ans["cuts"] == [r["layer"] for r in LAYERS]


def test_device_speed_defaults_to_the_servers():
    link = {"uplink_mbps": 20.0, "downlink_mbps": 50.0, "rtt_ms": 5.0}
    assert plan_cut(LAYERS, link)["predicted"]["head_ms"] == pytest.approx(
        plan_cut(LAYERS, {**link, "device_model_ms": 12.0})["predicted"]["head_ms"])


@pytest.mark.parametrize("body, field", [
    ({"downlink_mbps": 1, "rtt_ms": 1}, "uplink_mbps"),
    ({"uplink_mbps": "fast", "downlink_mbps": 1, "rtt_ms": 1}, "uplink_mbps"),
    ({"uplink_mbps": 1, "downlink_mbps": 0, "rtt_ms": 1}, "downlink_mbps"),
    ({"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": -1}, "rtt_ms"),
    ({"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": True}, "rtt_ms"),
    ({"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": float("nan")}, "rtt_ms"),
    ({"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": 1, "device_model_ms": 0}, "device_model_ms"),
    ({"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": 1, "colour": 3}, "colour"),
    ([1, 2, 3], "JSON object"),
])
def test_bad_bodies_name_the_field(body, field):
    with pytest.raises(InputError, match=field):
        check_plan_body(body)
    with pytest.raises(InputError, match=field):
        plan_cut(LAYERS, body)


def test_collapse_keeps_only_single_tensor_cuts_and_all_the_time():
    from hybridlib.serving.splitmode import collapse_to_cuts

    rows = [{"layer": n, "ms": ms, "out_bytes": b} for n, ms, b in
            [("in", 0, 10), ("a", 1, 20), ("b1", 2, 30), ("b2", 3, 40), ("add", 4, 50), ("out", 5, 6)]]
    chain = collapse_to_cuts(rows, ["a", "add"])  # b1/b2 are a residual block's branches
    assert [c["layer"] for c in chain] == ["in", "a", "add", "out"]
    assert [c["ms"] for c in chain] == [0, 1, 9, 5]
    assert [c["out_bytes"] for c in chain] == [10, 20, 50, 6]


def test_cached_profile_is_used_only_for_the_same_architecture():
    import pandas as pd

    from hybridlib.serving.splitmode import rows_from_profile

    t = pd.DataFrame({"layer": ["in", "a", "out", "in", "a", "out"], "side": ["cloud"] * 3 + ["device"] * 3,
                      "index": [0, 1, 2] * 2, "ms": [0.0, 2.0, 3.0, 0.0, 20.0, 30.0],
                      "layer_ms": [0.0, 1.5, 2.5, 0.0, 15.0, 25.0], "fixed_ms": [1.0] * 3 + [10.0] * 3,
                      "out_bytes": [40, 80, 28] * 2, "model": ["m"] * 6})
    rows = rows_from_profile(t, ["in", "a", "out"])
    # cloud side only, reconciled per-layer ms, the fixed cost on the output layer
    assert rows == [{"layer": "in", "ms": 0.0, "out_bytes": 40.0}, {"layer": "a", "ms": 1.5, "out_bytes": 80.0},
                    {"layer": "out", "ms": 3.5, "out_bytes": 28.0}]
    assert rows_from_profile(t, ["in", "b", "out"]) is None


def test_wire_dtype_is_planned_and_handed_to_the_page():
    """uint8 ships a quarter of float32's bytes: /plan charges the upload at that size (the
    answer, JSON, comes back unchanged), which can move the cut, and tells the page the wire."""
    link = {"uplink_mbps": 2.0, "downlink_mbps": 10.0, "rtt_ms": 40.0, "device_model_ms": 7.0}
    f32 = plan_cut(LAYERS, link)
    u8 = plan_cut(LAYERS, link, "uint8+zlib")
    assert f32["wire"] == {"name": "float32", "dtype": "float32", "codec": "none"}
    assert u8["wire"] == {"name": "uint8+zlib", "dtype": "uint8", "codec": "zlib"}
    # by hand at uint8: every cut's upload is out_bytes / 4, the download the same as float32's
    k = 7.0 / sum(r["ms"] for r in LAYERS)
    up = lambda n: n * 8 / (2.0 * 1000) + 20.0  # noqa: E731
    down = 7 * 4 * 8 / (10.0 * 1000) + 20.0
    costs = {r["layer"]: sum(x["ms"] * k for x in LAYERS[: i + 1]) + sum(x["ms"] for x in LAYERS[i + 1:])
             + (0 if i == len(LAYERS) - 1 else up(r["out_bytes"] / 4) + down) for i, r in enumerate(LAYERS)}
    want = min(costs, key=costs.get)
    assert u8["cut"] == want and u8["predicted"]["total_ms"] == pytest.approx(costs[want], rel=1e-9)
    assert u8["up_bytes"] == pytest.approx(0 if want == "dense" else dict(
        (r["layer"], r["out_bytes"]) for r in LAYERS)[want] / 4)
    # a link where the smaller wire moves the cut off the device
    slow_up = {"uplink_mbps": 0.5, "downlink_mbps": 10.0, "rtt_ms": 5.0, "device_model_ms": 48.0}
    assert plan_cut(LAYERS, slow_up)["cut"] == "dense"
    assert plan_cut(LAYERS, slow_up, "uint8")["cut"] == "pool"
    with pytest.raises(InputError, match="split wire must be one of"):
        plan_cut(LAYERS, link, "int4")


# ----------------------------------------------------------------------------- server load


def test_load_moves_the_cut_toward_the_device_and_back():
    """A FAKE load source: at load 1 a slow phone on a fast link sends everything up (cloud-only);
    when the server is 200× slower than its profile, the whole model stays on the phone; small
    wiggles (< margin) do not re-plan; when the load falls back, the cut returns."""
    from hybridlib.serving.load_signal import LoadAwarePlanner

    level = {"v": 1.0}
    planner = LoadAwarePlanner(plan_cut, lambda: level["v"], margin=0.25)
    static = LoadAwarePlanner(plan_cut, lambda: level["v"], aware=False)
    body = {"uplink_mbps": 1000.0, "downlink_mbps": 1000.0, "rtt_ms": 0.2, "device_model_ms": 700.0}
    cuts = []
    for v in (1.0, 1.2, 200.0, 230.0, 1.1):
        level["v"] = v
        a = planner.plan(LAYERS, body)
        cuts.append((a["cut"], a["load"]["planned_with"]))
        assert static.plan(LAYERS, body)["cut"] == "input"  # the baseline ignores load
    assert cuts == [("input", 1.0), ("input", 1.0), ("dense", 200.0), ("dense", 200.0), ("input", 1.1)]
    loaded = plan_cut(LAYERS, body, load=200.0)
    assert loaded["predicted"]["tail_ms"] == 0 and plan_cut(LAYERS, body, load=3.0)["predicted"]["tail_ms"] == \
        pytest.approx(3.0 * sum(r["ms"] for r in LAYERS[1:]))


def test_load_signal_is_the_median_recent_ratio_and_forgets():
    from hybridlib.serving.load_signal import LoadSignal
    from hybridlib.serving.splitmode import tail_ms_by_cut

    now = {"t": 0.0}
    sig = LoadSignal(window=5, max_age_s=10.0, clock=lambda: now["t"])
    tails = tail_ms_by_cut(LAYERS)
    assert tails == {"input": 12.0, "conv": 11.0, "pool": 10.0, "dense": 0.0}
    sig.observe("pool", 30.0)  # no profile yet: ignored
    assert sig.factor() == 1.0
    sig.set_profile(tails)
    for ms in (30.0, 40.0, 50.0):
        sig.observe("pool", ms)  # 3×, 4×, 5× the idle tail
    sig.observe("dense", 5.0)  # device-only: nothing to time
    sig.observe("pool", 500.0, batch=4)  # batches do not count
    assert sig.factor() == 4.0 and sig.snapshot()["samples"] == 3
    now["t"] = 11.0
    assert sig.factor() == 1.0  # old samples expire: an idle server reads 1 again
    sig.observe("input", 6.0)  # faster than profiled: never below 1
    assert sig.factor() == 1.0


@pytest.mark.parametrize("body, field", [
    ({"uplink_mbps": 1e300, "downlink_mbps": 1, "rtt_ms": 1}, "uplink_mbps"),
    ({"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": 1e9}, "rtt_ms"),
    ({"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": 1, "device_model_ms": 1e12}, "device_model_ms"),
])
def test_huge_numbers_are_refused(body, field):
    with pytest.raises(InputError, match=field):
        check_plan_body(body)


@pytest.mark.parametrize("load", [0.0, -1.0, float("nan"), float("inf"), True])
def test_bad_load_is_refused(load):
    with pytest.raises(InputError, match="load"):
        plan_cut(LAYERS, {"uplink_mbps": 1, "downlink_mbps": 1, "rtt_ms": 1}, load=load)
