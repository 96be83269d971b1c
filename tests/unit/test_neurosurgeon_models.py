"""Neurosurgeon's eight benchmark networks (seed 003): each builds from its published architecture
with the expected shapes and parameter count, can be cut along its chain, and SENNA's Lambda-free
HardTanh computes the real HardTanh network."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from hybridlib.models import neurosurgeon as ns
from hybridlib.models.networks import chain_cut_points, cut_sets, split_points

#: benchmark → (input shape, output shape, parameters, len(model.layers)), measured and checked
#: against the published architectures (see each builder's docstring for the arithmetic).
EXPECTED = {
    "IMC": ((227, 227, 3), (1000,), 62_378_344, 15),
    "FACE": ((152, 152, 3), (4030,), 45_509_246, 11),
    "DIG": ((28, 28, 1), (10,), 431_080, 8),
    "ASR": ((11, 40), (3000,), 23_835_576, 8),
    "POS": ((5, 2), (45,), 5_096_370, 13),
    "NER": ((5, 2), (17,), 5_087_942, 13),
    "CHK": ((5, 2), (42,), 5_095_467, 13),
}
#: layer classes TF.js 4.22's layers API loads (no Lambda, no LocallyConnected2D)
TFJS_LAYERS = {"InputLayer", "Conv2D", "MaxPooling2D", "AveragePooling2D", "Flatten", "Dense", "Dropout",
               "Reshape", "Cropping2D", "Embedding", "Concatenate", "ReLU"}


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    import tf_keras as keras

    keras.backend.clear_session()


def test_registry_names_003s_benchmarks():
    assert list(ns.NEUROSURGEON) == ["IMC", "VGG", "FACE", "DIG", "ASR", "POS", "NER", "CHK"]
    layers = {b: e.layers_003 for b, e in ns.NEUROSURGEON.items()}
    assert layers == {"IMC": 24, "VGG": 46, "FACE": 10, "DIG": 9, "ASR": 13, "POS": 3, "NER": 3, "CHK": 3}
    for e in ns.NEUROSURGEON.values():
        assert e.trained is False and e.layers_note and callable(e.builder)
    assert "LocallyConnected2D" in ns.NEUROSURGEON["FACE"].divergence
    assert "VGG-19" in ns.NEUROSURGEON["VGG"].divergence
    with pytest.raises(Exception, match="unknown Neurosurgeon benchmark"):
        ns.build("XYZ")


@pytest.mark.parametrize("bench", list(EXPECTED))
def test_network_shapes_params_and_cuts(bench):
    in_shape, out_shape, params, n_layers = EXPECTED[bench]
    m = ns.build(bench, seed=1)
    assert tuple(m.input_shape[1:]) == in_shape
    assert tuple(m.output_shape[1:]) == out_shape
    assert m.count_params() == params
    assert len(m.layers) == n_layers
    assert {type(l).__name__ for l in m.layers} <= TFJS_LAYERS
    x = ns.sample_input(m, 2, seed=1)
    y = np.asarray(m(x, training=False))
    assert y.shape == (2, *out_shape) and np.isfinite(y).all()
    # one-tensor cut points along the chain: the input, then at least every weight layer but the last
    pts = chain_cut_points(m)
    assert pts[0] == "input" and len(pts) >= 6
    assert set(pts) <= set(split_points(m)) | {"input"}
    assert all(cut_sets(m)[p] == [p] for p in pts)


def test_seeded_weights_are_reproducible():
    a = ns.build("DIG", seed=3).get_weights()
    b = ns.build("DIG", seed=3).get_weights()
    assert all(np.array_equal(u, v) for u, v in zip(a, b))


def test_vgg16_count_is_138m_and_the_formula_is_the_built_model():
    assert ns.vgg16_param_count() == 138_357_544
    assert ns.vgg16_param_count(depth=19) == 143_667_240
    # the formula against built VGGs on a small input (full-size VGG takes seconds to initialise)
    for depth in (16, 19):
        m = ns.vgg(depth=depth, input_shape=(32, 32, 3), n_classes=10)
        assert m.count_params() == ns.vgg16_param_count((32, 32, 3), 10, depth)
        convs = [l for l in m.layers if type(l).__name__ == "Conv2D"]
        assert len(convs) == depth - 3
        assert [l.name for l in m.layers][-5:] == ["fc6", "drop6", "fc7", "drop7", "fc8"]
        assert chain_cut_points(m)[-1] == "drop7"
    assert ns.NEUROSURGEON["VGG"].kwargs == {"depth": 16}


def test_lenet5_is_the_60k_network():
    m = ns.lenet("lenet5")
    assert m.count_params() == 61_706
    assert m.input_shape[1:] == (32, 32, 1) and m.output_shape[1:] == (10,)


def test_deepface_locally_connected_shapes_match_the_conv_stand_in():
    """The Conv2D stand-in has the true layers' output shapes; only the weights are shared. The
    locally connected count at 152×152 is 118,923,774 (built at 80×80 here: seconds otherwise)."""
    conv = ns.deepface(input_shape=(80, 80, 3), n_classes=83)
    lc = ns.deepface(input_shape=(80, 80, 3), n_classes=83, local="locally_connected")
    shapes = lambda m: [(l.name, l.output_shape) for l in m.layers]
    assert shapes(conv) == shapes(lc)
    per_pos = {"l4": (9, 16, 16), "l5": (7, 16, 16), "l6": (5, 16, 16)}
    diff = 0
    for name, (k, cin, cout) in per_pos.items():
        h, w = lc.get_layer(name).output_shape[1:3]
        assert lc.get_layer(name).count_params() == h * w * (k * k * cin * cout + cout)  # untied biases
        diff += lc.get_layer(name).count_params() - conv.get_layer(name).count_params()
    assert lc.count_params() - conv.count_params() == diff
    # the same arithmetic at 152×152: 55², 25², 21² positions
    full_lc = 45_509_246 + sum(hw * (k * k * 256 + 16) - (k * k * 256 + 16)
                               for hw, k in ((55 * 55, 9), (25 * 25, 7), (21 * 21, 5)))
    assert full_lc == 118_923_774


def test_senna_htanh_formulation_is_hardtanh():
    """Keras SENNA == numpy window network with clip(z, -1, 1), biases un-shifted as documented."""
    m = ns.build("NER", seed=2)
    x = ns.sample_input(m, 8, seed=2)
    ids = x.astype(int)
    words, caps = m.get_layer("words").get_weights()[0], m.get_layer("feat1").get_weights()[0]
    W, b = m.get_layer("fc1").get_weights()
    V, c_shift = m.get_layer("fc3").get_weights()
    feats = np.concatenate([words[ids[..., 0]], caps[ids[..., 1]]], axis=-1).reshape(len(x), -1)
    h = np.clip(feats @ W + (b - 1.0), -1.0, 1.0)  # SENNA's pre-activation has bias b - 1
    ref = h @ V + (c_shift + V.sum(axis=0))  # and its output bias c = c' + V·1
    assert np.allclose(np.asarray(m(x, training=False)), ref, atol=1e-5)


def test_sample_input_ids_are_in_range():
    m = ns.senna("chk", vocab=7, features=((3, 2), (4, 2)))
    x = ns.sample_input(m, 50)
    assert x.shape == (50, 5, 3) and x.dtype == np.float32
    assert x[..., 0].max() < 7 and x[..., 1].max() < 3 and x[..., 2].max() < 4
    assert chain_cut_points(m)[:3] == ["input", "ids", "lookup"]


def test_importing_the_model_zoo_loads_no_tensorflow():
    code = ("import sys, hybridlib.models, hybridlib.models.neurosurgeon; "
            "bad = [m for m in ('tensorflow', 'tf_keras', 'keras') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
