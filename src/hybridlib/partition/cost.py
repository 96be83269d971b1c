"""The cost model: :func:`evaluate` prices one placement (see ``docs/ARCHITECTURE.md``,
"Cost model"); every solver is checked against it.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from hybridlib.partition.base import CLOUD, DEVICE, SCHEDULES, check_choice, is_finite_number
from hybridlib.partition.graph import Graph, as_graph
from hybridlib.partition.network import Network, get_network
from hybridlib.utils import InputError


@dataclass
class CostArrays:
    """Per-node arrays of the cost model for one (graph, network, load)."""

    dev_ms: np.ndarray
    cloud_ms: np.ndarray  # already × load
    dev_mj: np.ndarray
    idle_mj: np.ndarray  # p_idle × cloud ms
    up_ms: np.ndarray
    down_ms: np.ndarray
    up_mj: np.ndarray
    down_mj: np.ndarray
    up_bytes: np.ndarray
    down_bytes: np.ndarray

    def unary(self, w_lat: float, w_en: float) -> tuple[np.ndarray, np.ndarray]:
        return (w_lat * self.dev_ms + w_en * self.dev_mj, w_lat * self.cloud_ms + w_en * self.idle_mj)

    def ship(self, w_lat: float, w_en: float) -> tuple[np.ndarray, np.ndarray]:
        return (w_lat * self.up_ms + w_en * self.up_mj, w_lat * self.down_ms + w_en * self.down_mj)


def cost_arrays(g: Graph, net: Network, load: float) -> CostArrays:
    dev_ms = np.array([n.device_ms for n in g.nodes], float)
    cloud_ms = np.array([n.cloud_ms for n in g.nodes], float) * load
    wire = np.array([n.shipped_bytes for n in g.nodes], float)
    up_ms = wire * 8.0 / (net.uplink_mbps * 1000.0) + net.rtt_ms / 2.0
    down_ms = wire * 8.0 / (net.downlink_mbps * 1000.0) + net.rtt_ms / 2.0
    cu_ms = np.array([n.codec_up_ms for n in g.nodes], float)
    cd_ms = np.array([n.codec_down_ms for n in g.nodes], float)
    cu_mj = np.array([n.codec_up_mj for n in g.nodes], float)
    cd_mj = np.array([n.codec_down_mj for n in g.nodes], float)
    return CostArrays(
        dev_ms=dev_ms, cloud_ms=cloud_ms,
        dev_mj=np.array([n.device_mj for n in g.nodes], float),
        idle_mj=net.p_idle_w * cloud_ms,
        up_ms=up_ms + cu_ms, down_ms=down_ms + cd_ms,
        up_mj=net.p_tx_w * up_ms + cu_mj, down_mj=net.p_rx_w * down_ms + cd_mj,
        up_bytes=wire, down_bytes=wire,
    )


def check_load(load: float) -> float:
    if not is_finite_number(load) or load <= 0:
        raise InputError(f"server load must be a positive number (1 = idle server), got {load!r}")
    return float(load)


@dataclass
class Plan:
    """A placement and what it costs under the model (see module docstring)."""

    placement: dict[str, str]
    latency_ms: float
    energy_mj: float
    objective: str | None = None
    schedule: str | None = None
    solver: str | None = None
    network: Network | None = None
    load: float = 1.0
    breakdown: dict[str, float] = field(default_factory=dict)
    transfers: list[dict[str, Any]] = field(default_factory=list)
    solve_ms: float | None = None

    @property
    def device_nodes(self) -> list[str]:
        return [k for k, v in self.placement.items() if v == DEVICE]

    @property
    def cloud_nodes(self) -> list[str]:
        return [k for k, v in self.placement.items() if v == CLOUD]

    @property
    def kind(self) -> str:
        """``device-only``, ``cloud-only`` (only the input on the device) or ``split``."""
        n_cloud = len(self.cloud_nodes)
        if n_cloud == 0:
            return "device-only"
        if n_cloud == len(self.placement) - 1 and self.breakdown.get("n_uplinks", 0) <= 1:
            return "cloud-only"
        return "split"

    @property
    def switches(self) -> int:
        """Number of side changes along the transfers: 1 up + 1 down for a single cut."""
        return int(self.breakdown.get("n_uplinks", 0) + self.breakdown.get("n_downlinks", 0))

    def value(self, objective: str) -> float:
        return self.latency_ms if objective == "latency" else self.energy_mj

    def to_dict(self) -> dict[str, Any]:
        return {
            "objective": self.objective, "schedule": self.schedule, "solver": self.solver,
            "network": self.network.to_dict() if self.network else None, "load": self.load,
            "latency_ms": self.latency_ms, "energy_mj": self.energy_mj, "kind": self.kind,
            "placement": self.placement, "device_nodes": self.device_nodes,
            "cloud_nodes": self.cloud_nodes, "transfers": self.transfers,
            "breakdown": self.breakdown, "solve_ms": self.solve_ms,
        }


def evaluate_mask(g: Graph, c: CostArrays, cloud: np.ndarray) -> tuple[float, float, dict[str, float], list[dict[str, Any]]]:
    """Cost of a placement given as a boolean ``cloud`` mask (index order of ``g.nodes``)."""
    t = g.index(g.output)
    up = np.zeros(len(g), bool)
    down = np.zeros(len(g), bool)
    for u in range(len(g)):
        cu = cloud[u]
        for v in g.succ[u]:
            if cloud[v] != cu:
                if cu:
                    down[u] = True
                else:
                    up[u] = True
    if cloud[t]:
        down[t] = True  # the result returns to the device
    dev = ~cloud
    b = {
        "device_ms": float(c.dev_ms[dev].sum()), "cloud_ms": float(c.cloud_ms[cloud].sum()),
        "uplink_ms": float(c.up_ms[up].sum()), "downlink_ms": float(c.down_ms[down].sum()),
        "device_compute_mj": float(c.dev_mj[dev].sum()), "idle_mj": float(c.idle_mj[cloud].sum()),
        "uplink_mj": float(c.up_mj[up].sum()), "downlink_mj": float(c.down_mj[down].sum()),
        "bytes_up": float(c.up_bytes[up].sum()), "bytes_down": float(c.down_bytes[down].sum()),
        "n_uplinks": int(up.sum()), "n_downlinks": int(down.sum()),
    }
    lat = b["device_ms"] + b["cloud_ms"] + b["uplink_ms"] + b["downlink_ms"]
    en = b["device_compute_mj"] + b["idle_mj"] + b["uplink_mj"] + b["downlink_mj"]
    transfers = [{"node": g.nodes[i].id, "direction": "up", "bytes": float(c.up_bytes[i]),
                  "ms": float(c.up_ms[i])} for i in np.flatnonzero(up)]
    transfers += [{"node": g.nodes[i].id, "direction": "down", "bytes": float(c.down_bytes[i]),
                   "ms": float(c.down_ms[i])} for i in np.flatnonzero(down)]
    return lat, en, b, transfers


def _single_ok(g: Graph, cloud: np.ndarray) -> bool:
    return not any(cloud[u] and not cloud[v] for u, v in ((g.index(a), g.index(b)) for a, b in g.edges))


def evaluate(graph: Graph | Mapping[str, Any], network: str | Network | Mapping[str, Any],
             placement: Mapping[str, str], load: float = 1.0, schedule: str | None = None) -> Plan:
    """The cost model: latency and device energy of ``placement`` (node id → device|cloud).

    Every node must be placed; the input node must be on the device. With
    ``schedule="single"`` a placement with a cloud→device edge is rejected.
    """
    g, net, load = as_graph(graph), get_network(network), check_load(load)
    cloud = np.zeros(len(g), bool)
    missing = [i for i in g.ids if i not in placement]
    if missing:
        raise InputError(f"placement lacks node(s) {', '.join(map(repr, missing[:5]))}")
    for k, v in placement.items():
        if k not in g._index:
            raise InputError(f"placement names unknown node {k!r}")
        if v not in (DEVICE, CLOUD):
            raise InputError(f"placement of {k!r} must be 'device' or 'cloud', got {v!r}")
        cloud[g.index(k)] = v == CLOUD
    if cloud[g.index(g.input)]:
        raise InputError(f"the input node {g.input!r} must be on the device")
    if schedule is not None:
        check_choice("schedule", schedule, SCHEDULES)
        if schedule == "single" and not _single_ok(g, cloud):
            raise InputError("placement is not a single cut: a cloud node feeds a device node")
    return make_plan(g, net, load, cloud, schedule=schedule)


def make_plan(g: Graph, net: Network, load: float, cloud: np.ndarray, **kw: Any) -> Plan:
    c = cost_arrays(g, net, load)
    lat, en, b, tr = evaluate_mask(g, c, cloud)
    return Plan(placement={n.id: (CLOUD if cloud[i] else DEVICE) for i, n in enumerate(g.nodes)},
                latency_ms=lat, energy_mj=en, network=net, load=load, breakdown=b, transfers=tr, **kw)
