"""``hybridlib partition``: solve where each layer runs, print the plan as JSON (docs/ARCHITECTURE.md, Cost model)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from hybridlib import partition
from hybridlib.utils import InputError, to_jsonable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("partition", help="device/cloud layer partitioning (solve, pareto)",
                       description="Exact device/cloud partitioning of a layer graph "
                                   "(graph JSON as in docs/ARCHITECTURE.md, Cost model).")
    psub = p.add_subparsers(dest="partition_command", metavar="ACTION", required=True)
    for name, helptext in (("solve", "print the best plan as JSON"),
                           ("pareto", "print the latency × energy Pareto front as JSON")):
        s = psub.add_parser(
            name, help=helptext,
            description=f"{helptext.capitalize()}. Network presets (Neurosurgeon's 3G/LTE/Wi-Fi "
                        "uplinks, Huang et al.'s radio power model) can be overridden per field.")
        s.add_argument("graph", help="graph JSON: nodes, edges, input, output")
        s.add_argument("--network", default="wifi",
                       help="3g | lte | wifi (default wifi) or a JSON file with uplink_mbps, "
                            "downlink_mbps, rtt_ms[, p_tx_w, p_rx_w, p_idle_w]")
        s.add_argument("--uplink-mbps", type=float)
        s.add_argument("--downlink-mbps", type=float)
        s.add_argument("--rtt-ms", type=float)
        s.add_argument("--p-tx-w", type=float)
        s.add_argument("--p-rx-w", type=float)
        s.add_argument("--p-idle-w", type=float)
        s.add_argument("--schedule", default="single", choices=["single", "any"],
                       help="single: one cut (Neurosurgeon); any: multi-switch (CollabDNN)")
        s.add_argument("--load", type=float, default=1.0, help="server load multiplier on cloud_ms")
        if name == "solve":
            s.add_argument("--objective", default="latency", choices=["latency", "energy"])
            s.add_argument("--solver", default="auto",
                           choices=["auto", "argmin", "shortest_path", "mincut", "brute"])
        s.set_defaults(func=_solve if name == "solve" else _pareto)


def _network(args: argparse.Namespace):
    net = args.network
    if net.endswith(".json"):
        try:
            net = json.loads(Path(net).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"network file {args.network} does not exist") from None
        except json.JSONDecodeError as e:
            raise InputError(f"network file {args.network}: invalid JSON ({e.msg} at line {e.lineno})") from None
        if not isinstance(net, dict):
            raise InputError(f"network file {args.network}: expected a JSON object")
    return partition.get_network(net, uplink_mbps=args.uplink_mbps,
                                 downlink_mbps=args.downlink_mbps, rtt_ms=args.rtt_ms,
                                 p_tx_w=args.p_tx_w, p_rx_w=args.p_rx_w, p_idle_w=args.p_idle_w)


def _solve(args: argparse.Namespace) -> int:
    g = partition.Graph.load(args.graph)
    plan = partition.solve(g, _network(args), objective=args.objective, schedule=args.schedule,
                           load=args.load, solver=args.solver)
    print(json.dumps(to_jsonable(plan.to_dict()), indent=2))
    return 0


def _pareto(args: argparse.Namespace) -> int:
    g = partition.Graph.load(args.graph)
    front = partition.pareto(g, _network(args), schedule=args.schedule, load=args.load)
    print(json.dumps(to_jsonable([{"latency_ms": p.latency_ms, "energy_mj": p.energy_mj,
                                   "kind": p.kind, "cloud_nodes": p.cloud_nodes} for p in front]),
                     indent=2))
    return 0
