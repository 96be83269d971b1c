"""The choice study (notebook 11) on a synthetic cost world: the engine's pick, the executed
best, out-of-sample calibration, the discriminating cases and 003's table layout."""
from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest

from hybridlib import partition
from hybridlib.study.choice import (
    cuts,
    engine,
    networks,
    overhead,
    run,
    score,
    seed003,
    sizes,
    table,
)
from hybridlib.study.choice import execute as choice_execute
from hybridlib.study.split import predict
from hybridlib.study.split.seeds import seed_applies
from hybridlib.utils import InputError

#: a chain where an interior cut must win on Wi-Fi: the input and conv maps are big to ship,
#: fc is slow on the device, pool's output is small and cheap to reach
WORLD = [("input", 0.0, 0.0, 600_000), ("conv", 8.0, 0.8, 2_000_000), ("pool", 2.0, 0.2, 4_000),
         ("fc", 300.0, 3.0, 4_000), ("out", 1.0, 0.1, 40)]
POINTS = [n for n, *_ in WORLD]
CELLS = (("phone", "wifi", "idle"), ("desktop", "wifi", "idle"))
CASES = [("synthetic", d, n, load) for d, n, load in CELLS]
UP_MBPS, RTT_MS = 18.88, 20.0  # the stand-in's own link (the Wi-Fi preset's numbers)


@pytest.fixture(autouse=True)
def synthetic_registry(monkeypatch):
    reg = {"synthetic": networks.Net("synthetic", "DIG", "synthetic chain", "vision", "DIG")}
    monkeypatch.setattr(networks, "registry", lambda: reg)


def world_graph() -> partition.Graph:
    nodes = [{"id": n, "device_ms": d, "cloud_ms": c, "out_bytes": b} for n, d, c, b in WORLD]
    edges = [[a[0], b[0]] for a, b in pairwise(WORLD)]
    return partition.Graph.from_dict({"nodes": nodes, "edges": edges, "input": "input", "output": "out",
                                      "name": "synthetic"})


def stand_in_grid(model, cut_list, *, devices, networks, load, repeats, warmup, seed=0, **_kw):
    """A stand-in executor: measures each cut of WORLD by its own arithmetic (device a little
    slower than profiled, upload = bytes / link rate + RTT, fixed download), never the engine's."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in devices:
        for n in networks:
            for c in cut_list:
                k = POINTS.index(c)
                dev = 1.1 * sum(w[1] for w in WORLD[1:k + 1])
                cloud = sum(w[2] for w in WORLD[k + 1:])
                device_only = c == POINTS[-1]
                up = 0.0 if device_only else WORLD[k][3] * 8 / (UP_MBPS * 1e3) + RTT_MS
                down = 0.0 if device_only else 5.0
                for rep in range(repeats):
                    noise = float(rng.normal(0, 0.5))
                    rows.append({"model": model, "cut": c, "device": d, "network": n, "load": load, "rep": rep,
                                 "shaper": "stand-in", "backend": "stand-in", "head_ms": dev, "encode_ms": 0.0,
                                 "upload_ms": up, "tail_ms": cloud, "download_ms": down, "decode_ms": 0.0,
                                 "total_ms": dev + up + cloud + down + abs(noise), "up_bytes": WORLD[k][3],
                                 "down_bytes": 40, "load_factor": 1.0})
    df = pd.DataFrame(rows)
    df.attrs.update(input_seed=seed, device={}, link={})
    return df


def probe_rows(factor: float = 1.5) -> pd.DataFrame:
    ms = [factor * sum(w[2] for w in WORLD)] * 3
    return pd.DataFrame({"role": "probe", "run_id": "probe:synthetic:idle", "model": "synthetic", "load": "idle",
                         "input_seed": engine.PROBE_SEED, "cut": "input", "rep": range(3), "server_ms": ms})


def synthetic_plan(probe: pd.DataFrame | None = None) -> run.Plan:
    graphs = {("synthetic", d): world_graph() for d, _n, _l in CELLS}
    size = sizes.ChoiceSize("test", networks=("synthetic",), cells=CELLS, repeats=5, warmup=0)
    return run.decide(size, CASES, graphs, {"synthetic": POINTS}, probe_rows() if probe is None else probe)


def test_interior_cut_is_picked_by_the_engine_and_measured_fastest():
    p = synthetic_plan()
    assert set(p.picks["latency_pick"]) == {"pool"}  # the engine, both calibrations
    ex = run.execute(None, p, run_grid=stand_in_grid)
    sc = run.score(p, ex)
    for eng in engine.ENGINES:
        c = sc.cases[eng]
        assert (c["best"] == "pool").all() and (c["chosen"] == "pool").all()  # the executor agrees
        assert c["hit"].all() and (c["regret"] == 0).all() and c["discriminating"].all()
        assert sc.summary[eng]["discriminating"]["n"] == len(CASES)
        lo, hi = sc.summary[eng]["overall"]["hit_ci"]
        assert 0 < lo < 1 == hi  # a Wilson interval, not a bare 2/2
    assert (sc.cases["uncalibrated"]["chosen_pos"] == 0.5).all()


def test_calibration_rows_and_scored_rows_are_disjoint():
    p = synthetic_plan()
    assert p.calibration.factors[("synthetic", "idle")] == pytest.approx(1.5)
    ex = run.execute(None, p, run_grid=stand_in_grid)
    ev = engine.check_disjoint(p.calibration, ex.records)
    assert ev["disjoint"] and not set(ev["calibration_runs"]) & set(ev["scored_runs"])
    assert ev["calibration_input_seeds"] == [engine.PROBE_SEED] and ev["scored_input_seeds"] == [0]
    # scoring never feeds back into the calibration: a slower scored cloud changes no factor or pick
    slow = ex.records.assign(tail_ms=ex.records["tail_ms"] * 10)
    again = run.score(p, choice_execute.Executed(slow, ex.runs))
    assert p.calibration.factors[("synthetic", "idle")] == pytest.approx(1.5)
    assert list(again.cases["calibrated"]["chosen"]) == list(run.score(p, ex).cases["calibrated"]["chosen"])
    # a probe on the scored input, or scored rows handed in as calibration, is refused
    with pytest.raises(InputError, match="overlap"):
        engine.check_disjoint(engine.Calibration(probe_rows().assign(input_seed=0), {}), ex.records)
    with pytest.raises(InputError, match="probe"):
        engine.calibrate(ex.records.assign(server_ms=1.0), p.graphs)


def test_discriminating_cases_definition():
    comp = pd.DataFrame({"best_kind": ["split", "device-only", "cloud-only", "device-only"],
                         "measured_device_only_ms": [500.0, 100.0, 300.0, 10.0],
                         "measured_cloud_only_ms": [90.0, 150.0, 150.0, 100.0]})
    assert list(score.discriminating(comp)) == [True, True, True, False]  # interior; 1.5×; exactly 2×; 10×


def test_choice_table_layout_and_seed_column():
    rows = [("synthetic", d, n, "idle", c) for d, n, c in
            (("phone", "wifi", "pool"), ("desktop", "3g", "out"), ("phone", "3g", "input"), ("desktop", "wifi", "fc"))]
    cases = pd.DataFrame(rows, columns=["model", "device", "network", "load", "chosen"])
    t = table.layout(cases, "chosen")
    assert t.index.names == ["load", "device", "network"] and list(t.columns) == ["DIG"]
    assert list(t.index) == [("idle", "desktop", "3g"), ("idle", "desktop", "wifi"),
                             ("idle", "phone", "3g"), ("idle", "phone", "wifi")]
    assert t.loc[("idle", "phone", "wifi"), "DIG"] == "pool"
    seed = table.seed_cells(cases)  # 003's mobile CPU row beside our phone class only
    assert seed.loc[("idle", "phone", "wifi"), "DIG"] == seed003.cell("latency", "CPU", "Wi-Fi", "DIG") == "input"
    assert seed.loc[("idle", "phone", "3g"), "DIG"] == "argmax"
    assert seed.loc[("idle", "desktop", "wifi"), "DIG"] == ""
    assert (table.seed_cells(cases, "energy") == "").all().all()  # modelled energy ≠ 003's measured-power basis
    q = table.quote("latency")
    assert q.shape == (6, 8) and q.loc[("GPU", "Wi-Fi"), "IMC"] == "pool5"


def test_seed_rule_keeps_a_two_network_mean_from_an_eight_network_one():
    every = {"networks": ("3g", "lte", "wifi"), "models": seed003.BENCHMARKS, "basis": seed003.HEADLINE_BASIS}
    # 003's mean spans its mobile CPU and GPU: with a counterpart for both it would apply ...
    assert seed003.headline_value("mean", {**every, "device": ("phone", "mobile GPU")}) == (3.1, [])
    assert seed003.headline_value("max", {**every, "device": ("phone", "mobile GPU")})[0] == 40.7
    # ... our phone class alone (003's CPU rows) never gets it, nor a 2-network or a 2-link mean
    for ours, key in (({**every, "device": "phone"}, "device"),
                      ({**every, "device": ("phone", "mobile GPU"), "models": ("DIG", "ASR")}, "models"),
                      ({**every, "device": ("phone", "mobile GPU"), "networks": ("lte", "wifi")}, "networks"),
                      ({**every, "device": ("phone", "mobile GPU"), "basis": "predicted"}, "basis")):
        v, why = seed003.headline_value("mean", ours)
        assert v is None and [w.split(":")[0] for w in why] == [key]
    assert seed_applies(seed003.HEADLINE["mean"], {**every, "device": "desktop"})[0] is False


def test_headline_rows_hold_the_pick_over_both_ends_per_network_and_device():
    p = synthetic_plan()
    sc = run.score(p, run.execute(None, p, run_grid=stand_in_grid))
    c = sc.cases["uncalibrated"]
    rows = {r["device"]: r for r in sc.headline}
    assert set(rows) == {"phone", "desktop"} and all(r["n_networks"] == 1 and r["cases"] == 1 for r in rows.values())
    for dev, r in rows.items():
        x = c[c["device"] == dev].iloc[0]
        assert r["ours_mean"] == pytest.approx(x["measured_cloud_only_ms"] / x["measured_chosen_ms"])
        assert r["vs_device_mean"] == pytest.approx(x["measured_device_only_ms"] / x["measured_chosen_ms"])
        assert r["ours_mean"] > 1 and r["vs_device_mean"] > 1  # the interior cut beats both ends here
        assert r["seed_mean"] is None and r["seed_value"] is None and r["differs"]


def test_cut_sample_is_documented_and_independent_of_the_engine():
    pts = [f"l{i}" for i in range(40)]
    a = cuts.choose("big", pts, ["l17"], max_cuts=30, n=8, seed=3)
    b = cuts.choose("big", pts, ["l30"], max_cuts=30, n=8, seed=3)
    assert a.sampled and a.random == b.random and len(a.random) == 6
    assert {"l0", "l39", "l17"} <= set(a.cuts) and a.label == f"best of {len(a.cuts)} of 40 cuts"
    small = cuts.choose("small", POINTS, ["pool"])
    assert small.cuts == tuple(POINTS) and small.label == "all 5 cuts"
    assert cuts.position(POINTS, "input") == 0 and cuts.position(POINTS, "out") == 1
    assert cuts.ours_for_seed("POS", "input", ["input", "ids", "window", "fc3"]) == "window"
    assert cuts.ours_for_seed("IMC", "pool5", ["input", "pool5", "fc8"]) == "pool5"


def test_sizes_are_keyed_by_preset():
    assert set(sizes.SIZES) == {"smoke", "quick", "full"}
    smoke = sizes.size_for("smoke")
    assert len(smoke.networks) == 1 and len(smoke.cells) == 2
    quick = sizes.size_for("quick")
    assert {"dig", "asr", "pos", "ner", "chk"} <= set(quick.networks)
    assert {d for d, _n, _l in quick.cells} == {"phone", "lowend"}  # the low-end class brings the ends closer
    assert len(sizes.size_for("full").cells) == 3 * 3 * 2
    with pytest.raises(InputError):
        sizes.size_for("huge")


def test_executions_cover_exactly_the_cells():
    grid = [("m", d, n, "idle") for d in ("phone", "lowend") for n in ("3g", "wifi")]
    assert choice_execute.groups(grid) == [("m", "idle", ["phone", "lowend"], ["3g", "wifi"])]
    ragged = [("m", "phone", "wifi", "idle"), ("m", "lowend", "3g", "idle"), ("m", "phone", "wifi", "loaded")]
    assert choice_execute.groups(ragged) == [("m", "idle", ["phone"], ["wifi"]), ("m", "idle", ["lowend"], ["3g"]),
                                             ("m", "loaded", ["phone"], ["wifi"])]


#: a world where only the page's offload overhead decides: fc is 40 ms on the device, 1 ms in the
#: cloud, every tensor tiny — over Wi-Fi (20 ms RTT) cloud-only is ~21 ms by the link model, but each
#: real offload also pays OFFLOAD_MS on the page, so device-only (41 ms) is the true best
OV_WORLD = [("input", 0.0, 0.0, 40), ("fc", 40.0, 1.0, 40), ("out", 1.0, 0.1, 40)]
OV_POINTS = [n for n, *_ in OV_WORLD]
OFFLOAD_MS, PER_BYTE_MS, PER_BYTE_DOWN_MS = 45.0, 1e-5, 4e-5
OV_CASES = [("synthetic", "lowend", "wifi", "idle")]


def ov_graph() -> partition.Graph:
    nodes = [{"id": n, "device_ms": d, "cloud_ms": c, "out_bytes": b} for n, d, c, b in OV_WORLD]
    return partition.Graph.from_dict({"nodes": nodes, "edges": [[a[0], b[0]] for a, b in pairwise(OV_WORLD)],
                                      "input": "input", "output": "out", "name": "ov"})


def ov_grid(model, cut_list, *, devices, networks, load, repeats, warmup, seed=0, **_kw):
    """The stand-in executor of OV_WORLD: its own arithmetic, every offload paying OFFLOAD_MS on the page."""
    rows = []
    for d in devices:
        for n in networks:
            for c in cut_list:
                k = OV_POINTS.index(c)
                dev = sum(w[1] for w in OV_WORLD[1:k + 1])
                off = c != OV_POINTS[-1]
                up = OV_WORLD[k][3] * 8 / (UP_MBPS * 1e3) + RTT_MS / 2 if off else 0.0
                down, cloud = (RTT_MS / 2, sum(w[2] for w in OV_WORLD[k + 1:])) if off else (0.0, 0.0)
                for rep in range(repeats):
                    rows.append({"model": model, "cut": c, "device": d, "network": n, "load": load, "rep": rep,
                                 "shaper": "stand-in", "backend": "stand-in", "head_ms": dev, "encode_ms": 0.0,
                                 "upload_ms": up, "tail_ms": cloud, "download_ms": down, "decode_ms": 0.0,
                                 "total_ms": dev + up + cloud + down + (OFFLOAD_MS if off else 0.0),
                                 "up_bytes": OV_WORLD[k][3] if off else 0, "down_bytes": 40 if off else 0,
                                 "load_factor": 1.0})
    df = pd.DataFrame(rows)
    df.attrs.update(input_seed=seed, device={}, link={})
    return df


def overhead_rows(device: str = "lowend", seed: int = engine.PROBE_SEED) -> pd.DataFrame:
    """What overhead.measure records: cloud-only round trips (total − server = the overhead) and
    the two upload and download sizes, on the held-out input, in the overhead profile's own run."""
    bytes_ms = (PER_BYTE_MS + PER_BYTE_DOWN_MS) * 40
    base = {"role": "overhead", "run_id": "overhead:synthetic", "model": "synthetic", "device": device,
            "input_seed": seed}
    split = [{**base, "kind": "split", "rep": i, "up_bytes": 40, "down_bytes": 40, "server_ms": 1.1,
              "total_ms": 1.1 + o + bytes_ms, "overhead_ms": o + bytes_ms}
             for i, o in enumerate((OFFLOAD_MS - 3, OFFLOAD_MS, OFFLOAD_MS + 9))]
    up = [{**base, "kind": "upload", "rep": i, "up_bytes": n, "down_bytes": 0, "server_ms": 0.0,
           "total_ms": 10 + PER_BYTE_MS * n + i, "overhead_ms": 10 + PER_BYTE_MS * n + i}
          for i in range(3) for n in overhead.PROBE_BYTES]
    down = [{**base, "kind": "download", "rep": i, "up_bytes": 0, "down_bytes": n, "server_ms": 0.0,
             "total_ms": 5 + PER_BYTE_DOWN_MS * n - i, "overhead_ms": 5 + PER_BYTE_DOWN_MS * n - i}
            for i in range(3) for n in overhead.PROBE_BYTES]
    return pd.DataFrame(split + up + down, columns=list(overhead.COLUMNS))


def test_offload_overhead_from_its_rows_and_priced_on_offloading_cuts_only():
    ov = overhead.from_rows(overhead_rows())
    assert ov.per_byte_ms["lowend"] == pytest.approx(PER_BYTE_MS)  # the upload slope
    assert ov.per_byte_down_ms["lowend"] == pytest.approx(PER_BYTE_DOWN_MS)  # the download slope
    assert ov.fixed_ms["lowend"] == pytest.approx(OFFLOAD_MS)  # the median round trip less its bytes' cost
    assert ov.answer_bytes == {"synthetic": 40} and ov.offload_ms("lowend", "synthetic") == pytest.approx(
        OFFLOAD_MS + PER_BYTE_DOWN_MS * 40)
    g, raw = ov_graph(), partition.get_network("wifi")
    priced = ov.network("wifi", "lowend", "synthetic")
    every = OFFLOAD_MS + (PER_BYTE_MS + PER_BYTE_DOWN_MS) * 40
    for cut, extra in (("input", every), ("fc", every), ("out", 0.0)):
        place = predict.cut_placement(g, cut)
        a = partition.evaluate(g, raw, place, schedule="single").latency_ms
        b = partition.evaluate(g, priced, place, schedule="single").latency_ms
        assert b - a == pytest.approx(extra)  # every offload pays it once, device-only never
    assert ov.network("wifi", "phone", "synthetic") == raw  # a class it never profiled: the link alone
    with pytest.raises(InputError, match="overhead"):
        overhead.from_rows(overhead_rows().assign(role="scored"))
    with pytest.raises(InputError, match="two body sizes"):
        rows = overhead_rows()
        overhead.from_rows(rows[rows["kind"] != "upload"].pipe(lambda r: pd.concat([r, overhead_rows().iloc[3:4]])))


def test_only_the_offload_overhead_flips_the_choice_to_device_only():
    graphs = {("synthetic", "lowend"): ov_graph()}
    size = sizes.ChoiceSize("test", networks=("synthetic",), cells=(("lowend", "wifi", "idle"),), repeats=3, warmup=0)
    probe = pd.DataFrame({"role": "probe", "run_id": "probe:synthetic:idle", "model": "synthetic", "load": "idle",
                          "input_seed": engine.PROBE_SEED, "cut": "input", "rep": range(3), "server_ms": 1.1})
    blind = run.decide(size, OV_CASES, graphs, {"synthetic": OV_POINTS}, probe)
    priced = run.decide(size, OV_CASES, graphs, {"synthetic": OV_POINTS}, probe,
                        overhead=overhead.from_rows(overhead_rows()))
    assert set(blind.picks["latency_pick"]) == {"input"}  # the link model alone: cloud-only (~21 ms < 41 ms)
    assert set(priced.picks["latency_pick"]) == {"out"}  # the overhead priced: device-only
    for p, hit in ((blind, False), (priced, True)):
        ex = run.execute(None, p, run_grid=ov_grid)
        sc = run.score(p, ex)
        for eng in engine.ENGINES:
            c = sc.cases[eng]
            assert (c["best"] == "out").all() and bool(c["hit"].all()) is hit  # the executor: device-only wins
    # the overhead rows are part of the disjointness evidence, and refused on the scored input
    ex = run.execute(None, priced, run_grid=ov_grid)
    ab = run.overhead_ablation(priced, ex)  # the same records, the overhead unpriced: the old miss
    assert ab["scored"] and ab["picks_changed"] == 1 and ab["overall"]["hits"] == 0 and ab["overall"]["n"] == 1
    ev = engine.check_disjoint(priced.calibration, ex.records, priced.overhead.rows)
    assert ev["overhead_runs"] == ["overhead:synthetic"] and ev["overhead_input_seeds"] == [engine.PROBE_SEED]
    with pytest.raises(InputError, match="overhead and scored rows overlap"):
        engine.check_disjoint(priced.calibration, ex.records, overhead_rows(seed=0))
