"""``hybridlib partition``: JSON plans on stdout, clear errors with exit 2 on bad input."""
from __future__ import annotations

import json

import pytest

from hybridlib import cli, partition


@pytest.fixture()
def graph_file(tmp_path):
    return partition.random_graph(9, 4).save(tmp_path / "g.json")


def run(capsys, *argv):
    rc = cli.main(["partition", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_solve_prints_plan_equal_to_library(capsys, graph_file):
    rc, out, _ = run(capsys, "solve", graph_file, "--network", "lte", "--objective", "energy",
                     "--schedule", "any", "--load", "2")
    assert rc == 0
    d = json.loads(out)
    lib = partition.solve(partition.Graph.load(graph_file), "lte", "energy", "any", load=2)
    assert d["placement"] == lib.placement and d["energy_mj"] == pytest.approx(lib.energy_mj, rel=1e-12)
    assert d["network"]["name"] == "lte" and d["load"] == 2


def test_overrides_and_network_file(capsys, graph_file, tmp_path):
    rc, out, _ = run(capsys, "solve", graph_file, "--network", "3g", "--uplink-mbps", "100", "--rtt-ms", "1")
    d = json.loads(out)
    assert rc == 0 and d["network"]["uplink_mbps"] == 100 and d["network"]["rtt_ms"] == 1
    nf = tmp_path / "net.json"
    nf.write_text(json.dumps({"uplink_mbps": 3, "downlink_mbps": 9, "rtt_ms": 40}))
    rc, out, _ = run(capsys, "solve", graph_file, "--network", nf)
    assert rc == 0 and json.loads(out)["network"]["downlink_mbps"] == 9
    rc, out, _ = run(capsys, "pareto", graph_file, "--network", "wifi")
    front = json.loads(out)
    assert rc == 0 and all(a["latency_ms"] <= b["latency_ms"] for a, b in zip(front, front[1:]))


@pytest.mark.parametrize("content,msg", [
    ("{not json", "invalid JSON"),
    ('{"nodes": [], "edges": [], "input": "a", "output": "a"}', "no nodes"),
    ('{"nodes": [{"id": "a", "device_ms": 1, "cloud_ms": 1, "out_bytes": -5}], "edges": [],'
     ' "input": "a", "output": "a"}', "out_bytes"),
    ('{"nodes": [{"id": "a", "device_ms": 1, "cloud_ms": 1, "out_bytes": 5}], "edges": [["a", "b"]],'
     ' "input": "a", "output": "a"}', "dangling edge"),
])
def test_bad_graph_files_exit_2(capsys, tmp_path, content, msg):
    f = tmp_path / "bad.json"
    f.write_text(content)
    rc, out, err = run(capsys, "solve", f)
    assert rc == 2 and out == "" and msg in err and str(f) in err


def test_bad_arguments_exit_2(capsys, graph_file, tmp_path):
    rc, _, err = run(capsys, "solve", tmp_path / "missing.json")
    assert rc == 2 and "does not exist" in err
    rc, _, err = run(capsys, "solve", graph_file, "--network", "5g")
    assert rc == 2 and "unknown network '5g'" in err
    rc, _, err = run(capsys, "solve", graph_file, "--uplink-mbps", "0")
    assert rc == 2 and "uplink_mbps" in err
    rc, _, err = run(capsys, "solve", graph_file, "--load", "-1")
    assert rc == 2 and "load" in err
    rc, _, err = run(capsys, "solve", graph_file, "--solver", "argmin")
    assert rc == 2 and "chain" in err
