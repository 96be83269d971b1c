"""Random graphs and networks for tests and benchmarks (labelled synthetic).
"""
from __future__ import annotations

import numpy as np

from hybridlib.partition.graph import Graph
from hybridlib.partition.network import Network


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
