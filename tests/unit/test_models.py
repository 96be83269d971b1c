"""The emotion CNN and AlexNet: structure, parameter counts, names, input convention."""
from __future__ import annotations

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras")

from hybridlib import models  # noqa: E402
from hybridlib.utils import InputError  # noqa: E402

#: the layer classes TF.js' layers API runs (the browser executes any head of the model)
TFJS_OK = {"InputLayer", "Conv2D", "MaxPooling2D", "BatchNormalization", "Activation", "ReLU",
           "Concatenate", "Flatten", "Dense", "Dropout", "GlobalAveragePooling2D"}


@pytest.fixture(scope="module")
def cnn():
    return models.emotion_cnn()


def test_emotion_cnn_matches_seed_structure(cnn):
    c = models.layer_counts(cnn)
    assert 2_500_000 <= c["params"] <= 3_500_000, c
    assert c["conv"] == 9 and c["max_pool"] == 5 and c["dense"] == 3, c
    assert c["inception_modules"] == 2
    assert c["conv_kernels"] == 7 + 2 * 6  # each Inception module has 6 Conv2D kernels
    assert cnn.input_shape == (None, 48, 48, 1)
    assert cnn.output_shape == (None, 7)
    assert cnn.layers[-1].get_config()["activation"] == "softmax"


def test_named_layers_exist_and_are_what_they_say(cnn):
    L = tf_keras.layers
    for n in models.CONV_LAYERS:
        layer = cnn.get_layer(n)
        assert isinstance(layer, (L.Conv2D, L.Concatenate)), n
    for n in models.POOL_LAYERS:
        assert isinstance(cnn.get_layer(n), L.MaxPooling2D)
    for n in models.DENSE_LAYERS:
        assert isinstance(cnn.get_layer(n), L.Dense)
    names = [l.name for l in cnn.layers]
    assert len(names) == len(set(names))
    # spatial sizes along the chain: 48 → 24 → 12 → 6 → 3 → 2
    assert [cnn.get_layer(p).output_shape[1] for p in models.POOL_LAYERS] == [24, 12, 6, 3, 2]


def test_only_tfjs_layers(cnn):
    assert {type(l).__name__ for l in cnn.layers} <= TFJS_OK


def test_same_names_every_build(cnn):
    again = models.emotion_cnn(dropout=0.1)
    assert [l.name for l in again.layers] == [l.name for l in cnn.layers]


def test_chain_cut_points(cnn):
    cuts = models.chain_cut_points(cnn)
    for n in (*models.POOL_LAYERS, "incept3", "incept4_relu", "flatten", "dense1", "dense2"):
        assert n in cuts, n
    # inside an Inception module several branch tensors are live: no single-tensor cut
    for n in ("incept3_b1x1", "incept3_b3x3_reduce", "incept3_b3x3", "incept3_bpool", "incept4_b5x5"):
        assert n not in cuts, n
    assert "predictions" not in cuts and cuts[0] == "input"
    order = [l.name for l in cnn.layers]
    assert cuts == sorted(cuts, key=order.index)


def test_alexnet_exact_params():
    a = models.alexnet()
    assert a.count_params() == 62_378_344  # seed 001's count, computed from the built model
    assert a.input_shape == (None, 227, 227, 3) and a.output_shape == (None, 1000)
    c = models.layer_counts(a)
    assert c["conv"] == 5 and c["dense"] == 3 and c["max_pool"] == 3
    assert a.get_layer("pool5").output_shape == (None, 6, 6, 256)


def test_preprocess_convention():
    imgs = np.array([np.full((48, 48), 255, np.uint8), np.zeros((48, 48), np.uint8)])
    x = models.preprocess(imgs)
    assert x.shape == (2, 48, 48, 1) and x.dtype == np.float32
    assert x[0].min() == 1.0 and x[1].max() == 0.0
    assert models.preprocess(imgs[0]).shape == (1, 48, 48, 1)
    assert models.preprocess(imgs[..., None]).shape == (2, 48, 48, 1)
    np.testing.assert_array_equal(models.preprocess(x), x)  # already scaled floats pass through


@pytest.mark.parametrize("bad, match", [
    (np.zeros((2, 32, 32), np.uint8), "48×48"),
    (np.full((1, 48, 48), 200.0, np.float32), "above 1.0"),
    (np.zeros((1, 48, 48, 3), np.uint8), "48×48"),
    (np.zeros((1, 48, 48), np.int32), "dtype"),
])
def test_preprocess_rejects(bad, match):
    with pytest.raises(InputError, match=match):
        models.preprocess(bad)


def test_bad_arguments():
    with pytest.raises(InputError, match="dropout"):
        models.emotion_cnn(dropout=1.5)
    with pytest.raises(InputError, match="n_classes"):
        models.emotion_cnn(n_classes=1)


def test_forward_is_a_distribution(cnn):
    x = models.preprocess(np.random.default_rng(0).integers(0, 256, (3, 48, 48), dtype=np.uint8))
    p = cnn.predict(x, verbose=0)
    assert p.shape == (3, 7)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-5)
