"""The what-if sliders re-solve the partition on every change and agree with partition.solve."""
from __future__ import annotations

from hybridlib import partition, widgets


def _chain():
    # heavy compute early, a big input and a tiny middle tensor: the cut moves with the link
    layers = [{"id": "input", "device_ms": 0, "cloud_ms": 0, "out_bytes": 600_000, "device_mj": 0},
              {"id": "conv", "device_ms": 20, "cloud_ms": 1, "out_bytes": 2_000, "device_mj": 20},
              {"id": "dense", "device_ms": 40, "cloud_ms": 1, "out_bytes": 28, "device_mj": 40}]
    return partition.chain_graph(layers, name="toy")


def test_sliders_follow_solve():
    g = _chain()
    box = widgets.partition_explorer(g, "wifi")
    sliders = {c.description: c for c in box.children if hasattr(c, "description")}
    for mbps in (0.1, 1000.0):
        sliders["uplink Mbit/s"].value = mbps
        plan = partition.solve(g, partition.get_network("wifi", uplink_mbps=mbps), "latency", "single")
        assert f"{plan.latency_ms:.1f} ms" in box.result.value
    # a fast uplink sends everything to the cloud; a 0.1 Mbit/s one keeps the big input local
    sliders["uplink Mbit/s"].value = 0.1
    assert "cut after <b>conv</b>" in box.result.value or "all on the device" in box.result.value
    sliders["uplink Mbit/s"].value = 1000.0
    assert "all in the cloud" in box.result.value


def test_unknown_network_is_named():
    import pytest

    from hybridlib.utils import InputError

    with pytest.raises(InputError, match="5g"):
        widgets.partition_explorer(_chain(), "5g")
