"""04_profile at smoke: per-layer profile of the emotion CNN on both sides, predictor MAPEs."""
from __future__ import annotations

import math

from hybridlib import config
from hybridlib.profiling import predict

from .conftest import read_result


def test_profile_result(smoke_reports):
    res = read_result(smoke_reports, "profile")
    assert res["preset"] == "smoke" and res["synthetic"] is True
    emo = res["models"]["emotion_cnn"]
    assert emo["layers"] > 40 and emo["input_bytes"] == 48 * 48 * 4
    sides = emo["sides"]
    assert {"device/tf-cpu", "cloud/tf-cpu"} <= set(sides)
    for s in sides.values():
        assert s["sum_ms"] > 0 and s["model_ms"] > 0
    assert sides["device/tf-cpu"]["energy_mj"] > 0 and sides["cloud/tf-cpu"]["energy_mj"] == 0
    assert res["power_model"]["measured"] is False
    p = res["predictor"]
    assert p["corpus_configs"] == config.PRESETS["smoke"].predictor_corpus
    assert {k.split("/")[2] for k in p["heldout_mape"]} == set(predict.TYPES)
    assert all(math.isfinite(v) and v >= 0 for v in p["heldout_mape"].values())
    assert set(p["best_method"].values()) <= set(predict.METHODS)
    for fig in ("04_layers_emotion_cnn", "04_predicted_vs_measured"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
    assert (smoke_reports / "results" / "04_profile_layers.csv").is_file()


def test_kernel_predictor_result(smoke_reports):
    """The fused-kernel predictors ran on the preset's sides (smoke: no browser) with the
    drift-corrected target, every method has a finite error on held-out configurations, and
    both networks' own kernels were predicted."""
    from hybridlib.profiling import kpredict

    k = read_result(smoke_reports, "profile")["kernel_predictor"]
    assert k["sides"] == sorted(config.PRESETS["smoke"].kernel_sides) and k["target"] == kpredict.TARGET
    assert {"emotion_cnn", "alexnet"} <= set(k["corpus_kernels"])
    cfg = {key: v for key, v in k["mean_mape"].items() if key.startswith("configs/")}
    assert {key.split("/")[2] for key in cfg} == {"rf", "linear", "additive+rf"}
    assert all(math.isfinite(v) and v >= 0 for v in k["mean_mape"].values())
    assert (smoke_reports / "figures" / "04_kernels_predicted_vs_measured.png").stat().st_size > 5000
