"""TF.js per-layer profiling in headless Chromium (wasm), on a tiny real model."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_profile_tfjs_tiny_dag(need_chromium, tmp_path):
    import tf_keras as keras

    from hybridlib.profiling import layers, tfjs_layers

    L = keras.layers
    inp = keras.Input((16, 16, 1), name="input")
    a = L.Conv2D(8, 3, padding="same", activation="relu", name="a")(inp)
    b1 = L.Conv2D(4, 1, name="b1")(a)
    b2 = L.MaxPooling2D(3, strides=1, padding="same", name="b2")(a)
    c = L.Concatenate(name="cat")([b1, b2])
    out = L.Dense(3, activation="softmax", name="out")(L.Flatten(name="flat")(c))
    model = keras.Model(inp, out, name="tiny")
    df = tfjs_layers.profile_tfjs(model, repeats=3, warmup=1, workdir=tmp_path)
    assert df["layer"].tolist() == [l.name for l in model.layers]
    assert (df["backend"] == "tfjs-wasm").all()
    assert df.loc[df.layer == "input", "ms"].iloc[0] == 0
    # a reshape (Flatten) can time at 0 under the page's coarse timer; the convolutions cannot
    assert (df["ms"] >= 0).all()
    assert (df.set_index("layer").loc[["a", "b1"], "ms"] > 0).all()
    assert (df["model_ms"] > 0).all() and df["chromium"].iloc[0].startswith("Chromium")
    assert (df["energy_mj"] == df["ms"] * layers.PowerModel().active_w).all()


def test_profile_tfjs_throttled_adds_up(need_chromium, tmp_path):
    """A device class's profile (CPU throttled 4×) reconciles with its whole-model time."""
    import tf_keras as keras

    from hybridlib.profiling import reconcile, tfjs_layers

    L = keras.layers
    inp = keras.Input((16, 16, 1), name="input")
    a = L.Conv2D(8, 3, padding="same", activation="relu", name="a")(inp)
    b = L.Conv2D(8, 3, padding="same", activation="relu", name="b")(a)
    out = L.Dense(3, activation="softmax", name="out")(L.Flatten(name="flat")(b))
    model = keras.Model(inp, out, name="tiny_chain")
    df = tfjs_layers.profile_tfjs(model, repeats=3, warmup=1, workdir=tmp_path, cpu_throttle=4.0)
    assert (df["cpu_throttle"] == 4.0).all() and (df["backend"] == "tfjs-wasm").all()
    total = df["layer_ms"].sum() + df["fixed_ms"].iloc[0]
    assert abs(total - df["model_ms"].iloc[0]) <= 1e-9 * max(1.0, total)
    # the prefix sub-models were timed (two interior cut points of a 5-layer chain)
    assert len(df["probes"].iloc[0].split()) == 2
    rt = reconcile.reconciliation_table(df.assign(side="device"))
    assert rt["reconciled_ms"].iloc[0] == __import__("pytest").approx(rt["model_ms"].iloc[0])
