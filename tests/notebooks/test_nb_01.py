"""01_train at smoke: model structure, metrics, sweep, saved model and figures recorded."""
from __future__ import annotations

import math

from hybridlib import data, train
from hybridlib.utils import sha256_file

from .conftest import ROOT, read_result


def test_train_result(smoke_reports):
    res = read_result(smoke_reports, "train")
    assert res["synthetic"] is True and res["preset"] == "smoke"
    assert 2_500_000 <= res["params"] <= 3_500_000
    lc = res["layer_counts"]
    assert (lc["conv"], lc["max_pool"], lc["dense"]) == (9, 5, 3)
    # counted by 01 on the AlexNet that models.alexnet() builds; the literal is seed 001's count
    assert res["alexnet_params"] == 62_378_344
    n_test = data.split_counts("smoke")["PrivateTest"]
    assert 0.0 <= res["cnn"]["test_accuracy"] <= 1.0 and 0.0 <= res["baseline"]["accuracy"] <= 1.0
    for who in (res["cnn"], res["baseline"]):
        assert set(who["per_class"]) == set(data.CLASS_NAMES)
    assert sum(map(sum, res["cnn"]["confusion"])) == sum(n_test)
    assert res["cnn"]["epochs_run"] == 1 and len(res["history"]["loss"]) == 1
    assert math.isfinite(res["history"]["loss"][0])
    assert res["images_per_s"] > 0 and res["training_seconds"] > 0
    # the sweep ran the smoke grid and the comparison table holds baseline, before, after, final
    assert len(res["sweep"]) == 1 and res["sweep"][0]["default"] is True
    models_in_table = [r["model"] for r in res["comparison"]]
    assert models_in_table[0].startswith("logistic regression") and models_in_table[-1].startswith("CNN, final")
    assert len(models_in_table) == 4
    assert res["too_easy"] is False


def test_saved_model_matches_result(smoke_reports):
    res = read_result(smoke_reports, "train")
    path = ROOT / res["model_path"]
    man = train.verify(path)
    assert man["sha256"] == res["model_sha256"] == sha256_file(path)
    assert man["preset"] == "smoke" and man["dataset"]["synthetic"] is True


def test_train_figures(smoke_reports):
    for fig in ("01_sweep", "01_curves_before", "01_curves_after", "01_confusion", "01_per_class"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000, fig
    for table in ("01_sweep", "01_comparison", "01_model_layers"):
        assert (smoke_reports / "results" / f"{table}.csv").is_file()
