"""Partition engine: exactness against brute force, hand-checked toys, validation, Pareto."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from hybridlib import partition as P
from hybridlib.partition import cost as PC
from hybridlib.partition import front as PP
from hybridlib.partition import solvers as PS
from hybridlib.utils import InputError

REL = 1e-9


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=REL, abs_tol=1e-9)


# ---------------------------------------------------------------- hand-checked toy cases
def toy_chain() -> P.Graph:
    # input(1000 B) → a (dev 10, cloud 1, out 4000 B) → b (dev 20, cloud 2, out 100 B)
    return P.chain_graph([
        {"id": "input", "device_ms": 0, "cloud_ms": 0, "out_bytes": 1000, "device_mj": 0},
        {"id": "a", "device_ms": 10, "cloud_ms": 1, "out_bytes": 4000, "device_mj": 5},
        {"id": "b", "device_ms": 20, "cloud_ms": 2, "out_bytes": 100, "device_mj": 8},
    ])


NET = P.Network(uplink_mbps=8, downlink_mbps=16, rtt_ms=2, p_tx_w=1.0, p_rx_w=0.5, p_idle_w=0.1)
# up_ms(B) = B*8/8000 + 1 = B/1000 + 1 ; down_ms(B) = B/2000 + 1


def test_toy_evaluate_by_hand():
    g = toy_chain()
    dev = P.evaluate(g, NET, {"input": "device", "a": "device", "b": "device"})
    assert close(dev.latency_ms, 30) and close(dev.energy_mj, 13)
    # cloud-only: up(input) = 2 ms, cloud 3 ms, down(b) = 1.05 ms
    cl = P.evaluate(g, NET, {"input": "device", "a": "cloud", "b": "cloud"})
    assert close(cl.latency_ms, 2 + 3 + 1.05)
    assert close(cl.energy_mj, 1.0 * 2 + 0.5 * 1.05 + 0.1 * 3)
    # split after a: dev 10, up(a) = 5, cloud 2, down(b) 1.05
    sp = P.evaluate(g, NET, {"input": "device", "a": "device", "b": "cloud"})
    assert close(sp.latency_ms, 10 + 5 + 2 + 1.05)
    assert sp.breakdown["bytes_up"] == 4000 and sp.breakdown["bytes_down"] == 100
    # multi-switch: a in cloud, b back on the device: up(input) 2 + 1 + down(a) 3 + 20
    ms = P.evaluate(g, NET, {"input": "device", "a": "cloud", "b": "device"})
    assert close(ms.latency_ms, 2 + 1 + 3 + 20)
    with pytest.raises(InputError, match="single cut"):
        P.evaluate(g, NET, {"input": "device", "a": "cloud", "b": "device"}, schedule="single")


def test_toy_solve_and_load():
    g = toy_chain()
    p = P.solve(g, NET, "latency", "single")
    assert p.placement == {"input": "device", "a": "cloud", "b": "cloud"}
    assert close(p.latency_ms, 6.05)
    # a 20× loaded server makes cloud compute 60 ms: device-only (30 ms) wins
    p = P.solve(g, NET, "latency", "single", load=20)
    assert p.kind == "device-only" and close(p.latency_ms, 30)
    d = p.to_dict()
    assert d["load"] == 20 and d["placement"]["b"] == "device"
    json.dumps(d)


def test_producer_ships_once_to_many_consumers():
    # input → x → {c1, c2, c3} → out ; x on device, all ci in cloud: x's 10 kB go up ONCE
    nodes = [{"id": "input", "device_ms": 0, "cloud_ms": 0, "out_bytes": 1e6},
             {"id": "x", "device_ms": 1, "cloud_ms": 1, "out_bytes": 10_000}]
    nodes += [{"id": f"c{i}", "device_ms": 50, "cloud_ms": 1, "out_bytes": 10} for i in range(3)]
    nodes += [{"id": "out", "device_ms": 1, "cloud_ms": 1, "out_bytes": 10}]
    edges = [["input", "x"]] + [["x", f"c{i}"] for i in range(3)] + [[f"c{i}", "out"] for i in range(3)]
    g = P.Graph.from_dict({"nodes": nodes, "edges": edges, "input": "input", "output": "out"})
    place = {"input": "device", "x": "device", "c0": "cloud", "c1": "cloud", "c2": "cloud", "out": "cloud"}
    p = P.evaluate(g, NET, place)
    assert p.breakdown["n_uplinks"] == 1 and p.breakdown["bytes_up"] == 10_000
    assert close(p.latency_ms, 1 + (10 + 1) + 3 + 1 + (10 / 2000 + 1))
    for sched in P.SCHEDULES:
        best = P.solve(g, NET, "latency", sched, solver="mincut")
        assert best.placement == place
        assert close(best.latency_ms, p.latency_ms)


def test_output_with_consumers_returns_result_once():
    # output node 'o' feeds an extra node 'z'; o in cloud, z on device: one downlink of o
    g = P.Graph.from_dict({"nodes": [
        {"id": "i", "device_ms": 0, "cloud_ms": 0, "out_bytes": 10},
        {"id": "o", "device_ms": 100, "cloud_ms": 1, "out_bytes": 2000},
        {"id": "z", "device_ms": 1, "cloud_ms": 1, "out_bytes": 10}],
        "edges": [["i", "o"], ["o", "z"]], "input": "i", "output": "o"})
    p = P.evaluate(g, NET, {"i": "device", "o": "cloud", "z": "device"})
    assert p.breakdown["n_downlinks"] == 1 and p.breakdown["bytes_down"] == 2000


def test_energy_idle_power_counts_cloud_time():
    g = toy_chain()
    net0 = P.Network(uplink_mbps=8, downlink_mbps=16, rtt_ms=2, p_tx_w=1.0, p_rx_w=0.5, p_idle_w=0.0)
    a = P.evaluate(g, net0, {"input": "device", "a": "cloud", "b": "cloud"})
    b = P.evaluate(g, NET, {"input": "device", "a": "cloud", "b": "cloud"})
    assert close(b.energy_mj - a.energy_mj, 0.1 * 3)
    c = P.evaluate(g, NET, {"input": "device", "a": "cloud", "b": "cloud"}, load=2)
    assert close(c.energy_mj - a.energy_mj, 0.1 * 6)


# ---------------------------------------------------------------- brute-force agreement
CASES = [(seed, chain) for seed in range(110) for chain in (False, True)]


@pytest.mark.parametrize("seed,chain", CASES)
def test_solvers_match_brute_force(seed: int, chain: bool):
    rng = np.random.default_rng(1000 + seed)
    n = int(rng.integers(2, 11))
    g = P.random_graph(n, rng, chain=chain, edge_prob=float(rng.uniform(0.1, 0.6)))
    net = P.random_network(rng)
    load = float(rng.choice([1.0, rng.uniform(0.5, 8.0)]))
    c = PC.cost_arrays(g, net, load)
    cloud, lat, en, ok = PS.brute_force_points(g, c)
    for obj, vals in (("latency", lat), ("energy", en)):
        for sched in P.SCHEDULES:
            best = float(np.min(np.where(ok, vals, np.inf)) if sched == "single" else np.min(vals))
            solvers = ["auto", "mincut", "brute"]
            if chain:
                solvers += ["shortest_path"] + (["argmin"] if sched == "single" else [])
            for solver in solvers:
                p = P.solve(g, net, obj, sched, load=load, solver=solver)
                assert close(p.value(obj), best), (solver, obj, sched, p.value(obj), best)
                # the reported plan is what the cost model says about its placement
                again = P.evaluate(g, net, p.placement, load=load, schedule=sched)
                assert close(again.latency_ms, p.latency_ms) and close(again.energy_mj, p.energy_mj)


@pytest.mark.parametrize("seed", range(40))
def test_both_mincut_backends_exact_and_scipy_certifies(seed: int):
    rng = np.random.default_rng(7000 + seed)
    g = P.random_graph(int(rng.integers(2, 13)), rng, edge_prob=float(rng.uniform(0.1, 0.5)))
    net = P.random_network(rng)
    c = PC.cost_arrays(g, net, float(rng.uniform(0.3, 3)))
    _, lat, en, ok = PS.brute_force_points(g, c)
    for w in ((1.0, 0.0), (0.0, 1.0), (float(rng.uniform()), float(rng.uniform()))):
        vals = w[0] * lat + w[1] * en
        for sched in P.SCHEDULES:
            best = float(np.min(np.where(ok, vals, np.inf)) if sched == "single" else np.min(vals))
            N, S, T, src, dst, cap = PS._cut_network(g, c, w, sched)
            side = PS._mincut_scipy(N, S, T, src, dst, cap)
            assert side is not None, "scipy refinement did not certify"
            for s in (side, PS._mincut_networkx(N, S, T, src, dst, cap)):
                assert s[S] and not s[T]
                la, e, _, _ = PC.evaluate_mask(g, c, ~s[: len(g)])
                assert close(w[0] * la + w[1] * e, best)


def test_mincut_on_larger_dags_matches_brute_force_at_16_nodes():
    for seed in range(6):
        rng = np.random.default_rng(seed)
        g = P.random_graph(16, rng, edge_prob=0.25)
        net = P.random_network(rng)
        c = PC.cost_arrays(g, net, 1.0)
        _, lat, en, ok = PS.brute_force_points(g, c)
        for sched in P.SCHEDULES:
            for obj, vals in (("latency", lat), ("energy", en)):
                best = float(np.min(np.where(ok, vals, np.inf)) if sched == "single" else np.min(vals))
                assert close(P.solve(g, net, obj, sched).value(obj), best)


def test_any_never_worse_than_single_and_single_is_a_cut():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        g = P.random_graph(int(rng.integers(3, 12)), rng)
        net = P.random_network(rng)
        s = P.solve(g, net, "latency", "single")
        a = P.solve(g, net, "latency", "any")
        assert a.latency_ms <= s.latency_ms * (1 + REL) + 1e-12
        assert PC._single_ok(g, np.array([s.placement[i] == "cloud" for i in g.ids]))


# ---------------------------------------------------------------- Pareto
def _brute_front(g, net, sched, load=1.0):
    c = PC.cost_arrays(g, net, load)
    _, lat, en, ok = PS.brute_force_points(g, c)
    idx = np.flatnonzero(ok) if sched == "single" else np.arange(len(lat))
    return PP._nondominated([(float(lat[i]), float(en[i]), None) for i in idx])


@pytest.mark.parametrize("seed", range(40))
def test_pareto_exact_and_contains_optima(seed: int):
    rng = np.random.default_rng(500 + seed)
    chain = bool(seed % 2)
    g = P.random_graph(int(rng.integers(2, 10)), rng, chain=chain)
    net = P.random_network(rng)
    for sched in P.SCHEDULES:
        front = P.pareto(g, net, schedule=sched)
        truth = _brute_front(g, net, sched)
        got = [(p.latency_ms, p.energy_mj) for p in front]
        assert len(got) == len(truth), (got, truth)
        for (l1, e1), (l2, e2, _) in zip(got, truth):
            assert close(l1, l2) and close(e1, e2)
        # every single-objective optimum is (weakly) on the front
        lo = P.solve(g, net, "latency", sched)
        en = P.solve(g, net, "energy", sched)
        assert close(min(x[0] for x in got), lo.latency_ms)
        assert close(min(x[1] for x in got), en.energy_mj)
        # no point of the front is dominated by any feasible placement
        c = PC.cost_arrays(g, net, 1.0)
        _, lat, ene, ok = PS.brute_force_points(g, c)
        feas = ok if sched == "single" else np.ones_like(ok)
        for la, e in got:
            tl, te = 1e-9 * max(1.0, la), 1e-9 * max(1.0, e)
            dom = feas & (lat <= la + tl) & (ene <= e + te) & ((lat < la - tl) | (ene < e - te))
            assert not dom.any()


def test_pareto_weighted_points_are_supported_and_nondominated():
    for seed in range(8):
        rng = np.random.default_rng(seed)
        g = P.random_graph(12, rng, edge_prob=0.3)
        net = P.random_network(rng)
        for sched in P.SCHEDULES:
            w = P.pareto(g, net, schedule=sched, method="weighted")
            truth = _brute_front(g, net, sched)
            for p in w:
                assert any(close(p.latency_ms, la) and close(p.energy_mj, e) for la, e, _ in truth)
            assert close(w[0].latency_ms, truth[0][0]) and close(w[-1].energy_mj, truth[-1][1])


# ---------------------------------------------------------------- validation
GOOD = {"nodes": [{"id": "input", "device_ms": 0, "cloud_ms": 0, "out_bytes": 9216, "device_mj": 0},
                  {"id": "conv1", "device_ms": 3.1, "cloud_ms": 0.4, "out_bytes": 147456, "device_mj": 2.0},
                  {"id": "softmax", "device_ms": 0.1, "cloud_ms": 0.05, "out_bytes": 28, "device_mj": 0.1}],
        "edges": [["input", "conv1"], ["conv1", "softmax"]], "input": "input", "output": "softmax"}


def _bad(**change):
    d = json.loads(json.dumps(GOOD))
    for k, v in change.items():
        d[k] = v
    return d


@pytest.mark.parametrize("graph,msg", [
    (_bad(edges=[["input", "conv1"], ["conv1", "softmax"], ["softmax", "conv1"]]), "cycle: .*conv1"),
    (_bad(edges=[["input", "conv1"], ["conv1", "nope"]]), "dangling edge.*'nope'"),
    (_bad(edges=[["input", "conv1"], ["conv1", "conv1"]]), "self-loop on node 'conv1'"),
    (_bad(input="missing"), "input node 'missing'"),
    (_bad(output=None), "missing output"),
    ({k: v for k, v in GOOD.items() if k != "input"}, "missing input"),
    (_bad(edges=[["input", "conv1"]]), "output node 'softmax' is not reachable"),
    (_bad(edges=[["conv1", "input"], ["input", "softmax"]]), "input node 'input' has incoming"),
    (_bad(nodes=GOOD["nodes"] + [GOOD["nodes"][1]]), "duplicate node id 'conv1'"),
])
def test_bad_graphs_rejected(graph, msg):
    with pytest.raises(InputError, match=msg):
        P.Graph.from_dict(graph)


@pytest.mark.parametrize("field,value", [("device_ms", -1.0), ("cloud_ms", float("nan")),
                                         ("out_bytes", float("inf")), ("device_mj", "3")])
def test_bad_costs_rejected(field, value):
    d = json.loads(json.dumps(GOOD))
    d["nodes"][1][field] = value
    with pytest.raises(InputError, match=f"node 'conv1'.*{field}"):
        P.Graph.from_dict(d)


def test_bad_network_and_args():
    with pytest.raises(InputError, match="uplink_mbps"):
        P.Network(uplink_mbps=0, downlink_mbps=1, rtt_ms=1)
    with pytest.raises(InputError, match="rtt_ms"):
        P.Network(uplink_mbps=1, downlink_mbps=1, rtt_ms=float("nan"))
    with pytest.raises(InputError, match="unknown network '5g'"):
        P.solve(GOOD, "5g")
    with pytest.raises(InputError, match="objective 'speed'"):
        P.solve(GOOD, "wifi", objective="speed")
    with pytest.raises(InputError, match="schedule"):
        P.solve(GOOD, "wifi", schedule="twice")
    with pytest.raises(InputError, match="load"):
        P.solve(GOOD, "wifi", load=0)
    with pytest.raises(InputError, match="input node 'input' must be on the device"):
        P.evaluate(GOOD, "wifi", {"input": "cloud", "conv1": "cloud", "softmax": "cloud"})


def test_network_presets_and_overrides():
    for name in ("3g", "lte", "wifi"):
        net = P.get_network(name)
        assert net.uplink_mbps > 0 and net.p_tx_w > 0 and name in P.NETWORK_SOURCES
    assert P.NETWORKS["3g"].uplink_mbps < P.NETWORKS["lte"].uplink_mbps < P.NETWORKS["wifi"].uplink_mbps
    n = P.get_network("lte", uplink_mbps=1.0, rtt_ms=None)
    assert n.uplink_mbps == 1.0 and n.rtt_ms == P.NETWORKS["lte"].rtt_ms


def test_graph_json_roundtrip(tmp_path):
    g = P.random_graph(9, 3)
    path = g.save(tmp_path / "g.json")
    g2 = P.Graph.load(path)
    assert g2.to_dict() == g.to_dict()
    assert close(P.solve(g2, "lte").latency_ms, P.solve(g, "lte").latency_ms)


def test_compression_lossless_and_in_cost_model():
    rng = np.random.default_rng(0)
    x = np.maximum(rng.normal(size=(1, 12, 12, 32)), 0).astype(np.float32)  # ReLU: many zeros
    for codec in ("zlib", "zstd", "lz4"):
        m = P.measure_codec(x, codec, "float32", repeats=1)
        assert m.raw_bytes == x.size * 4 and m.wire_bytes < m.raw_bytes and m.ratio > 1
    m = P.measure_codec(x, "zlib", "float32", repeats=1)
    g = toy_chain()
    g2 = P.with_compression(g, {"a": m})
    place = {"input": "device", "a": "device", "b": "cloud"}
    p1, p2 = P.evaluate(g, NET, place), P.evaluate(g2, NET, place)
    # the 4000 B of 'a' now travel compressed (scaled to the tensor's element count)
    expect = m.wire_bytes * (4000 / 4) / x.size
    assert close(p2.breakdown["bytes_up"], expect)
    assert close(p2.latency_ms - p1.latency_ms,
                 (expect - 4000) * 8 / 8000 + m.compress_ms + m.decompress_ms)


def test_scale_what_if():
    g = toy_chain()
    g2 = P.scale(g, device=10, cloud=0.5)
    a = P.evaluate(g2, NET, {"input": "device", "a": "device", "b": "cloud"})
    assert close(a.latency_ms, 100 + 5 + 1 + 1.05) and close(a.breakdown["device_compute_mj"], 50)
    with pytest.raises(InputError, match="device scale"):
        P.scale(g, device=0)
