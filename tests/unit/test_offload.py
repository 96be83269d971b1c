"""The partition study's tables (notebook 05) agree with partition.solve / baselines directly."""
from __future__ import annotations

import math

import numpy as np
import pytest

from hybridlib import partition
from hybridlib.study.offload import figures as offfig
from hybridlib.study.offload import scenarios as offload
from hybridlib.utils import InputError


def _chain(name: str = "toy"):
    # a big input, a layer that shrinks it a lot, then cheap layers: offloading after "squeeze"
    # pays on a slow device, device-only pays on a fast one
    return partition.chain_graph([
        {"id": "input", "device_ms": 0, "cloud_ms": 0, "out_bytes": 2_000_000, "device_mj": 0},
        {"id": "squeeze", "device_ms": 0.1, "cloud_ms": 0.05, "out_bytes": 1_000, "device_mj": 0.1},
        {"id": "heavy", "device_ms": 1.0, "cloud_ms": 1.0, "out_bytes": 1_000, "device_mj": 1.0},
        {"id": "out", "device_ms": 0.5, "cloud_ms": 0.1, "out_bytes": 28, "device_mj": 0.5},
    ], name=name)


@pytest.fixture(scope="module")
def graphs():
    return {"toy": _chain(), "random": partition.random_graph(8, rng=3, name="random")}


def test_unknown_scenario_names_the_choices():
    with pytest.raises(InputError, match=r"low-end phone \(×10\) \+ fast server"):
        offload.scenario("phone")


def test_scenario_graph_scales_device_only():
    g, load = offload.scenario_graph(_chain(), offload.MAIN_SCENARIO)
    dev, expect_load = offload.SCENARIOS[offload.MAIN_SCENARIO]
    assert load == expect_load
    assert g.nodes[2].device_ms == pytest.approx(1.0 * dev)
    assert g.nodes[2].cloud_ms == pytest.approx(1.0)


def test_choice_table_matches_solve(graphs):
    df = offload.choice_table(graphs)
    n = len(graphs) * len(offload.SCENARIOS) * len(partition.NETWORKS) * 2 * 2
    assert len(df) == n
    for r in df.sample(12, random_state=0).to_dict("records"):
        g, load = offload.scenario_graph(graphs[r["model"]], r["scenario"])
        p = partition.solve(g, r["network"], r["objective"], r["schedule"], load=load)
        assert r["latency_ms"] == pytest.approx(p.latency_ms)
        assert r["energy_mj"] == pytest.approx(p.energy_mj)
        base = partition.baselines(g, r["network"], load=load)
        assert r["speedup_vs_cloud"] == pytest.approx(base["cloud-only"].latency_ms / p.latency_ms)
        assert r["choice"] == (r["cut"] if r["kind"] == "split" else r["kind"])
    # the optimum is never worse than either baseline for its own objective
    lat = df[df.objective == "latency"]
    assert (lat.latency_ms <= np.minimum(lat.device_only_ms, lat.cloud_only_ms) + 1e-9).all()


def test_sensitivity_moves_work_to_the_cloud_as_the_device_slows():
    sens = offload.sensitivity_table({"toy": _chain()}, slowdowns=(1, 1000))
    wifi = sens[sens.network == "wifi"].set_index("device_slowdown")["choice"]
    assert wifi[1] == "device-only"
    assert wifi[1000] == "squeeze"  # ship the small tensor after the cheap squeeze


def test_multi_switch_never_loses(graphs):
    gain = offload.multi_switch_gain(offload.choice_table(graphs))
    assert (gain.latency_gain_pct >= -1e-9).all()
    assert len(gain) == len(graphs) * len(offload.SCENARIOS) * len(partition.NETWORKS) * 2


def test_load_sweep_best_is_at_most_each_baseline(graphs):
    sw = offload.load_sweep(graphs, loads=[0.1, 1.0, 10.0])
    piv = sw.pivot_table(index=["model", "load"], columns="plan", values="latency_ms")
    assert (piv["best"] <= np.minimum(piv["device-only"], piv["cloud-only"]) + 1e-9).all()
    # cloud-only gets slower as the server gets busier
    for m in graphs:
        c = piv.loc[m, "cloud-only"]
        assert c.is_monotonic_increasing


def test_pareto_table_endpoints_match_single_objective_optima():
    g = {"toy": _chain()}
    fronts = offload.pareto_table(g)
    sub = fronts[(fronts.network == "lte") & (fronts.schedule == "single")]
    gg, load = offload.scenario_graph(g["toy"], offload.MAIN_SCENARIO)
    best_lat = partition.solve(gg, "lte", "latency", "single", load=load).latency_ms
    assert sub.latency_ms.min() == pytest.approx(best_lat)


def test_compression_table_and_result_record(graphs):
    rng = np.random.default_rng(0)
    acts = {"a": np.maximum(rng.normal(size=(1, 6, 6, 4)), 0).astype(np.float32)}
    codecs, measures = offload.compression_table(acts, repeats=1)
    assert set(codecs.codec) == {"zlib", "zstd", "lz4"} and set(codecs.dtype) == {"float32", "float16"}
    assert set(measures) == {"a"} and measures["a"].codec == "zstd"
    comp = offload.compression_plans({"raw": graphs["toy"]})
    choices = offload.choice_table(graphs)
    rec = offload.result_record(choices, offload.sensitivity_table(graphs), offload.multi_switch_gain(choices),
                                offload.pareto_table(graphs), offload.load_sweep(graphs, [1.0]), codecs, comp)
    assert rec["scenarios"][offload.MAIN_SCENARIO] == {"device_slowdown": offload.PHONE, "load": 0.1}
    assert math.isfinite(rec["median_solve_ms"]) and len(rec["choices"]) == len(choices)


def test_plan_figure_colours_each_layer_by_its_side():
    import matplotlib

    matplotlib.use("Agg")
    g = _chain()
    fig = offfig.plan_figure(g, uplink=5.85, rtt=70, load=0.1, device=1000)
    bars = fig.axes[0].patches
    assert len(bars) == len(g.nodes)
    p = partition.solve(partition.scale(g, device=1000), partition.get_network("lte", uplink_mbps=5.85, rtt_ms=70),
                        "latency", "single", load=0.1)
    orange = matplotlib.colors.to_rgba("tab:orange")
    assert [b.get_facecolor() == orange for b in bars] == [p.placement[n.id] == "cloud" for n in g.nodes]
