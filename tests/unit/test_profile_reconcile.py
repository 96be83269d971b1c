"""Profiles that add up: per-layer costs + a per-inference fixed cost == whole model (else the
partition engine's predictions for a cut cannot match the executed split)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridlib import partition
from hybridlib.profiling import graphs, reconcile
from hybridlib.profiling.layers import time_model_layers
from hybridlib.utils import InputError


@pytest.mark.parametrize("t2, d, fixed", [
    (5.0, 0.5, 2.0),   # half of the residual per layer, half fixed
    (6.0, 0.0, 4.0),   # the head pays the whole residual: all fixed
    (4.0, 1.0, 0.0),   # the head pays exactly its layers' share: all per-layer
    (10.0, 0.0, 4.0),  # a probe slower than the whole: d clamped at 0
    (1.0, 1.0, 0.0),   # a probe faster than its layers: d clamped at R/n
])
def test_reconcile_splits_the_residual_by_the_probe(t2, d, fixed):
    rec = reconcile.reconcile([1.0, 1.0, 1.0, 1.0], 8.0, probes=[(2, t2)])
    assert rec.dispatch_ms == pytest.approx(d) and rec.fixed_ms == pytest.approx(fixed)
    assert sum(rec.layer_ms(1.0) for _ in range(4)) + rec.fixed_ms == pytest.approx(8.0)
    assert rec.residual_ms == pytest.approx(4.0) and rec.scale == 1.0


def test_reconcile_least_squares_over_two_probes():
    # truth: fixed 1, dispatch 0.25 on layers [2, 1, 3, 2] → whole 8 + 1 + 1 = 10
    ms = [2.0, 1.0, 3.0, 2.0]
    truth = lambda k: 1.0 + sum(ms[:k]) + 0.25 * k  # noqa: E731
    rec = reconcile.reconcile(ms, truth(4), probes=[(1, truth(1)), (3, truth(3))])
    assert rec.dispatch_ms == pytest.approx(0.25) and rec.fixed_ms == pytest.approx(1.0)


def test_reconcile_overcounting_layers_are_scaled_down():
    rec = reconcile.reconcile([2.0, 6.0], 4.0, probes=[(1, 1.0)])
    assert rec.scale == pytest.approx(0.5) and rec.fixed_ms == 0 and rec.dispatch_ms == 0
    assert rec.layer_ms(2.0) + rec.layer_ms(6.0) == pytest.approx(4.0)


def test_reconcile_no_probes_is_all_fixed_and_rejects_bad_input():
    rec = reconcile.reconcile([0.5, 0.5], 3.0)
    assert rec.fixed_ms == pytest.approx(2.0) and rec.dispatch_ms == 0
    with pytest.raises(InputError, match="probe"):
        reconcile.reconcile([1.0], 2.0, probes=[(2, 1.0)])
    with pytest.raises(InputError, match="no compute layers"):
        reconcile.reconcile([], 1.0)
    with pytest.raises(InputError, match="model_ms"):
        reconcile.reconcile([1.0], float("nan"))


def test_single_cuts_skip_inception_branches():
    layers = [("input", []), ("a", ["input"]), ("b1", ["a"]), ("b2", ["a"]), ("cat", ["b1", "b2"]),
              ("flat", ["cat"]), ("out", ["flat"])]
    assert reconcile.single_cuts(layers) == ["input", "a", "cat", "flat", "out"]
    chain = [("x", []), ("y", ["x"]), ("z", ["y"])]
    assert reconcile.single_cuts(chain) == ["x", "y", "z"]


@pytest.fixture(scope="module")
def tiny():
    import tf_keras as keras

    L = keras.layers
    inp = keras.Input((16, 16, 1), name="input")
    a = L.Conv2D(8, 3, padding="same", activation="relu", name="a")(inp)
    b1 = L.Conv2D(4, 1, name="b1")(a)
    b2 = L.MaxPooling2D(3, strides=1, padding="same", name="b2")(a)
    c = L.Concatenate(name="cat")([b1, b2])
    d = L.Conv2D(8, 3, padding="same", activation="relu", name="d")(c)
    out = L.Dense(3, activation="softmax", name="out")(L.Flatten(name="flat")(d))
    return keras.Model(inp, out, name="tiny")


def test_real_profile_adds_up_and_graph_charges_fixed_once(tiny):
    rows = time_model_layers(tiny, repeats=5, warmup=1)
    by = {r["layer"]: r for r in rows}
    model_ms = rows[0]["model_ms"]
    total = sum(r["layer_ms"] for r in rows) + rows[0]["fixed_ms"]
    assert total == pytest.approx(model_ms, rel=1e-9)
    # probes were real prefix sub-models at interior single-tensor cuts
    probes = [p.split(":") for p in rows[0]["probes"].split()]
    assert probes and all(0 < int(k) < len(rows) - 1 for k, _ in probes)
    assert all(float(t) > 0 for _, t in probes)
    assert by["input"]["layer_ms"] == 0
    frames = [pd.DataFrame(rows).assign(side=s, backend="tf-cpu", model="tiny", power_w=p,
                                        energy_mj=lambda d, p=p: d["ms"] * p)
              for s, p in (("device", 2.0), ("cloud", 0.0))]
    t = pd.concat(frames, ignore_index=True)
    g = graphs.to_graph(t, "tiny")
    base = partition.baselines(g, "wifi")
    # device-only = the whole model on the device; cloud-only = the whole model in the cloud
    assert base["device-only"].breakdown["device_ms"] == pytest.approx(model_ms, rel=1e-9)
    assert base["cloud-only"].breakdown["cloud_ms"] == pytest.approx(model_ms, rel=1e-9)
    n = {x.id: x for x in g.nodes}
    assert n["a"].meta.get("fixed_device_ms", 0) == pytest.approx(rows[0]["fixed_ms"])
    assert np.isclose(n["a"].device_mj, 2.0 * n["a"].device_ms)
    old = graphs.to_graph(t, "tiny", reconciled=False)
    assert sum(x.device_ms for x in old.nodes) == pytest.approx(sum(r["ms"] for r in rows))
    rt = reconcile.reconciliation_table(t)
    assert (rt["reconciled_ms"] - rt["model_ms"]).abs().max() < 1e-9


def test_old_tables_reconcile_without_probes(tiny):
    rows = time_model_layers(tiny, repeats=1, warmup=0)
    t = pd.concat([pd.DataFrame(rows).assign(side=s, backend="tf-cpu", model="tiny", energy_mj=0.0)
                   for s in ("device", "cloud")], ignore_index=True)
    t = t.drop(columns=["layer_ms", "fixed_ms", "dispatch_ms", "cost_scale", "probes"])
    g = graphs.to_graph(t, "tiny")
    # without probes: all of a positive residual is fixed, an overcount is scaled away
    assert sum(x.device_ms for x in g.nodes) == pytest.approx(rows[0]["model_ms"])


def test_to_graph_picks_the_device_class(tiny):
    rows = time_model_layers(tiny, repeats=1, warmup=0)
    cl = pd.DataFrame(rows).assign(side="cloud", backend="tf-cpu", model="tiny", energy_mj=0.0)
    js = [pd.DataFrame(rows).assign(side="device", backend="tfjs-wasm", model="tiny", cpu_throttle=r,
                                    layer_ms=lambda d, r=r: d["layer_ms"] * r, energy_mj=0.0, power_w=2.0)
          for r in (1.0, 4.0)]
    t = pd.concat([cl, *js], ignore_index=True)
    with pytest.raises(InputError, match="cpu_throttle"):
        graphs.to_graph(t, "tiny", device="tfjs-wasm")
    g1 = graphs.to_graph(t, "tiny", device="tfjs-wasm", cpu_throttle=1)
    g4 = graphs.to_graph(t, "tiny", device="tfjs-wasm", cpu_throttle=4)
    s1 = sum(n.device_ms for n in g1.nodes) - rows[0]["fixed_ms"]
    s4 = sum(n.device_ms for n in g4.nodes) - rows[0]["fixed_ms"]
    assert s4 == pytest.approx(4 * s1)
    with pytest.raises(InputError, match="cpu_throttle 10"):
        graphs.to_graph(t, "tiny", device="tfjs-wasm", cpu_throttle=10)
