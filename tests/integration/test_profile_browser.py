"""TF.js per-layer profiling in headless Chromium (wasm), on a tiny real model."""
from __future__ import annotations

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_profile_tfjs_tiny_dag(need_chromium, tmp_path):
    import tf_keras as keras

    from hybridlib.partition import profile

    L = keras.layers
    inp = keras.Input((16, 16, 1), name="input")
    a = L.Conv2D(8, 3, padding="same", activation="relu", name="a")(inp)
    b1 = L.Conv2D(4, 1, name="b1")(a)
    b2 = L.MaxPooling2D(3, strides=1, padding="same", name="b2")(a)
    c = L.Concatenate(name="cat")([b1, b2])
    out = L.Dense(3, activation="softmax", name="out")(L.Flatten(name="flat")(c))
    model = keras.Model(inp, out, name="tiny")
    df = profile.profile_tfjs(model, repeats=3, warmup=1, workdir=tmp_path)
    assert df["layer"].tolist() == [l.name for l in model.layers]
    assert (df["backend"] == "tfjs-wasm").all()
    assert df.loc[df.layer == "input", "ms"].iloc[0] == 0
    assert (df.loc[df.layer != "input", "ms"] > 0).all()
    assert (df["model_ms"] > 0).all() and df["chromium"].iloc[0].startswith("Chromium")
    assert (df["energy_mj"] == df["ms"] * profile.PowerModel().active_w).all()
