"""12's machinery on cases with known answers: SSIM/PSNR against scikit-image and closed forms,
the identity cut inverted exactly, a constant tensor at chance, the uint8 wire round trip, the
decoders' shapes and the study's rows on a small untrained emotion CNN."""
from __future__ import annotations

import numpy as np
import pytest

from hybridlib.study.privacy import attack, invert, metrics
from hybridlib.utils import InputError


def _faces(n: int, seed: int = 0) -> np.ndarray:
    """Smooth random 48×48 images in [0, 1] (blurred noise plus a gradient), N×48×48×1."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(seed)
    x = gaussian_filter(rng.random((n, 48, 48)), sigma=(0, 1.5, 1.5))
    x = (x - x.min()) / (x.max() - x.min())
    return x[..., None].astype(np.float32)


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    a = _faces(6, 1)[..., 0]
    b = np.clip(a + np.random.default_rng(2).normal(0, 0.1, a.shape), 0, 1)
    ours = metrics.ssim(a, b)
    ref = [structural_similarity(x, y, data_range=1.0) for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, ref, atol=1e-6)
    np.testing.assert_allclose(metrics.ssim(a, a), 1.0, atol=1e-12)
    assert (ours < 0.99).all()


def test_psnr_known_values_and_bad_input():
    a = np.full((2, 48, 48), 0.5)
    np.testing.assert_allclose(metrics.psnr(a, a + 0.1), 20.0, atol=1e-9)  # MSE 0.01 → 20 dB
    assert metrics.psnr(a, a).tolist() == [100.0, 100.0]                   # floored, not infinite
    with pytest.raises(InputError):
        metrics.psnr(a, a[:1])
    with pytest.raises(InputError):
        metrics.ssim(a, np.full_like(a, np.nan))


def test_self_match_finds_each_source_and_fails_on_one_face():
    x = _faces(20, 3)
    assert metrics.self_match(x + 0.01, x).all()
    same = np.repeat(x[:1], 20, axis=0)
    assert metrics.self_match(same, x).sum() == 1  # every row matches face 0: chance level


def test_identity_cut_inverted_exactly():
    """The raw-pixel "cut": the ridge inverter recovers held-out faces (high PSNR, SSIM ≈ 1)."""
    train, test = _faces(800, 4), _faces(50, 5)  # smooth images: 800 span them to < 1% error
    inv = invert.RidgeInverter().fit(train, train)
    rec = inv.predict(test)
    assert rec.shape == test.shape
    assert metrics.psnr(rec, test).min() > 40.0
    assert metrics.ssim(rec, test).min() > 0.99


def test_ridge_dual_equals_primal():
    """More features than faces (the early cut's case) is solved in the dual: same predictions as
    the primal ridge solution computed directly."""
    rng = np.random.default_rng(6)
    x, y, xt = rng.normal(size=(30, 200)), rng.random((30, 48, 48, 1)), rng.normal(size=(5, 200))
    inv = invert.RidgeInverter().fit(x, y)
    assert inv.w is None and inv.a is not None  # took the dual path
    xc, yc = x - x.mean(0), y.reshape(30, -1) - y.reshape(30, -1).mean(0)
    alpha = invert.RIDGE_LAMBDA * (xc ** 2).sum() / 200
    w = np.linalg.solve(xc.T @ xc + alpha * np.eye(200), xc.T @ yc)
    want = np.clip((xt - x.mean(0)) @ w + y.reshape(30, -1).mean(0), 0, 1).reshape(5, 48, 48, 1)
    np.testing.assert_allclose(inv.predict(xt), want, atol=2e-4)
    with pytest.raises(InputError):
        inv.predict(rng.normal(size=(2, 199)))


def test_constant_tensor_gives_chance_level_attack():
    """Nothing about the face shipped: the inverter returns the mean face for everyone, the
    classifier says one class for all, so accuracy is that class' share (≤ the majority share)."""
    rng = np.random.default_rng(7)
    faces, labels = _faces(210, 8), rng.integers(0, 3, 210)
    faces = 0.3 * faces + 0.3 * labels[:, None, None, None]  # a classifier tells the classes apart on raw faces
    cents = np.stack([faces[:150][labels[:150] == c].mean(0) for c in range(3)])

    def classify(x):  # nearest class mean, fitted on raw faces (not on reconstructions)
        return ((x[:, None] - cents[None]) ** 2).sum(axis=(2, 3, 4)).argmin(1)

    te, yte = faces[150:], labels[150:]
    assert (classify(te) == yte).mean() > 0.9
    inv = invert.RidgeInverter().fit(np.zeros((150, 8)), faces[:150])
    rec = inv.predict(np.zeros((60, 8)))
    np.testing.assert_allclose(rec, np.repeat(faces[:150].mean(0, keepdims=True), 60, 0), atol=1e-6)
    sc = attack.score(rec, te, yte, classify)
    assert sc["pred_classes"] == 1
    assert sc["emotion_acc"] == pytest.approx(np.bincount(yte, minlength=3)[classify(rec[:1])[0]] / 60)
    assert sc["emotion_acc"] <= np.bincount(yte).max() / 60
    assert sc["self_match"] == pytest.approx(1 / 60)
    assert sc["ssim_lo"] <= sc["ssim"] <= sc["ssim_hi"]


def test_uint8_roundtrip_error_within_half_a_step():
    x = np.random.default_rng(9).normal(size=(4, 6, 6, 3)).astype(np.float32)
    x[1], x[2] = 0.0, 2.5  # constant frames decode exactly (all-zero ReLU maps, a constant map)
    r = invert.uint8_roundtrip(x)
    for i in (0, 3):
        step = (x[i].max() - x[i].min()) / 255.0
        assert np.abs(r[i] - x[i]).max() <= step / 2 + 1e-5
    assert (r[1] == 0).all() and np.abs(r[2] - 2.5).max() <= 1e-6


@pytest.mark.parametrize("shape", [(48, 48, 1), (24, 24, 8), (3, 3, 4), (32,), (2, 2, 8)])
def test_conv_decoder_outputs_faces(shape):
    m = invert.conv_decoder(shape, width=4)
    assert tuple(m.output_shape[1:]) == (48, 48, 1)


def test_conv_decoder_fits_and_learns():
    x, y = np.random.default_rng(10).normal(size=(64, 16)).astype(np.float32), _faces(64, 11)
    inv = invert.fit_conv_decoder(x, y, epochs=1, width=4)
    rec = inv.predict(x)
    assert rec.shape == y.shape and 0 <= rec.min() and rec.max() <= 1
    with pytest.raises(InputError):
        invert.fit_conv_decoder(x, y[:10])


def _tiny_cnn():
    """A small untrained CNN with the emotion CNN's input and output, cut points p1 (24×24×4),
    p2 (6×6×8) and d (16 values): the study's steps without the real model's cost."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    L = keras.layers
    inp = keras.Input((48, 48, 1))
    x = L.MaxPooling2D(2, name="p1")(L.Conv2D(4, 3, padding="same", activation="relu")(inp))
    x = L.MaxPooling2D(4, name="p2")(L.Conv2D(8, 3, padding="same", activation="relu")(x))
    x = L.Dense(16, activation="relu", name="d")(L.Flatten()(x))
    return keras.Model(inp, L.Dense(7, activation="softmax")(x))


def test_run_on_an_untrained_cnn():
    """Every shipped tensor × wire gets a row; uint8 bytes are a quarter of float32's; a bad cut
    name is an error naming the valid ones."""
    model = _tiny_cnn()
    xtr, xte = _faces(40, 12), _faces(12, 13)
    yte = np.arange(12) % 7
    sizes = attack.Sizes(40, 12, epochs=1, width=4, n_examples=4)
    res, why_not = attack.run(model, xtr, xte, yte, sizes, cuts=(("early", "p1"), ("middle", "p2"), ("late", "d")))
    assert why_not == "no converter bundle given"
    df = res.rows
    assert set(df["role"]) == {"identity", "early", "middle", "late", "constant"}
    assert len(df) == 2 + 2 * 3 + 1 + 2  # + the conv decoder on the late cut, both wires
    f32 = df[(df.wire == "float32") & (df.attacker == "ridge")].set_index("role")
    u8 = df[(df.wire == "uint8") & (df.attacker == "ridge")].set_index("role")
    assert f32.loc["early", "bytes"] == 24 * 24 * 4 * 4 and u8.loc["early", "bytes"] == 24 * 24 * 4
    assert ((df.ssim_lo <= df.ssim) & (df.ssim <= df.ssim_hi)).all()
    assert set(res.examples) == {"original", *df["shipped"]} and res.examples["original"].shape == (4, 48, 48)
    js = attack.to_json(res, why_not, sizes)
    assert len(js["best"]) == 2 * 4 + 1 and js["converter_left_out"] == why_not
    with pytest.raises(InputError, match="not one-tensor cut points"):
        attack.check_cuts(model, (("x", "dense2"),))
    from hybridlib import models

    assert attack.check_cuts(models.emotion_cnn()) == list(attack.CUTS)  # the study's cuts are the real model's


def test_report_rows_never_set_a_seed_number():
    from hybridlib.study.report import privacy as report_privacy
    from hybridlib.study.report.core import Headline

    def row(role, wire, ssim):
        return {"shipped": f"{role} (x)", "role": role, "wire": wire, "attacker": "ridge", "bytes": 4, "n_test": 300,
                "ssim": ssim, "ssim_lo": ssim - 0.01, "ssim_hi": ssim + 0.01, "psnr_db": 20.0,
                "emotion_acc": 0.5, "emotion_acc_lo": 0.45, "emotion_acc_hi": 0.55, "self_match": 0.1}

    res = {"synthetic": True, "n_train": 1500, "raw_crop_emotion_acc": {"value": 0.7}, "chance_emotion_acc": 0.23,
           "best": [row("early", "float32", 0.75), row("early", "uint8", 0.74), row("late", "float32", 0.24)]}
    rows = report_privacy.privacy_rows(res)
    assert len(rows) == 2 and all(r.seed_value == "" and r.like_for_like.startswith("no") for r in rows)
    assert rows[0].this_run.startswith("SSIM 0.750 [0.740, 0.760]") and rows[0].data == "synthetic"
    out = Headline()
    report_privacy.add_headline({"privacy": res}, out)
    assert len(out) == 1 and "early SSIM 0.75" in out[0]["this run"] and "late SSIM 0.24" in out[0]["this run"]
    empty = Headline()
    report_privacy.add_headline({}, empty)
    assert not empty  # 12 did not run: its skip record speaks for it
