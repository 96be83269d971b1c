"""Where should each layer run? Graph, cost model and exact solvers (DESIGN.md §5).

A model is a graph of layers. Each node carries its measured (or predicted) compute time on
the device and in the cloud, the size of its output tensor and the device energy of running
it. A *placement* puts every node on ``device`` or ``cloud``; :func:`evaluate` is the cost
model itself and every solver is checked against it (and against brute force in the tests).

Cost model (sequential execution, one request):

* compute: ``device_ms`` on the device, ``cloud_ms × load`` in the cloud;
* a producer whose output is needed on the other side ships it **once**, however many
  consumers it has there: ``ms = wire_bytes·8/(mbps·1000) + rtt_ms/2`` (uplink
  device→cloud, downlink cloud→device), plus optional codec time (lossless compression);
* the input node is on the device, and the result must end on the device: if the output node
  is in the cloud its output goes down (a virtual "result" consumer on the device);
* ``latency_ms`` = Σ compute + Σ transfers;
* ``energy_mj`` (device) = Σ ``device_mj`` of device nodes + ``p_tx_w``·uplink ms +
  ``p_rx_w``·downlink ms + ``p_idle_w``·Σ cloud compute ms (W·ms = mJ).

Schedules: ``"single"`` is Neurosurgeon's one cut — the device set is closed under
predecessors (no cloud→device edge except the result's return); ``"any"`` allows
multi-switch plans (CollabDNN's mobile→cloud→mobile).

Solvers, all exact for the model above:

* chains, single: argmin over the N cuts with prefix sums (Neurosurgeon, O(N));
* chains, any: shortest path over the layered (layer, side) graph (CollabDNN);
* DAGs, both schedules: an s–t minimum cut (scipy's C Dinic on int32 capacities, made exact
  by certified refinement rounds; networkx's Boykov–Kolmogorov as the fallback and as a
  cross-check in the tests — 6–28× slower on a 500-node DAG). Device = source side. Unary costs
  become terminal edges; a producer with several consumers gets one auxiliary node per
  direction so its tensor is paid for once; ``schedule="single"`` adds infinite reverse
  edges so that no cloud node feeds a device node (without them a min-cut returns plans that
  send data back for free — the flaw of DADS-style implementations, DESIGN §11);
* brute force over all 2^(n-1) placements (vectorised) as the oracle for small graphs.

The energy objective with ``p_idle_w`` > 0 charges cloud compute time on the device's
battery, which is just another unary cost, so the cut stays exact.
"""
from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from . import wire
from .utils import InputError

log = logging.getLogger(__name__)

DEVICE, CLOUD = "device", "cloud"
Objective = Literal["latency", "energy"]
Schedule = Literal["single", "any"]
OBJECTIVES = ("latency", "energy")
SCHEDULES = ("single", "any")
BRUTE_FORCE_MAX_NODES = 22


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


def _num(v: Any, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{where} must be a number, got {v!r}")
    if not math.isfinite(v) or v < 0:
        raise InputError(f"{where} must be a finite number ≥ 0, got {v!r}")
    return float(v)


def _check_choice(what: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"unknown {what} {value!r}; choose one of {', '.join(choices)}")


# --------------------------------------------------------------------------------------------
# Networks
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Network:
    """A wireless link as the cost model sees it.

    ``p_tx_w``/``p_rx_w`` are the device's power while sending/receiving, ``p_idle_w`` its
    power while it waits for the cloud (radio kept connected). Powers in W, so W·ms = mJ.
    """

    uplink_mbps: float
    downlink_mbps: float
    rtt_ms: float
    p_tx_w: float = 0.0
    p_rx_w: float = 0.0
    p_idle_w: float = 0.0
    name: str = "custom"

    def __post_init__(self) -> None:
        for f in ("uplink_mbps", "downlink_mbps"):
            v = getattr(self, f)
            if not _finite(v) or v <= 0:
                raise InputError(f"network {self.name!r}: {f} must be a positive number, got {v!r}")
        for f in ("rtt_ms", "p_tx_w", "p_rx_w", "p_idle_w"):
            v = getattr(self, f)
            if not _finite(v) or v < 0:
                raise InputError(f"network {self.name!r}: {f} must be a number ≥ 0, got {v!r}")

    def up_ms(self, nbytes: float) -> float:
        """Uplink time of one tensor: serialisation at the link rate + half a round trip."""
        return nbytes * 8.0 / (self.uplink_mbps * 1000.0) + self.rtt_ms / 2.0

    def down_ms(self, nbytes: float) -> float:
        return nbytes * 8.0 / (self.downlink_mbps * 1000.0) + self.rtt_ms / 2.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "uplink_mbps": self.uplink_mbps, "downlink_mbps": self.downlink_mbps,
                "rtt_ms": self.rtt_ms, "p_tx_w": self.p_tx_w, "p_rx_w": self.p_rx_w,
                "p_idle_w": self.p_idle_w}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str | None = None) -> Network:
        keys = ("uplink_mbps", "downlink_mbps", "rtt_ms", "p_tx_w", "p_rx_w", "p_idle_w")
        missing = [k for k in keys[:3] if k not in d]
        if missing:
            raise InputError(f"network {name or d.get('name', '?')!r} lacks {', '.join(missing)}")
        unknown = set(d) - set(keys) - {"name", "source"}
        if unknown:
            raise InputError(f"network: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            vals = {k: float(d[k]) for k in keys if k in d}
        except (TypeError, ValueError) as e:
            raise InputError(f"network {name or d.get('name', '?')!r}: non-numeric field ({e})") from None
        return cls(**vals, name=str(name or d.get("name", "custom")))


def _huang_power(alpha_mw_per_mbps: float, beta_mw: float, mbps: float) -> float:
    """Huang et al.'s radio power model P = α·throughput + β, in W."""
    return (alpha_mw_per_mbps * mbps + beta_mw) / 1000.0


#: Network presets. Bandwidths: the average *uplink* rates Neurosurgeon (Kang et al.,
#: ASPLOS'17, §3/§6) used for 3G, LTE and Wi-Fi — 1.1, 5.85 and 18.88 Mbps, taken from
#: Huang et al., "A Close Examination of Performance and Power Characteristics of 4G LTE
#: Networks", MobiSys'12 (4GTest). Downlinks and RTTs are representative medians of the same
#: measurement study (LTE ≈ 12.7 Mbps down, ≈ 70 ms RTT; 3G ≈ 2 Mbps, ≈ 150 ms; Wi-Fi ≈
#: 30 Mbps, ≈ 20 ms). Radio powers follow Huang et al.'s model P = α·Mbps + β with their
#: fitted α_u, α_d, β (3G: 868.98, 122.12, 817.88 mW; LTE: 438.39, 51.97, 1288.04 mW;
#: Wi-Fi: 283.17, 137.01, 132.86 mW) evaluated at the preset rates; ``p_idle_w`` is the
#: radio's connected/tail base power β (the device waits with the radio up). These figures
#: are recalled from the papers, not re-measured here; set ``p_idle_w=0`` to reproduce
#: Neurosurgeon's energy objective (mobile compute + uplink only).
NETWORK_SOURCES = {
    "3g": "Kang et al. ASPLOS'17 (Neurosurgeon) uplink 1.1 Mbps; Huang et al. MobiSys'12 power model",
    "lte": "Kang et al. ASPLOS'17 (Neurosurgeon) uplink 5.85 Mbps; Huang et al. MobiSys'12 power model",
    "wifi": "Kang et al. ASPLOS'17 (Neurosurgeon) uplink 18.88 Mbps; Huang et al. MobiSys'12 power model",
}
NETWORKS: dict[str, Network] = {
    "3g": Network(uplink_mbps=1.1, downlink_mbps=2.0, rtt_ms=150.0,
                  p_tx_w=_huang_power(868.98, 817.88, 1.1), p_rx_w=_huang_power(122.12, 817.88, 2.0),
                  p_idle_w=0.81788, name="3g"),
    "lte": Network(uplink_mbps=5.85, downlink_mbps=12.74, rtt_ms=70.0,
                   p_tx_w=_huang_power(438.39, 1288.04, 5.85), p_rx_w=_huang_power(51.97, 1288.04, 12.74),
                   p_idle_w=1.28804, name="lte"),
    "wifi": Network(uplink_mbps=18.88, downlink_mbps=30.0, rtt_ms=20.0,
                    p_tx_w=_huang_power(283.17, 132.86, 18.88), p_rx_w=_huang_power(137.01, 132.86, 30.0),
                    p_idle_w=0.13286, name="wifi"),
}


def get_network(network: str | Network | Mapping[str, Any], **overrides: float | None) -> Network:
    """A :class:`Network` from a preset name, a dict or a Network, with optional overrides."""
    if isinstance(network, Network):
        net = network
    elif isinstance(network, str):
        key = network.lower().replace("-", "")
        if key not in NETWORKS:
            raise InputError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)} "
                             "or give uplink/downlink/rtt")
        net = NETWORKS[key]
    elif isinstance(network, Mapping):
        net = Network.from_dict(network)
    else:
        raise InputError(f"network must be a preset name, dict or Network, got {type(network).__name__}")
    ov = {k: float(v) for k, v in overrides.items() if v is not None}
    if ov:
        net = replace(net, **ov, name=f"{net.name}*")
    return net


# --------------------------------------------------------------------------------------------
# Graph
# --------------------------------------------------------------------------------------------

_NODE_COSTS = ("device_ms", "cloud_ms", "out_bytes", "device_mj")
_NODE_OPTIONAL = ("wire_bytes", "codec_up_ms", "codec_down_ms", "codec_up_mj", "codec_down_mj")


@dataclass
class Node:
    """One layer. ``wire_bytes`` (default ``out_bytes``) and ``codec_*`` describe optional
    lossless compression of the shipped tensor: bytes on the wire, and the (de)compression
    time/device energy added to a transfer in each direction."""

    id: str
    device_ms: float
    cloud_ms: float
    out_bytes: float
    device_mj: float = 0.0
    wire_bytes: float | None = None
    codec_up_ms: float = 0.0
    codec_down_ms: float = 0.0
    codec_up_mj: float = 0.0
    codec_down_mj: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shipped_bytes(self) -> float:
        return self.out_bytes if self.wire_bytes is None else self.wire_bytes

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "device_ms": self.device_ms, "cloud_ms": self.cloud_ms,
                             "out_bytes": self.out_bytes, "device_mj": self.device_mj}
        if self.wire_bytes is not None:
            d["wire_bytes"] = self.wire_bytes
        for k in _NODE_OPTIONAL[1:]:
            if getattr(self, k):
                d[k] = getattr(self, k)
        if self.meta:
            d["meta"] = self.meta
        return d


@dataclass
class Graph:
    """A validated layer graph (a DAG with one input and one output node)."""

    nodes: list[Node]
    edges: list[tuple[str, str]]
    input: str
    output: str
    name: str = ""

    def __post_init__(self) -> None:
        self._validate()

    # -- validation ---------------------------------------------------------------------
    def _validate(self) -> None:
        where = f"graph {self.name!r}: " if self.name else "graph: "
        if not self.nodes:
            raise InputError(f"{where}has no nodes")
        ids: dict[str, int] = {}
        for i, n in enumerate(self.nodes):
            if not isinstance(n.id, str) or not n.id:
                raise InputError(f"{where}node #{i} has no id")
            if n.id in ids:
                raise InputError(f"{where}duplicate node id {n.id!r}")
            ids[n.id] = i
            for k in _NODE_COSTS + _NODE_OPTIONAL:
                v = getattr(n, k)
                if v is None and k == "wire_bytes":
                    continue
                if not _finite(v) or v < 0:
                    raise InputError(f"{where}node {n.id!r}: {k} must be a finite number ≥ 0, got {v!r}")
        for name, v in (("input", self.input), ("output", self.output)):
            if v is None or v == "":
                raise InputError(f"{where}missing {name} node")
            if v not in ids:
                raise InputError(f"{where}{name} node {v!r} is not among the nodes")
        seen: set[tuple[str, str]] = set()
        clean: list[tuple[str, str]] = []
        for e in self.edges:
            if not isinstance(e, (list, tuple)) or len(e) != 2:
                raise InputError(f"{where}edge {e!r} is not a [producer, consumer] pair")
            u, v = str(e[0]), str(e[1])
            for end in (u, v):
                if end not in ids:
                    raise InputError(f"{where}dangling edge [{u!r}, {v!r}]: no node {end!r}")
            if u == v:
                raise InputError(f"{where}cycle: self-loop on node {u!r}")
            if (u, v) not in seen:
                seen.add((u, v))
                clean.append((u, v))
        self.edges = clean
        self._index = ids
        n = len(self.nodes)
        self.succ: list[list[int]] = [[] for _ in range(n)]
        self.pred: list[list[int]] = [[] for _ in range(n)]
        for u, v in clean:
            self.succ[ids[u]].append(ids[v])
            self.pred[ids[v]].append(ids[u])
        self.topo = self._toposort(where)
        s = ids[self.input]
        if self.pred[s]:
            raise InputError(f"{where}input node {self.input!r} has incoming edges "
                             f"(from {self.nodes[self.pred[s][0]].id!r})")
        reach = {s}
        stack = [s]
        while stack:
            for w in self.succ[stack.pop()]:
                if w not in reach:
                    reach.add(w)
                    stack.append(w)
        if ids[self.output] not in reach:
            raise InputError(f"{where}output node {self.output!r} is not reachable from input {self.input!r}")

    def _toposort(self, where: str) -> list[int]:
        n = len(self.nodes)
        indeg = [len(p) for p in self.pred]
        order = [i for i in range(n) if indeg[i] == 0]
        k = 0
        while k < len(order):
            for w in self.succ[order[k]]:
                indeg[w] -= 1
                if indeg[w] == 0:
                    order.append(w)
            k += 1
        if len(order) < n:
            left = {i for i in range(n) if indeg[i] > 0}
            # walk back along predecessors inside the remainder until a node repeats → a cycle
            cur = next(iter(left))
            path: list[int] = []
            pos: dict[int, int] = {}
            while cur not in pos:
                pos[cur] = len(path)
                path.append(cur)
                cur = next(p for p in self.pred[cur] if p in left)
            cyc = list(reversed(path[pos[cur]:]))
            names = " → ".join(self.nodes[i].id for i in cyc + [cyc[0]])
            raise InputError(f"{where}cycle: {names}")
        return order

    # -- accessors ------------------------------------------------------------------------
    def index(self, node_id: str) -> int:
        return self._index[node_id]

    @property
    def ids(self) -> list[str]:
        return [n.id for n in self.nodes]

    def __len__(self) -> int:
        return len(self.nodes)

    def chain_order(self) -> list[int] | None:
        """The node order if the graph is one path input → … → output, else None."""
        s, t = self._index[self.input], self._index[self.output]
        order = [s]
        cur = s
        while self.succ[cur]:
            if len(self.succ[cur]) != 1:
                return None
            cur = self.succ[cur][0]
            if len(self.pred[cur]) != 1:
                return None
            order.append(cur)
        if cur != t or len(order) != len(self.nodes):
            return None
        return order

    def is_chain(self) -> bool:
        return self.chain_order() is not None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"nodes": [n.to_dict() for n in self.nodes],
                             "edges": [list(e) for e in self.edges],
                             "input": self.input, "output": self.output}
        if self.name:
            d["name"] = self.name
        return d

    def save(self, path: str | Path) -> Path:
        from .utils import write_json_atomic

        return write_json_atomic(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str = "") -> Graph:
        if not isinstance(d, Mapping):
            raise InputError(f"graph {name!r}: expected a JSON object with nodes/edges/input/output")
        for k in ("nodes", "edges"):
            if k not in d or not isinstance(d[k], list):
                raise InputError(f"graph {name!r}: missing list {k!r}")
        for k in ("input", "output"):
            if k not in d or d[k] in (None, ""):
                raise InputError(f"graph {name!r}: missing {k} node")
        nodes = []
        for i, nd in enumerate(d["nodes"]):
            if not isinstance(nd, Mapping) or "id" not in nd:
                raise InputError(f"graph {name!r}: node #{i} is not an object with an 'id'")
            nid = str(nd["id"])
            kw: dict[str, Any] = {}
            for k in _NODE_COSTS:
                if k not in nd and k != "device_mj":
                    raise InputError(f"graph {name!r}: node {nid!r} lacks {k!r}")
                if k in nd:
                    kw[k] = _num(nd[k], f"graph {name!r}: node {nid!r}: {k}")
            for k in _NODE_OPTIONAL:
                if k in nd and nd[k] is not None:
                    kw[k] = _num(nd[k], f"graph {name!r}: node {nid!r}: {k}")
            meta = nd.get("meta") or {}
            if not isinstance(meta, Mapping):
                raise InputError(f"graph {name!r}: node {nid!r}: meta must be an object, got {type(meta).__name__}")
            extra = {k: v for k, v in nd.items() if k not in ("id", "meta", *_NODE_COSTS, *_NODE_OPTIONAL)}
            nodes.append(Node(id=nid, meta={**extra, **meta}, **kw))
        return cls(nodes=nodes, edges=[tuple(e) if isinstance(e, (list, tuple)) else e for e in d["edges"]],
                   input=str(d["input"]), output=str(d["output"]), name=str(d.get("name", name)))

    @classmethod
    def load(cls, path: str | Path) -> Graph:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"graph file {p} does not exist") from None
        except (IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
            raise InputError(f"graph file {p}: cannot read ({e.__class__.__name__})") from None
        try:
            d = json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"graph file {p}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
        try:
            return cls.from_dict(d, name=d.get("name", p.stem) if isinstance(d, dict) else p.stem)
        except InputError as e:
            raise InputError(f"{p}: {e}") from None


def as_graph(graph: Graph | Mapping[str, Any] | str | Path) -> Graph:
    if isinstance(graph, Graph):
        return graph
    if isinstance(graph, (str, Path)):
        return Graph.load(graph)
    return Graph.from_dict(graph)


def chain_graph(layers: Iterable[Mapping[str, Any]], name: str = "chain") -> Graph:
    """A chain graph from node dicts in execution order (first = input, last = output)."""
    nodes = [dict(n) for n in layers]
    ids = [str(n["id"]) for n in nodes]
    return Graph.from_dict({"nodes": nodes, "edges": [[a, b] for a, b in zip(ids, ids[1:])],
                            "input": ids[0], "output": ids[-1], "name": name})


# --------------------------------------------------------------------------------------------
# Cost model
# --------------------------------------------------------------------------------------------


@dataclass
class _Costs:
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


def _costs(g: Graph, net: Network, load: float) -> _Costs:
    dev_ms = np.array([n.device_ms for n in g.nodes], float)
    cloud_ms = np.array([n.cloud_ms for n in g.nodes], float) * load
    wire = np.array([n.shipped_bytes for n in g.nodes], float)
    up_ms = wire * 8.0 / (net.uplink_mbps * 1000.0) + net.rtt_ms / 2.0
    down_ms = wire * 8.0 / (net.downlink_mbps * 1000.0) + net.rtt_ms / 2.0
    cu_ms = np.array([n.codec_up_ms for n in g.nodes], float)
    cd_ms = np.array([n.codec_down_ms for n in g.nodes], float)
    cu_mj = np.array([n.codec_up_mj for n in g.nodes], float)
    cd_mj = np.array([n.codec_down_mj for n in g.nodes], float)
    return _Costs(
        dev_ms=dev_ms, cloud_ms=cloud_ms,
        dev_mj=np.array([n.device_mj for n in g.nodes], float),
        idle_mj=net.p_idle_w * cloud_ms,
        up_ms=up_ms + cu_ms, down_ms=down_ms + cd_ms,
        up_mj=net.p_tx_w * up_ms + cu_mj, down_mj=net.p_rx_w * down_ms + cd_mj,
        up_bytes=wire, down_bytes=wire,
    )


def _check_load(load: float) -> float:
    if not _finite(load) or load <= 0:
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


def _eval_mask(g: Graph, c: _Costs, cloud: np.ndarray) -> tuple[float, float, dict[str, float], list[dict[str, Any]]]:
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
    g, net, load = as_graph(graph), get_network(network), _check_load(load)
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
        _check_choice("schedule", schedule, SCHEDULES)
        if schedule == "single" and not _single_ok(g, cloud):
            raise InputError("placement is not a single cut: a cloud node feeds a device node")
    return _plan(g, net, load, cloud, schedule=schedule)


def _plan(g: Graph, net: Network, load: float, cloud: np.ndarray, **kw: Any) -> Plan:
    c = _costs(g, net, load)
    lat, en, b, tr = _eval_mask(g, c, cloud)
    return Plan(placement={n.id: (CLOUD if cloud[i] else DEVICE) for i, n in enumerate(g.nodes)},
                latency_ms=lat, energy_mj=en, network=net, load=load, breakdown=b, transfers=tr, **kw)


# --------------------------------------------------------------------------------------------
# Solvers
# --------------------------------------------------------------------------------------------


def _weights(objective: str | tuple[float, float]) -> tuple[float, float]:
    if isinstance(objective, tuple):
        return float(objective[0]), float(objective[1])
    _check_choice("objective", objective, OBJECTIVES)
    return (1.0, 0.0) if objective == "latency" else (0.0, 1.0)


def _solve_chain_single(g: Graph, c: _Costs, w: tuple[float, float]) -> np.ndarray:
    """Neurosurgeon: argmin over the cut positions of a chain (O(N) with prefix sums)."""
    order = np.array(g.chain_order())
    a, b = c.unary(*w)
    up, down = c.ship(*w)
    a, b, up, down = a[order], b[order], up[order], down[order]
    pre_dev = np.cumsum(a)  # device cost of nodes 0..j
    suf_cloud = np.concatenate([np.cumsum(b[::-1])[::-1][1:], [0.0]])  # cloud cost of j+1..n-1
    cost = pre_dev + suf_cloud + up + down[-1]
    cost[-1] = pre_dev[-1]  # device-only: no transfer
    j = int(np.argmin(cost))
    cloud = np.zeros(len(g), bool)
    cloud[order[j + 1:]] = True
    return cloud


def _solve_chain_any(g: Graph, c: _Costs, w: tuple[float, float]) -> np.ndarray:
    """CollabDNN: shortest path through the layered graph of (layer, side) states.

    State (i, side) = layer i runs on ``side``; moving from layer i to i+1 on the other
    side costs layer i's transfer in that direction. The sink is (result, device): ending
    in the cloud pays the output's downlink. Dynamic programming over the layers is exactly
    Dijkstra on this acyclic graph, in O(N).
    """
    order = g.chain_order()
    a, b = c.unary(*w)
    up, down = c.ship(*w)
    n = len(order)
    INF = math.inf
    dist = np.full((n, 2), INF)
    back = np.zeros((n, 2), int)
    s = order[0]
    dist[0, 0] = a[s]
    for k in range(1, n):
        v, u = order[k], order[k - 1]
        # to device
        cand_d = (dist[k - 1, 0], dist[k - 1, 1] + down[u])
        back[k, 0] = int(cand_d[1] < cand_d[0])
        dist[k, 0] = min(cand_d) + a[v]
        cand_c = (dist[k - 1, 0] + up[u], dist[k - 1, 1])
        back[k, 1] = int(cand_c[1] < cand_c[0])
        dist[k, 1] = min(cand_c) + b[v]
    end = (dist[n - 1, 0], dist[n - 1, 1] + down[order[-1]])
    side = int(end[1] < end[0])
    cloud = np.zeros(len(g), bool)
    for k in range(n - 1, -1, -1):
        cloud[order[k]] = bool(side)
        side = back[k, side]
    return cloud


def _cut_network(g: Graph, c: _Costs, w: tuple[float, float], schedule: str
                 ) -> tuple[int, int, int, np.ndarray, np.ndarray, np.ndarray]:
    """The s–t network whose minimum cut is the optimal placement (device = source side).

    Returns ``(n_vertices, S, T, src, dst, cap)``; vertices ``0..n-1`` are the layers, then
    auxiliary vertices, then S and T; ``cap`` may hold ``inf``. Construction:

    * unary costs: device cost ``a_v`` is paid when v ∈ S (edge v→T), cloud cost ``b_v``
      when v ∈ T (edge S→v); only the difference matters, so one edge per node;
    * S→input is infinite: the input stays on the device;
    * a producer u with one consumer v: u→v costs u's uplink, v→u its downlink (``any``) or
      is infinite (``single``: a cloud node may not feed a device node);
    * a producer with several consumers (the output counts the device-side result as one
      more) ships once per direction: u→up_u (uplink cost) with up_u→v infinite for every
      consumer, and v→down_u infinite with down_u→u (downlink cost). If any consumer is on
      the other side, the auxiliary vertex is forced there and the cost is paid once.
    """
    a, b = c.unary(*w)
    up, down = c.ship(*w)
    n = len(g)
    s_idx, t_idx = g.index(g.input), g.index(g.output)
    b = b.copy()
    consumers = [list(g.succ[u]) for u in range(n)]
    result_sink = not consumers[t_idx]
    if result_sink:
        b[t_idx] += down[t_idx]  # output with no consumers: its result goes down iff it is in the cloud
    multi = [u for u in range(n) if len(consumers[u]) + (u == t_idx and not result_sink) >= 2]
    aux_up = {u: n + 2 * k for k, u in enumerate(multi)}
    aux_dn = {u: n + 2 * k + 1 for k, u in enumerate(multi)}
    S, T = n + 2 * len(multi), n + 2 * len(multi) + 1
    INF = math.inf
    src: list[int] = [S]
    dst: list[int] = [s_idx]
    cap: list[float] = [INF]
    d = a - b
    for v in range(n):
        if d[v] > 0:
            src.append(v), dst.append(T), cap.append(float(d[v]))
        elif d[v] < 0:
            src.append(S), dst.append(v), cap.append(float(-d[v]))
    for u in range(n):
        cons = consumers[u]
        if u not in aux_up:
            if not cons:
                continue
            v = cons[0]
            src += [u, v]
            dst += [v, u]
            cap += [float(up[u]), INF if schedule == "single" else float(down[u])]
            continue
        au, ad = aux_up[u], aux_dn[u]
        src += [u, ad]
        dst += [au, u]
        cap += [float(up[u]), float(down[u])]
        for v in cons:
            src += [au, v]
            dst += [v, ad]
            cap += [INF, INF]
            if schedule == "single":
                src.append(v), dst.append(u), cap.append(INF)
        if u == t_idx and not result_sink:
            src.append(S), dst.append(ad), cap.append(INF)  # the result: a consumer fixed on the device
    return T + 1, S, T, np.array(src, np.int64), np.array(dst, np.int64), np.array(cap, float)


def _mincut_networkx(N: int, S: int, T: int, src: np.ndarray, dst: np.ndarray, cap: np.ndarray,
                     flow_func: Any = None) -> np.ndarray:
    """Source-side mask by networkx (Boykov–Kolmogorov; its preflow_push returned a suboptimal
    cut on float capacities in our brute-force tests)."""
    import networkx as nx
    from networkx.algorithms.flow import boykov_kolmogorov

    G = nx.DiGraph()
    G.add_nodes_from(range(N))
    for u, v, k in zip(src.tolist(), dst.tolist(), cap.tolist()):
        if G.has_edge(u, v):
            if "capacity" in G[u][v]:
                if math.isinf(k):
                    del G[u][v]["capacity"]
                else:
                    G[u][v]["capacity"] += k
        elif math.isinf(k):
            G.add_edge(u, v)  # no capacity attribute = infinite
        else:
            G.add_edge(u, v, capacity=k)
    _, (side, _) = nx.minimum_cut(G, S, T, flow_func=flow_func or boykov_kolmogorov)
    mask = np.zeros(N, bool)
    mask[list(side)] = True
    return mask


_I32 = 2**31 - 2


def _mincut_scipy(N: int, S: int, T: int, src: np.ndarray, dst: np.ndarray, cap: np.ndarray,
                  rel_tol: float = 1e-13, max_rounds: int = 12) -> np.ndarray | None:
    """Source-side mask by scipy's C max-flow (Dinic, int32 capacities), made exact by
    iterative refinement with an optimality certificate; ``None`` if not certified.

    Round k floors the (clipped) residual capacities at a scale that fits int32 and pushes
    a maximum integer flow, which is feasible for the real capacities. Let X be the set
    reachable from S in that round's integer residual. For the accumulated flow f,
    ``cap(X) = |f| + r(X)`` where r(X) is X's *real* residual capacity, and ``|f| ≤ OPT ≤
    cap(X)``: once ``r(X) ≤ rel_tol·cap(X)`` X is optimal to that tolerance (the tests ask
    1e-9). Otherwise the remaining flow is at most r(X), so every residual capacity is
    clipped at 2·r(X) (a cut through a clipped edge then costs more than the remaining
    minimum, so min-cut sets are unchanged) and the next round resolves finer.
    """
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order, maximum_flow

    finite = np.isfinite(cap)
    big = float(cap[finite].sum()) + 1.0  # more than any cut made of finite edges (device-only is one)
    cap = np.where(finite, cap, big)
    # structure with both directions present, duplicates summed
    rows = np.concatenate([src, dst])
    cols = np.concatenate([dst, src])
    C = csr_matrix((np.concatenate([cap, np.zeros_like(cap)]), (rows, cols)), shape=(N, N))
    C.sum_duplicates()
    C.sort_indices()
    resid = C.data.astype(float).copy()  # real residual capacities on C's structure
    indptr, indices = C.indptr, C.indices
    row_of = np.repeat(np.arange(N), np.diff(indptr))
    pushed = 0.0
    clip = math.inf
    for _ in range(max_rounds):
        cl = np.minimum(resid, clip)
        out_s = cl[row_of == S].sum()
        into_t = cl[indices == T].sum()
        denom = max(min(out_s, into_t), float(cl.max(initial=0.0)), 1e-300)
        scale = _I32 / denom
        icap = np.floor(cl * scale).astype(np.int32)
        M = csr_matrix((icap, indices.copy(), indptr.copy()), shape=(N, N))
        res = maximum_flow(M, S, T, method="dinic")
        F = res.flow.tocsr()
        F.sort_indices()
        # align the flow with C's structure (its nonzeros are a subset of C's entries)
        fk = np.asarray(F[row_of, indices]).ravel().astype(float) / scale
        resid = resid - fk  # antisymmetric flow: forward entries lose, reverse entries gain
        pushed += res.flow_value / scale
        ires = icap.astype(np.int64) - np.asarray(F[row_of, indices]).ravel().astype(np.int64)
        Rg = csr_matrix(((ires > 0).astype(np.int8), indices.copy(), indptr.copy()), shape=(N, N))
        Rg.eliminate_zeros()  # csgraph treats stored zeros as edges
        reach = breadth_first_order(Rg, S, directed=True, return_predecessors=False)
        X = np.zeros(N, bool)
        X[reach] = True
        if X[T]:  # cannot happen after a maximum flow; be safe
            return None
        crossing = X[row_of] & ~X[indices]
        rX = float(np.maximum(resid[crossing], 0.0).sum())
        capX = pushed + rX
        if rX <= rel_tol * max(capX, 1e-300):
            return X
        clip = 2.0 * rX
        resid = np.maximum(resid, 0.0)  # float round-off only; real residuals are ≥ 0
    return None


def _solve_mincut(g: Graph, c: _Costs, w: tuple[float, float], schedule: str,
                  backend: str = "auto") -> np.ndarray:
    """Exact s–t min-cut placement for any DAG and both schedules (see :func:`_cut_network`).

    ``backend="auto"`` uses scipy's C max-flow with a certified refinement and falls back to
    networkx when the certificate fails; ``"networkx"`` forces the pure-Python path.
    """
    N, S, T, src, dst, cap = _cut_network(g, c, w, schedule)
    side = None
    if backend in ("auto", "scipy"):
        side = _mincut_scipy(N, S, T, src, dst, cap)
        if side is None:
            log.info("scipy min-cut not certified; falling back to networkx")
    if side is None:
        side = _mincut_networkx(N, S, T, src, dst, cap)
    return ~side[: len(g)]


def _brute_force_points(g: Graph, c: _Costs) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """All placements (cloud masks), their latency, energy and single-cut feasibility (vectorised)."""
    n = len(g)
    if n > BRUTE_FORCE_MAX_NODES:
        raise InputError(f"brute force is limited to {BRUTE_FORCE_MAX_NODES} nodes, graph has {n}")
    s = g.index(g.input)
    free = [i for i in range(n) if i != s]
    m = 1 << len(free)
    bits = (np.arange(m)[:, None] >> np.arange(len(free))[None, :]) & 1
    cloud = np.zeros((m, n), bool)
    cloud[:, free] = bits.astype(bool)
    dev = ~cloud
    lat = dev @ c.dev_ms + cloud @ c.cloud_ms
    en = dev @ c.dev_mj + cloud @ c.idle_mj
    up = np.zeros((m, n), bool)
    down = np.zeros((m, n), bool)
    ok = np.ones(m, bool)
    for u in range(n):
        for v in g.succ[u]:
            up[:, u] |= dev[:, u] & cloud[:, v]
            down[:, u] |= cloud[:, u] & dev[:, v]
            ok &= ~(cloud[:, u] & dev[:, v])
    t = g.index(g.output)
    down[:, t] |= cloud[:, t]
    lat = lat + up @ c.up_ms + down @ c.down_ms
    en = en + up @ c.up_mj + down @ c.down_mj
    return cloud, lat, en, ok


def _solve_brute(g: Graph, c: _Costs, w: tuple[float, float], schedule: str) -> np.ndarray:
    cloud, lat, en, ok = _brute_force_points(g, c)
    val = w[0] * lat + w[1] * en
    if schedule == "single":
        val = np.where(ok, val, np.inf)
    return cloud[int(np.argmin(val))]


SOLVERS = ("auto", "argmin", "shortest_path", "mincut", "brute")


def solve(graph: Graph | Mapping[str, Any] | str | Path, network: str | Network | Mapping[str, Any] = "wifi",
          objective: str = "latency", schedule: str = "single", load: float = 1.0,
          solver: str = "auto") -> Plan:
    """The placement minimising ``objective`` under ``schedule`` (exact; see module docstring).

    ``solver="auto"`` picks argmin-over-cuts (chain, single), shortest path (chain, any) or
    min-cut (DAG). ``objective`` may also be a weight pair ``(w_latency, w_energy)``.
    """
    g, net, load = as_graph(graph), get_network(network), _check_load(load)
    _check_choice("schedule", schedule, SCHEDULES)
    _check_choice("solver", solver, SOLVERS)
    w = _weights(objective)
    chain = g.is_chain()
    if solver == "auto":
        solver = ("argmin" if schedule == "single" else "shortest_path") if chain else "mincut"
    if solver in ("argmin", "shortest_path") and not chain:
        raise InputError(f"solver {solver!r} needs a chain graph; {g.name or 'this graph'} is a DAG (use mincut)")
    if solver == "argmin" and schedule != "single":
        raise InputError("solver 'argmin' only solves schedule='single' (use shortest_path for 'any')")
    t0 = time.perf_counter()
    c = _costs(g, net, load)
    if solver == "argmin":
        cloud = _solve_chain_single(g, c, w)
    elif solver == "shortest_path":
        cloud = (_solve_chain_any(g, c, w) if schedule == "any" else _solve_chain_single(g, c, w))
    elif solver == "mincut":
        cloud = _solve_mincut(g, c, w, schedule)
    else:
        cloud = _solve_brute(g, c, w, schedule)
    dt = (time.perf_counter() - t0) * 1000.0
    obj_name = objective if isinstance(objective, str) else f"weighted{tuple(objective)}"
    plan = _plan(g, net, load, cloud, objective=obj_name, schedule=schedule, solver=solver)
    plan.solve_ms = dt
    return plan


def scale(graph: Graph | Mapping[str, Any], device: float = 1.0, cloud: float = 1.0) -> Graph:
    """A copy of ``graph`` whose device side is ``device``× slower (time and compute energy)
    and whose cloud compute is ``cloud``× its time — for what-if studies, e.g. a phone-class
    CPU instead of the machine that was profiled. (Server load is :func:`solve`'s ``load``.)"""
    g = as_graph(graph)
    for what, v in (("device", device), ("cloud", cloud)):
        if not _finite(v) or v <= 0:
            raise InputError(f"{what} scale must be a positive number, got {v!r}")
    nodes = [replace(n, device_ms=n.device_ms * device, device_mj=n.device_mj * device,
                     cloud_ms=n.cloud_ms * cloud, meta=dict(n.meta)) for n in g.nodes]
    return Graph(nodes=nodes, edges=list(g.edges), input=g.input, output=g.output,
                 name=f"{g.name} (device×{device:g}, cloud×{cloud:g})")


def baselines(graph: Graph | Mapping[str, Any], network: str | Network | Mapping[str, Any],
              load: float = 1.0) -> dict[str, Plan]:
    """Device-only and cloud-only (all but the input in the cloud) plans, for speedups."""
    g, net, load = as_graph(graph), get_network(network), _check_load(load)
    dev = np.zeros(len(g), bool)
    cl = np.ones(len(g), bool)
    cl[g.index(g.input)] = False
    return {"device-only": _plan(g, net, load, dev, solver="baseline", schedule="single"),
            "cloud-only": _plan(g, net, load, cl, solver="baseline", schedule="single")}


# --------------------------------------------------------------------------------------------
# Pareto front
# --------------------------------------------------------------------------------------------


def _nondominated(points: list[tuple[float, float, Any]]) -> list[tuple[float, float, Any]]:
    """Non-dominated (latency, energy) points, sorted by latency, duplicates removed."""
    pts = sorted(points, key=lambda p: (p[0], p[1]))
    out: list[tuple[float, float, Any]] = []
    best_e = math.inf
    for p in pts:
        if p[1] < best_e - 1e-12 * max(1.0, abs(best_e) if math.isfinite(best_e) else 1.0):
            out.append(p)
            best_e = p[1]
    return out


def _pareto_chain_any(g: Graph, c: _Costs) -> list[tuple[float, float, np.ndarray]]:
    """Exact bi-objective front on a chain: label-setting DP keeping non-dominated labels."""
    order = g.chain_order()
    s = order[0]
    # labels per side: list of (lat, en, cloud-tuple)
    labels = {0: [(c.dev_ms[s], c.dev_mj[s], (False,))], 1: []}
    for k in range(1, len(order)):
        u, v = order[k - 1], order[k]
        new = {}
        for side in (0, 1):
            cand = []
            for prev in (0, 1):
                for la, en, path in labels[prev]:
                    dl = de = 0.0
                    if prev == 0 and side == 1:
                        dl, de = c.up_ms[u], c.up_mj[u]
                    elif prev == 1 and side == 0:
                        dl, de = c.down_ms[u], c.down_mj[u]
                    if side == 0:
                        dl += c.dev_ms[v]
                        de += c.dev_mj[v]
                    else:
                        dl += c.cloud_ms[v]
                        de += c.idle_mj[v]
                    cand.append((la + dl, en + de, path + (bool(side),)))
            new[side] = _nondominated(cand)
        labels = new
    t = order[-1]
    final = list(labels[0]) + [(la + c.down_ms[t], en + c.down_mj[t], p) for la, en, p in labels[1]]
    out = []
    for la, en, path in _nondominated(final):
        cloud = np.zeros(len(g), bool)
        cloud[order] = path
        out.append((la, en, cloud))
    return out


def pareto(graph: Graph | Mapping[str, Any] | str | Path, network: str | Network | Mapping[str, Any] = "wifi",
           schedule: str = "single", load: float = 1.0, method: str = "auto",
           max_points: int = 64) -> list[Plan]:
    """The latency × device-energy Pareto front, sorted by latency.

    Exact for chains (enumerated cuts for ``single``, label-setting DP for ``any``) and for
    graphs up to :data:`BRUTE_FORCE_MAX_NODES` nodes (enumeration). Larger DAGs get the
    *supported* front (the convex hull's vertices) by dichotomic weighted-sum min-cuts
    (Aneja & Nair) — every returned plan is optimal for some strictly positive weighting,
    hence non-dominated; its ends minimise latency (energy) with the other objective as a
    1e-7-weighted tie-break; unsupported points between hull vertices may be missing
    (finding them is NP-hard in general).
    """
    g, net, load = as_graph(graph), get_network(network), _check_load(load)
    _check_choice("schedule", schedule, SCHEDULES)
    _check_choice("method", method, ("auto", "exact", "weighted"))
    c = _costs(g, net, load)
    pts: list[tuple[float, float, np.ndarray]]
    order = g.chain_order()
    if method != "weighted" and order is not None and schedule == "single":
        pts = []
        for j in range(len(order)):
            cloud = np.zeros(len(g), bool)
            cloud[order[j + 1:]] = True
            la, en, _, _ = _eval_mask(g, c, cloud)
            pts.append((la, en, cloud))
        pts = _nondominated(pts)
        how = "exact-cuts"
    elif method != "weighted" and order is not None:
        pts = _pareto_chain_any(g, c)
        how = "exact-labels"
    elif method == "exact" or (method == "auto" and len(g) <= min(BRUTE_FORCE_MAX_NODES, 16)):
        cloud, lat, en, ok = _brute_force_points(g, c)
        idx = np.flatnonzero(ok) if schedule == "single" else np.arange(len(lat))
        pts = _nondominated([(float(lat[i]), float(en[i]), cloud[i]) for i in idx])
        how = "exact-enumeration"
    else:
        pts = _pareto_weighted(g, c, schedule, max_points)
        how = "supported-weighted-sum"
    plans = []
    for la, en, cloud in pts[:max_points] if how == "supported-weighted-sum" else pts:
        p = _plan(g, net, load, cloud, objective="pareto", schedule=schedule, solver=how)
        plans.append(p)
    return plans


def _pareto_weighted(g: Graph, c: _Costs, schedule: str, max_points: int) -> list[tuple[float, float, np.ndarray]]:
    def point(w: tuple[float, float]) -> tuple[float, float, np.ndarray]:
        cloud = _solve_mincut(g, c, w, schedule) if not g.is_chain() else (
            _solve_chain_single(g, c, w) if schedule == "single" else _solve_chain_any(g, c, w))
        la, en, _, _ = _eval_mask(g, c, cloud)
        return la, en, cloud

    # normalise so that the tiny tie-breaking weight is meaningful on both scales
    sl = max(float(c.dev_ms.sum() + c.cloud_ms.sum() + c.up_ms.sum() + c.down_ms.sum()), 1e-9)
    se = max(float(c.dev_mj.sum() + c.idle_mj.sum() + c.up_mj.sum() + c.down_mj.sum()), 1e-9)
    eps = 1e-7
    lo = point((1.0 / sl, eps / se))  # latency-optimal, energy as tie-break
    hi = point((eps / sl, 1.0 / se))  # energy-optimal
    found = [lo, hi]
    stack = [(lo, hi)]
    while stack and len(found) < max_points:
        p, q = stack.pop()
        # weights normal to the segment p–q
        wl, we = p[1] - q[1], q[0] - p[0]
        if wl <= 0 or we <= 0:
            continue
        r = point((wl, we))
        if wl * r[0] + we * r[1] < wl * p[0] + we * p[1] - 1e-9 * (abs(wl * p[0]) + abs(we * p[1]) + 1e-12):
            found.append(r)
            stack.extend([(p, r), (r, q)])
    return _nondominated(found)


# --------------------------------------------------------------------------------------------
# Optional lossless compression of shipped tensors
# --------------------------------------------------------------------------------------------

# The bytes are those of :mod:`hybridlib.wire`, the format ``/split`` decodes: the cost model
# prices exactly what the server would receive (uint8 with scale and zero point).
CODECS = wire.CODECS
quantize = wire.quantize  # re-exported: tensor bytes as shipped, before the lossless codec


def _codec_funcs(codec: str, raw_bytes: int) -> tuple[Any, Any]:
    """(compress, decompress) of ``codec``; decompression is the server's bounded decoder."""
    if codec not in CODECS or codec == "none":
        raise InputError(f"unknown codec {codec!r}; choose one of {', '.join(CODECS[1:])}")
    return (lambda b: wire.compress(b, codec)), (lambda b: wire.decompress(b, codec, raw_bytes))


@dataclass
class CodecMeasure:
    """Measured lossless compression of one tensor (median over ``repeats``)."""

    codec: str
    dtype: str
    elements: int
    raw_bytes: int
    wire_bytes: int
    compress_ms: float
    decompress_ms: float

    @property
    def ratio(self) -> float:
        return self.raw_bytes / max(self.wire_bytes, 1)

    def to_dict(self) -> dict[str, Any]:
        return {"codec": self.codec, "dtype": self.dtype, "elements": self.elements,
                "raw_bytes": self.raw_bytes,
                "wire_bytes": self.wire_bytes, "ratio": self.ratio,
                "compress_ms": self.compress_ms, "decompress_ms": self.decompress_ms}


def measure_codec(x: np.ndarray, codec: str, dtype: str = "float32", repeats: int = 3) -> CodecMeasure:
    """Compress and decompress ``x`` and check the round trip is lossless (bytes identical)."""
    raw = quantize(x, dtype)
    if codec == "none":
        return CodecMeasure(codec, dtype, int(np.size(x)), len(raw), len(raw), 0.0, 0.0)
    comp, decomp = _codec_funcs(codec, len(raw))
    tc, td = [], []
    out = b""
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = comp(raw)
        t1 = time.perf_counter()
        back = decomp(out)
        t2 = time.perf_counter()
        tc.append((t1 - t0) * 1000)
        td.append((t2 - t1) * 1000)
        if back != raw:  # pragma: no cover - would be a codec bug
            raise RuntimeError(f"{codec} round trip is not lossless")
    return CodecMeasure(codec, dtype, int(np.size(x)), len(raw), len(out),
                        float(np.median(tc)), float(np.median(td)))


def with_compression(graph: Graph | Mapping[str, Any], measures: Mapping[str, CodecMeasure],
                     device_slowdown: float = 1.0, device_power_w: float = 0.0) -> Graph:
    """A copy of ``graph`` whose shipped tensors are compressed as ``measures`` say.

    ``measures`` maps node id → :class:`CodecMeasure` taken on this machine (the cloud side).
    The device side is ``device_slowdown`` times slower at (de)compressing; its codec time
    costs ``device_power_w`` (W·ms = mJ). Uplink: compress on device + decompress in cloud;
    downlink: the reverse. ``dtype`` other than float32 changes the bytes on the wire too
    (float16/uint8 are lossy — compression itself is lossless).
    """
    g = as_graph(graph)
    nodes = []
    for n in g.nodes:
        m = measures.get(n.id)
        if m is None or m.codec == "none" and m.dtype == "float32":
            nodes.append(replace(n))
            continue
        # the measured tensor may be a sample of the layer's output: scale by element count
        scale = (n.out_bytes / 4.0) / max(m.elements, 1)
        up_ms = m.compress_ms * device_slowdown + m.decompress_ms
        down_ms = m.compress_ms + m.decompress_ms * device_slowdown
        nodes.append(replace(
            n, wire_bytes=m.wire_bytes * scale,
            codec_up_ms=up_ms, codec_down_ms=down_ms,
            codec_up_mj=m.compress_ms * device_slowdown * device_power_w,
            codec_down_mj=m.decompress_ms * device_slowdown * device_power_w))
    return Graph(nodes=nodes, edges=list(g.edges), input=g.input, output=g.output,
                 name=f"{g.name}+codec" if g.name else "codec")


# --------------------------------------------------------------------------------------------
# Random graphs (tests, benchmarks)
# --------------------------------------------------------------------------------------------


def random_graph(n: int, rng: np.random.Generator | int = 0, chain: bool = False,
                 edge_prob: float = 0.3, name: str = "") -> Graph:
    """A random connected DAG (or chain) whose input reaches every node and the output is last."""
    rng = np.random.default_rng(rng)
    ids = [f"n{i}" for i in range(n)]
    nodes = []
    for i in range(n):
        nodes.append({"id": ids[i],
                      "device_ms": 0.0 if i == 0 else float(rng.choice([0, rng.gamma(1.5, 4.0)], p=[0.1, 0.9])),
                      "cloud_ms": 0.0 if i == 0 else float(rng.gamma(1.5, 1.0)),
                      "out_bytes": float(rng.choice([0, rng.integers(1, 400_000)], p=[0.05, 0.95])),
                      "device_mj": 0.0 if i == 0 else float(rng.gamma(1.5, 3.0))})
    edges: list[list[str]] = []
    for j in range(1, n):
        if chain:
            edges.append([ids[j - 1], ids[j]])
            continue
        parent = int(rng.integers(0, j))
        edges.append([ids[parent], ids[j]])
        for i in range(j):
            if i != parent and rng.random() < edge_prob:
                edges.append([ids[i], ids[j]])
    return Graph.from_dict({"nodes": nodes, "edges": edges, "input": ids[0], "output": ids[-1],
                            "name": name or ("chain" if chain else "dag") + str(n)})


def random_network(rng: np.random.Generator | int = 0) -> Network:
    rng = np.random.default_rng(rng)
    return Network(uplink_mbps=float(rng.uniform(0.5, 60)), downlink_mbps=float(rng.uniform(0.5, 100)),
                   rtt_ms=float(rng.choice([0.0, rng.uniform(1, 200)])),
                   p_tx_w=float(rng.uniform(0, 5)), p_rx_w=float(rng.uniform(0, 3)),
                   p_idle_w=float(rng.choice([0.0, rng.uniform(0, 1.5)])), name="random")
