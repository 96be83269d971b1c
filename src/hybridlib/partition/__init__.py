"""Where should each layer run? Graph, cost model and exact solvers.

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
  send data back for free — the flaw of DADS-style implementations, docs/ARCHITECTURE.md, Partitioning pitfalls);
* brute force over all 2^(n-1) placements (vectorised) as the oracle for small graphs.

The energy objective with ``p_idle_w`` > 0 charges cloud compute time on the device's
battery, which is just another unary cost, so the cut stays exact.
"""
from __future__ import annotations

from hybridlib.partition.base import BRUTE_FORCE_MAX_NODES, CLOUD, DEVICE, OBJECTIVES, SCHEDULES, Objective, Schedule
from hybridlib.partition.codec import CODECS, CodecMeasure, measure_codec, quantize, with_compression
from hybridlib.partition.cost import Plan, evaluate
from hybridlib.partition.front import pareto
from hybridlib.partition.graph import Graph, Node, as_graph, chain_graph
from hybridlib.partition.network import NETWORK_SOURCES, NETWORKS, Network, get_network
from hybridlib.partition.solvers import SOLVERS, baselines, scale, solve
from hybridlib.partition.synthetic import random_graph, random_network

__all__ = ["BRUTE_FORCE_MAX_NODES", "CLOUD", "CODECS", "CodecMeasure", "DEVICE", "Graph", "NETWORKS",
           "NETWORK_SOURCES", "Network", "Node", "OBJECTIVES", "Objective", "Plan", "SCHEDULES", "SOLVERS",
           "Schedule", "as_graph", "baselines", "chain_graph", "evaluate", "get_network", "measure_codec",
           "pareto", "quantize", "random_graph", "random_network", "scale", "solve", "with_compression"]
