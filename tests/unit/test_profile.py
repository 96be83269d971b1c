"""Per-layer profiling: graph conversion, tables, timing on a tiny model (in-process)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hybridlib import partition
from hybridlib.profiling import graphs, layers, tables, timing
from hybridlib.utils import InputError


@pytest.fixture(scope="module")
def tiny():
    import tf_keras as keras

    L = keras.layers
    inp = keras.Input((8, 8, 1), name="input")
    a = L.Conv2D(4, 3, padding="same", name="a")(inp)
    b1 = L.Conv2D(2, 1, name="b1")(a)
    b2 = L.MaxPooling2D(3, strides=1, padding="same", name="b2")(a)
    c = L.Concatenate(name="cat")([b1, b2])
    out = L.Dense(3, activation="softmax", name="out")(L.Flatten(name="flat")(c))
    return keras.Model(inp, out)


def test_time_model_layers_rows(tiny):
    rows = layers.time_model_layers(tiny, repeats=3, warmup=1)
    by = {r["layer"]: r for r in rows}
    assert [r["layer"] for r in rows] == [l.name for l in tiny.layers]
    assert by["input"]["ms"] == 0 and by["input"]["inputs"] == []
    assert sorted(by["cat"]["inputs"]) == ["b1", "b2"]
    assert by["a"]["out_bytes"] == 8 * 8 * 4 * 4 and by["cat"]["out_shape"] == [8, 8, 6]
    for r in rows[1:]:
        assert r["ms"] >= 0 and r["ms_raw"] >= r["ms"] and len(r["ms_all"]) == 3
        assert r["ms_min"] <= r["ms_raw"]


def _table(rows, model="tiny"):
    frames = []
    for side, scale in (("device", 3.0), ("cloud", 1.0)):
        df = pd.DataFrame(rows).assign(side=side, backend="tf-cpu", model=model)
        df["ms"] = df["ms"] * scale + (df["index"] > 0) * 0.1 * scale
        df["energy_mj"] = df["ms"] * 2.0 if side == "device" else 0.0
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def test_to_graph_is_the_keras_dag(tiny, tmp_path):
    rows = layers.time_model_layers(tiny, repeats=1, warmup=0)
    t = _table(rows)
    g = graphs.to_graph(t, "tiny")
    assert g.input == "input" and g.output == "out" and not g.is_chain()
    assert set(g.edges) == {("input", "a"), ("a", "b1"), ("a", "b2"), ("b1", "cat"), ("b2", "cat"),
                            ("cat", "flat"), ("flat", "out")}
    n = {x.id: x for x in g.nodes}
    assert n["a"].out_bytes == 1024 and np.isclose(n["a"].device_mj, 2.0 * n["a"].device_ms)
    p = partition.solve(g, "wifi", "latency", "any")
    assert set(p.placement) == set(g.ids)
    # tables round-trip through parquet with list columns intact
    path = tables.save_table(t, tmp_path / "prof")
    back = tables.load_table(path)
    assert back["inputs"].tolist() == t["inputs"].tolist()
    assert (tmp_path / "prof.csv").is_file()
    g2 = graphs.keras_graph(tiny, {"a": 1.0}, {"a": 0.5})
    assert set(g2.edges) == set(g.edges) and g2.nodes[1].device_ms == 1.0


def test_to_graph_rejects_missing_side(tiny):
    t = _table(layers.time_model_layers(tiny, repeats=1, warmup=0))
    with pytest.raises(InputError, match="cloud"):
        graphs.to_graph(t[t.side == "device"], "tiny")
    with pytest.raises(InputError, match="no profile rows"):
        graphs.to_graph(t, "other")


def test_power_model_and_spec_validation():
    assert layers.PowerModel(active_w=2.5).energy_mj(10) == 25.0
    with pytest.raises(InputError, match="repeats"):
        layers.ProfileSpec(model="alexnet", threads=1, repeats=0)
    with pytest.raises(InputError, match="model 'vgg'"):
        layers.profile_model("vgg")


def test_round_robin_interleaves():
    order = []
    fns = [lambda i=i: order.append(i) for i in range(3)]
    times = timing.round_robin(fns, repeats=2, warmup=1)
    assert order == [0, 1, 2, 0, 1, 2, 0, 1, 2] and all(len(t) == 2 for t in times)
