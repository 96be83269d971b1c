"""12_privacy at smoke: every shipped tensor inverted and scored, intervals and references consistent."""
from __future__ import annotations

from hybridlib import config

from .conftest import read_result


def test_privacy_result(smoke_reports):
    res = read_result(smoke_reports, "privacy")
    pre = config.PRESETS["smoke"]
    assert res["synthetic"] is True and res["n_train"] <= pre.privacy_train and res["n_test"] <= pre.privacy_test
    roles = {r["role"] for r in res["rows"]}
    assert {"identity", "early", "middle", "late", "constant"} <= roles
    # the converter row is there exactly when 06's bundle was readable, else the reason is recorded
    assert ("converter" in roles) == (res["converter_left_out"] is None)
    for r in res["rows"]:
        for k in ("ssim", "psnr_db", "emotion_acc", "self_match"):
            assert r[f"{k}_lo"] <= r[k] <= r[f"{k}_hi"], (r["shipped"], k)
        assert r["n_test"] == res["n_test"]
    best = {(r["role"], r["wire"]): r for r in res["best"]}
    # the identity cut is rebuilt better than the constant tensor, which carries nothing
    assert best[("identity", "float32")]["ssim"] > best[("constant", "float32")]["ssim"]
    assert best[("constant", "float32")]["pred_classes"] == 1
    assert best[("constant", "float32")]["emotion_acc"] <= res["chance_emotion_acc"] + 1e-9
    # the uint8 wire ships a quarter of float32's bytes
    assert best[("early", "uint8")]["bytes"] * 4 == best[("early", "float32")]["bytes"]
    for fig in ("12_privacy_reconstructions", "12_privacy_quality"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
