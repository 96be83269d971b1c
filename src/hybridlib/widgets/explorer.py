"""The partition what-if explorer: sliders that re-solve the partition on every change."""
from __future__ import annotations

import logging
from typing import Any

from hybridlib import partition

log = logging.getLogger(__name__)


def partition_explorer(graph: Any, network: str = "wifi", live: Any | None = None) -> Any:
    """ipywidgets sliders (uplink, downlink, RTT, server load, device slowdown) that re-solve
    :func:`hybridlib.partition.solve` on every change and show where the cut falls.

    ``live``: a :class:`CameraWidget`; its button copies the widget's measured round trip into
    the RTT slider, so the what-if starts from a live measurement.
    """
    import ipywidgets as W

    g = partition.as_graph(graph)
    net0 = partition.get_network(network)
    up = W.FloatLogSlider(value=net0.uplink_mbps, base=10, min=-1, max=3, description="uplink Mbit/s")
    down = W.FloatLogSlider(value=net0.downlink_mbps, base=10, min=-1, max=3, description="down Mbit/s")
    rtt = W.FloatSlider(value=net0.rtt_ms, min=0, max=300, step=1, description="RTT ms")
    load = W.FloatSlider(value=1.0, min=0.1, max=10, step=0.1, description="server load ×")
    slow = W.FloatSlider(value=1.0, min=0.25, max=10, step=0.25, description="device ×")
    obj = W.ToggleButtons(options=list(partition.OBJECTIVES), value="latency", description="objective")
    out = W.HTML()

    def update(*_: Any) -> None:
        try:
            net = partition.get_network(network, uplink_mbps=up.value, downlink_mbps=down.value, rtt_ms=rtt.value)
            plan = partition.solve(partition.scale(g, device=slow.value), net, obj.value, "single", load=load.value)
            dev = [n for n, p in plan.placement.items() if p == "device"]
            cloud_n = [n for n, p in plan.placement.items() if p == "cloud"]
            where = ("all on the device" if not cloud_n else "all in the cloud" if len(dev) <= 1
                     else f"cut after <b>{dev[-1]}</b> ({len(dev) - 1} layers on the device)")
            out.value = (f"<p>{where}: latency <b>{plan.latency_ms:.1f} ms</b>, device energy "
                         f"<b>{plan.energy_mj:.1f} mJ</b></p>")
        except Exception as e:  # noqa: BLE001 - an observer's exception would be silent
            log.exception("partition explorer update failed")
            out.value = f"<p style='color:#b91c1c'>{type(e).__name__}: {e}</p>"

    for s in (up, down, rtt, load, slow, obj):
        s.observe(update, "value")
    update()
    kids: list[Any] = [up, down, rtt, load, slow, obj]
    if live is not None:
        btn = W.Button(description="RTT from the camera widget", tooltip="its measured round trip")

        def use_live(_b: Any) -> None:
            v = (live.stats or {}).get("rtt_ms")
            if v:
                rtt.value = min(300.0, float(v))
        btn.on_click(use_live)
        kids.append(btn)
    box = W.VBox([*kids, out])
    box.update = update
    box.result = out
    return box
