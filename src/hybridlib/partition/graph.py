"""The layer graph: nodes with device/cloud compute, output bytes and device energy.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridlib.partition.base import is_finite_number, as_number
from hybridlib.utils import InputError, write_json_atomic

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
                if not is_finite_number(v) or v < 0:
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
                    kw[k] = as_number(nd[k], f"graph {name!r}: node {nid!r}: {k}")
            for k in _NODE_OPTIONAL:
                if k in nd and nd[k] is not None:
                    kw[k] = as_number(nd[k], f"graph {name!r}: node {nid!r}: {k}")
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
