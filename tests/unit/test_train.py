"""Training: real learning, determinism, save → load, manifest, bad model files, metrics, CLI."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

tf_keras = pytest.importorskip("tf_keras")

from hybridlib import config, data, models
from hybridlib.models import artifacts, evaluation, train  # noqa: E402
from hybridlib.utils import InputError, sha256_file, write_json_atomic  # noqa: E402


@pytest.fixture(scope="module")
def ds():
    """A small synthetic dataset (seeded, balanced) with all three splits."""
    return data.generate_synthetic("smoke", seed=3, balanced=True)


@pytest.fixture(scope="module")
def tiny_cfg():
    return train.TrainConfig(lr=1e-3, dropout=0.2, batch_size=32, epochs=2, patience=2, seed=7, max_train=96)


@pytest.fixture(scope="module")
def fitted(ds, tiny_cfg):
    xv, yv = ds.split("val")
    return train.fit(*ds.split("train"), xv[:64], yv[:64], tiny_cfg, progress=False)


@pytest.fixture(scope="module")
def saved(fitted, ds, tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "emotion_cnn.h5"
    man = artifacts.save(fitted, path, dataset=ds, preset="smoke", data_label="synthetic FER-format data")
    return path, man


def test_a_few_steps_lower_the_loss_clearly(ds):
    """Real learning: Adam on one small batch of faces drives its loss well down."""
    tf_keras.utils.set_random_seed(0)
    x, y = ds.split("train")
    x, y = models.preprocess(x[:32]), y[:32]
    m = models.emotion_cnn(dropout=0.0)
    m.compile(optimizer=tf_keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    loss = tf_keras.losses.SparseCategoricalCrossentropy()
    # training-mode forward (batch statistics): what the optimiser actually minimises
    first = float(loss(y, m(x, training=True)))
    for _ in range(25):
        m.train_on_batch(x, y)
    last = float(loss(y, m(x, training=True)))
    assert last < 0.5 * first, (first, last)
    # and the model now gets most of this batch right (chance is 1/7)
    assert (m(x, training=True).numpy().argmax(1) == y).mean() > 0.7


def test_fit_reports_what_happened(fitted, tiny_cfg):
    assert fitted.epochs_run == 2
    assert set(fitted.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert 1 <= fitted.best_epoch <= 2
    assert fitted.best_val_accuracy == pytest.approx(max(fitted.history["val_accuracy"]))
    assert fitted.images_seen == 2 * tiny_cfg.max_train
    assert fitted.images_per_s > 0 and fitted.train_seconds <= fitted.seconds


def test_best_weights_are_restored(fitted, ds):
    """The returned model is the best epoch's: its val accuracy equals the recorded best."""
    xv, yv = ds.split("val")
    ev = evaluation.evaluate(fitted.model, xv[:64], yv[:64])
    assert ev["accuracy"] == pytest.approx(fitted.best_val_accuracy, abs=1e-6)


def test_training_is_deterministic(ds, tiny_cfg, fitted):
    xv, yv = ds.split("val")
    cfg = dataclasses.replace(tiny_cfg, epochs=1)
    a = train.fit(*ds.split("train"), xv[:64], yv[:64], cfg, progress=False)
    b = train.fit(*ds.split("train"), xv[:64], yv[:64], cfg, progress=False)
    assert a.history == b.history
    for wa, wb in zip(a.model.get_weights(), b.model.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    c = train.fit(*ds.split("train"), xv[:64], yv[:64], dataclasses.replace(cfg, seed=8), progress=False)
    assert not np.array_equal(a.model.get_weights()[0], c.model.get_weights()[0])


def test_save_load_identical_predictions(fitted, saved, ds):
    path, _ = saved
    loaded = artifacts.load_model(path, check_manifest=True)
    x, _ = ds.split("test")
    np.testing.assert_array_equal(evaluation.predict(loaded, x[:40]), evaluation.predict(fitted.model, x[:40]))
    assert [l.name for l in loaded.layers] == [l.name for l in fitted.model.layers]


def test_manifest_matches_file(saved, ds, tiny_cfg):
    path, man = saved
    assert man["sha256"] == sha256_file(path)
    on_disk = artifacts.read_manifest(path)
    assert on_disk["sha256"] == sha256_file(path)
    assert on_disk["dataset"]["fingerprint"] == ds.fingerprint()
    assert on_disk["hyperparameters"] == tiny_cfg.to_dict()
    assert on_disk["preset"] == "smoke" and on_disk["params"] == models.emotion_cnn().count_params()
    assert on_disk["versions"]["tf_keras"].startswith("2.")
    hist = json.loads((path.parent / "emotion_cnn.history.json").read_text())
    assert len(hist["loss"]) == 2
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temporaries
    assert artifacts.verify(path)["sha256"] == man["sha256"]


def test_missing_model_is_a_clear_error(tmp_path):
    with pytest.raises(InputError, match=r"nope\.h5 does not exist"):
        artifacts.load_model(tmp_path / "nope.h5")
    with pytest.raises(InputError, match="is not a file"):
        artifacts.load_model(tmp_path)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_corrupt_model_is_a_clear_error(saved, tmp_path, damage):
    good = saved[0].read_bytes()
    bad = tmp_path / f"{damage}.h5"
    bad.write_bytes({"garbage": b"this is not hdf5" * 100, "truncated": good[: len(good) // 3],
                     "empty": b""}[damage])
    with pytest.raises(InputError, match=f"{damage}.h5 is not a readable Keras .h5 model"):
        artifacts.load_model(bad)


def test_modified_model_fails_manifest_check(saved, tmp_path):
    import shutil

    path, _ = saved
    copy = tmp_path / "emotion_cnn.h5"
    shutil.copy(path, copy)
    shutil.copy(artifacts.manifest_path(path), artifacts.manifest_path(copy))
    with open(copy, "ab") as f:
        f.write(b"\0")
    with pytest.raises(InputError, match="does not match its manifest"):
        artifacts.load_model(copy, check_manifest=True)
    assert not artifacts.is_valid(copy)
    with pytest.raises(InputError, match="no manifest"):
        artifacts.read_manifest(tmp_path / "other.h5")


def test_save_refuses_non_h5(fitted, tmp_path):
    with pytest.raises(InputError, match=r"must end in \.h5"):
        artifacts.save(fitted, tmp_path / "m.keras")
    assert not list(tmp_path.iterdir())


def test_ensure_model_reuses_a_valid_model_and_replaces_a_broken_one(saved, fitted, ds, tmp_path, monkeypatch):
    import shutil

    ctx = config.context("smoke", root=tmp_path, reports_dir=tmp_path / "rep")
    target = artifacts.default_model_path(ctx)
    target.parent.mkdir(parents=True)
    shutil.copy(saved[0], target)
    man = artifacts.read_manifest(saved[0])
    man["data_label"] = ctx.data_label
    write_json_atomic(artifacts.manifest_path(target), man)
    calls = []

    def fake_fit(*a, **k):
        calls.append(a[4] if len(a) > 4 else k.get("config"))
        return fitted

    monkeypatch.setattr(artifacts, "fit", fake_fit)
    monkeypatch.setattr(config.RunContext, "dataset", lambda self: ds)
    assert artifacts.ensure_model(ctx, progress=False) == target and calls == []
    target.write_bytes(b"corrupt")
    assert artifacts.ensure_model(ctx, progress=False) == target
    assert len(calls) == 1 and calls[0].epochs == ctx.preset.epochs == 1
    assert artifacts.verify(target)["sha256"] == sha256_file(target)
    artifacts.load_model(target)


def test_config_validation_names_the_bad_value():
    for kw, match in [({"lr": 0}, "learning rate"), ({"dropout": 1.0}, "dropout"),
                      ({"batch_size": 0}, "batch size"), ({"epochs": 0}, "epochs"),
                      ({"max_train": 0}, "max_train")]:
        with pytest.raises(InputError, match=match):
            train.TrainConfig(**kw).validate()


def test_from_preset_uses_first_grid_values():
    p = config.get_preset("quick")
    cfg = train.TrainConfig.from_preset(p, epochs=9)
    assert (cfg.lr, cfg.dropout, cfg.batch_size, cfg.epochs) == (p.sweep_lr[0], p.sweep_dropout[0], p.batch_size, 9)
    assert len(train.grid(p)) == len(p.sweep_lr) * len(p.sweep_dropout) * len(p.sweep_batch)


def test_class_weights_balanced():
    w = train.class_weights(np.array([0, 0, 0, 1, 2, 2]), n_classes=4)
    np.testing.assert_allclose(w, [6 / 9, 2.0, 1.0, 0.0])


def test_metrics_on_known_predictions():
    y = np.array([0, 0, 1, 1, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 0])
    m = evaluation.metrics(y, p, class_names=("a", "b", "c"))
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["per_class"]["b"] == pytest.approx({"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2})
    assert m["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["macro_f1"] == pytest.approx(np.mean([0.5, 0.8, 2 / 3]))


def _stripes(n_per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A linearly learnable split: class c brightens rows 6c…6c+5 by 10 over N(128, 40) noise.

    Per pixel the stripe is a quarter of the noise (no single pixel tells the class), but
    summed over its 288 pixels it is a clear linear signal: the split any pixel
    classifier must learn, with chance = majority = 1/7.
    """
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.repeat(np.arange(7), n_per_class))
    x = rng.normal(128, 40, (len(y), 48, 48))
    for i, c in enumerate(y):
        x[i, 6 * c:6 * c + 6] += 10
    return np.clip(np.rint(x), 0, 255).astype(np.uint8), y


def test_baseline_learns_a_learnable_split():
    (xt, yt), (xs, ys) = _stripes(50, seed=0), _stripes(20, seed=1)
    b = evaluation.baseline_logreg(xt, yt, xs, ys, max_train=300)
    assert b["train_rows"] == 300 and sum(map(sum, b["confusion"])) == len(ys)
    majority = np.bincount(ys).max() / len(ys)
    assert majority == pytest.approx(1 / 7)
    # measured 0.95 / 0.95; chance is 0.14
    assert b["accuracy"] >= 0.85 and b["macro_f1"] >= 0.85, (b["accuracy"], b["macro_f1"])
    assert b["accuracy"] == pytest.approx(np.trace(b["confusion"]) / len(ys))
    # and it learns from the labels, not from the test split: shuffled training labels → chance
    shuffled = evaluation.baseline_logreg(xt, np.random.default_rng(0).permutation(yt), xs, ys)
    assert shuffled["accuracy"] < majority + 0.15, shuffled["accuracy"]


def test_baseline_on_faces_reports_its_split(ds):
    (xt, yt), (xs, ys) = ds.split("train"), ds.split("test")
    b = evaluation.baseline_logreg(xt, yt, xs, ys, max_train=400)
    assert b["train_rows"] == 400 and sum(map(sum, b["confusion"])) == len(ys)
    assert set(b["per_class"]) == set(data.CLASS_NAMES)
    assert [b["per_class"][c]["support"] for c in data.CLASS_NAMES] == np.bincount(ys, minlength=7).tolist()


def test_sweep_table_and_best(ds):
    xv, yv = ds.split("val")
    cfgs = [{"lr": 1e-3, "dropout": 0.2, "batch_size": 32}, {"lr": 1e-4, "dropout": 0.2, "batch_size": 32}]
    t = train.sweep(*ds.split("train"), xv[:48], yv[:48], cfgs, epochs=1, max_train=64, progress=False)
    assert list(t["lr"]) == [1e-3, 1e-4] and list(t["default"]) == [True, False]
    assert t["val_accuracy"].between(0, 1).all()
    best = train.best_config(t)
    i = int(t["val_accuracy"].idxmax())
    assert best == (cfgs[i] if t["val_accuracy"][i] >= t["val_accuracy"][0] + 0.005 else cfgs[0])
    assert len(t.attrs["histories"]) == 2 and len(t.attrs["histories"][1]["loss"]) == 1


def test_best_config_keeps_default_on_ties():
    import pandas as pd

    t = pd.DataFrame([
        {"lr": 1e-3, "dropout": 0.25, "batch_size": 64, "val_accuracy": 0.25, "val_loss": 1.83, "default": True},
        {"lr": 3e-3, "dropout": 0.5, "batch_size": 64, "val_accuracy": 0.25, "val_loss": 1.82, "default": False},
        {"lr": 3e-4, "dropout": 0.5, "batch_size": 32, "val_accuracy": 0.252, "val_loss": 1.80, "default": False}])
    assert train.best_config(t) == {"lr": 1e-3, "dropout": 0.25, "batch_size": 64}
    t.loc[2, "val_accuracy"] = 0.31
    assert train.best_config(t) == {"lr": 3e-4, "dropout": 0.5, "batch_size": 32}


def test_cli_rejects_bad_input_before_training(tmp_path, capsys):
    from hybridlib import cli

    assert cli.main(["train", "--preset", "smoke", "--out", str(tmp_path / "m.txt")]) == 2
    assert "m.txt must end in .h5" in capsys.readouterr().err
    assert cli.main(["train", "--preset", "smoke", "--data", str(tmp_path / "none.csv")]) == 2
    assert "none.csv does not exist" in capsys.readouterr().err
    assert cli.main(["train", "--preset", "smoke", "--lr", "5", "--out", str(tmp_path / "m.h5")]) == 2
    assert "learning rate" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_cli_trains_saves_and_reports(tmp_path, capsys):
    from hybridlib import cli

    out = tmp_path / "m.h5"
    rc = cli.main(["train", "--preset", "smoke", "--epochs", "1", "--max-train", "64", "--batch-size", "32",
                   "--class-weights", "--out", str(out), "--quiet"])
    assert rc == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["sha256"] == sha256_file(out) == artifacts.verify(out)["sha256"]
    assert summary["config"]["class_weights"] is True and summary["config"]["max_train"] == 64
    assert 0 <= summary["test_accuracy"] <= 1 and summary["epochs_run"] == 1
    assert (tmp_path / "m.history.json").is_file()
