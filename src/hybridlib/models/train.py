"""Training and the tuning sweep of the emotion CNN.

Why it looks like this:

* **Deterministic**: one seed fixes the weights' init, the shuffling and every augmentation
  draw (augmentation randomness is keyed by ``(seed, epoch, batch)``, so it does not depend
  on how many batches ran before), and TF's op determinism is switched on while fitting.
  Same data + same config → the same model.
* **Best checkpoint + early stopping** on validation accuracy (FER-2013 PublicTest); the
  test split (PrivateTest) is only touched by :func:`hybridlib.models.evaluation.evaluate`.

Splits: ``train`` = Training, ``val`` = PublicTest (checkpoint, early stopping, sweep),
``test`` = PrivateTest (final numbers). Saving and loading: :mod:`hybridlib.models.artifacts`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from hybridlib import models
from hybridlib.data.fer import CLASS_NAMES, IMG, augment
from hybridlib.utils import InputError, atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from hybridlib.config import Preset

log = logging.getLogger(__name__)

MODEL_NAME = "emotion_cnn"


# --------------------------------------------------------------------------- configs


@dataclass
class TrainConfig:
    """Hyper-parameters of one training run (all of them end up in the manifest)."""

    lr: float = 1e-3
    dropout: float = 0.4
    batch_size: int = 64
    epochs: int = 6
    patience: int = 3
    seed: int = 0
    augment: bool = True
    class_weights: bool = False
    max_train: int | None = None  # use at most this many training images (sweep on a subset)

    def validate(self) -> None:
        """Reject nonsense up front with a message naming the bad value (sklearn style)."""
        if not (0 < self.lr < 1):
            raise InputError(f"learning rate must be in (0, 1), got {self.lr}")
        if not (0 <= self.dropout < 1):
            raise InputError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.batch_size < 1:
            raise InputError(f"batch size must be ≥ 1, got {self.batch_size}")
        if self.epochs < 1:
            raise InputError(f"epochs must be ≥ 1, got {self.epochs}")
        if self.patience < 1:
            raise InputError(f"patience must be ≥ 1, got {self.patience}")
        if self.max_train is not None and self.max_train < 1:
            raise InputError(f"max_train must be ≥ 1 or None, got {self.max_train}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_preset(cls, preset: Preset, **overrides: Any) -> TrainConfig:
        """The untuned default for a preset: the first value of each sweep grid."""
        cfg = cls(lr=preset.sweep_lr[0], dropout=preset.sweep_dropout[0], batch_size=preset.batch_size,
                  epochs=preset.epochs, patience=preset.patience)
        return dataclasses.replace(cfg, **{k: v for k, v in overrides.items() if v is not None})


@dataclass
class TrainResult:
    """A fitted model plus what happened while fitting it."""

    model: Any
    config: TrainConfig
    history: dict[str, list[float]]
    best_epoch: int  # 1-based
    best_val_accuracy: float
    epochs_run: int
    seconds: float  # wall time of fit (incl. validation)
    train_seconds: float  # time spent in training batches only
    images_seen: int

    @property
    def images_per_s(self) -> float:
        """Training throughput (forward + backward + augmentation), validation excluded."""
        return self.images_seen / self.train_seconds if self.train_seconds > 0 else float("nan")

    def summary(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "best_epoch": self.best_epoch,
                "best_val_accuracy": self.best_val_accuracy, "epochs_run": self.epochs_run,
                "seconds": self.seconds, "train_seconds": self.train_seconds,
                "images_seen": self.images_seen, "images_per_s": self.images_per_s}


def save_h5(model: Any, path: Path) -> Path:
    """Save ``model`` as HDF5 at ``path`` atomically, without optimizer state.

    HDF5 is "legacy" to Keras but it is what tensorflowjs converts into a layers model
    (docs/ARCHITECTURE.md, Pitfalls), so the warning saying so is silenced here.
    """
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*HDF5 file via `model.save\\(\\)`.*")
        model.save(tmp, save_format="h5", include_optimizer=False)
    return Path(path)


# --------------------------------------------------------------------------- data feeding


def class_weights(labels: np.ndarray, n_classes: int = len(CLASS_NAMES)) -> np.ndarray:
    """Balanced weights ``n / (k · count_c)`` (scikit-learn's rule); absent classes get 0."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    w = np.zeros(n_classes)
    present = counts > 0
    w[present] = counts.sum() / (present.sum() * counts[present])
    return w


def check_xy(x: np.ndarray, y: np.ndarray, what: str) -> None:
    if x.ndim != 3 or x.shape[1:] != (IMG, IMG) or x.dtype != np.uint8:
        raise InputError(f"{what} images must be uint8 N×48×48, got {x.dtype} {x.shape}")
    if len(x) != len(y):
        raise InputError(f"{what}: {len(x)} images but {len(y)} labels")
    if len(x) == 0:
        raise InputError(f"{what} split is empty")


def _batches(x: np.ndarray, y: np.ndarray, cfg: TrainConfig, weights: np.ndarray | None):
    """A keras ``Sequence`` shuffling and augmenting per epoch, deterministically."""
    import tf_keras as keras

    class AugmentedBatches(keras.utils.Sequence):
        def __init__(self) -> None:
            super().__init__()
            self.epoch = 0
            self.order = np.random.default_rng([cfg.seed, 0]).permutation(len(x))

        def __len__(self) -> int:
            return int(np.ceil(len(x) / cfg.batch_size))

        def __getitem__(self, i: int):
            idx = self.order[i * cfg.batch_size:(i + 1) * cfg.batch_size]
            imgs = x[idx]
            if cfg.augment:
                imgs = augment(imgs, np.random.default_rng([cfg.seed, self.epoch, i]))
            xb, yb = models.preprocess(imgs), y[idx]
            if weights is not None:
                return xb, yb, weights[yb].astype(np.float32)
            return xb, yb

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = np.random.default_rng([cfg.seed, self.epoch]).permutation(len(x))

    return AugmentedBatches()


def _callbacks(cfg: TrainConfig, checkpoint: Path | None, progress: bool, desc: str):
    """Best-weights checkpoint (memory + optional atomic .h5), early stopping, timing, tqdm."""
    import tf_keras as keras

    class Best(keras.callbacks.Callback):
        """Keep the weights of the best validation accuracy; restore them when training ends.

        Keras' EarlyStopping restores only when it actually stops early; this always does,
        and also writes the best model to ``checkpoint`` atomically when given.
        """

        def __init__(self) -> None:
            super().__init__()
            self.best, self.best_epoch, self.weights = -np.inf, 0, None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            acc = float((logs or {}).get("val_accuracy", np.nan))
            if np.isfinite(acc) and acc > self.best:
                self.best, self.best_epoch, self.weights = acc, epoch + 1, self.model.get_weights()
                if checkpoint is not None:
                    save_h5(self.model, checkpoint)

        def on_train_end(self, logs: dict | None = None) -> None:
            if self.weights is not None:
                self.model.set_weights(self.weights)

    class Timer(keras.callbacks.Callback):
        """Training-batch time only (validation runs between on_test_begin/end)."""

        def __init__(self) -> None:
            super().__init__()
            self.train_s, self.t0, self.in_train = 0.0, 0.0, False

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.t0, self.in_train = time.perf_counter(), True

        def on_test_begin(self, logs: dict | None = None) -> None:
            if self.in_train:
                self.train_s += time.perf_counter() - self.t0
                self.in_train = False

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if self.in_train:
                self.train_s += time.perf_counter() - self.t0
                self.in_train = False

    class Progress(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.bar = None

        def on_train_begin(self, logs: dict | None = None) -> None:
            steps = self.params.get("steps") or 0
            self.bar = tqdm(total=cfg.epochs * steps, desc=desc, unit="batch", leave=False)

        def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.bar.update(1)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            logs = logs or {}
            self.bar.set_postfix(epoch=epoch + 1, acc=f"{logs.get('accuracy', np.nan):.3f}",
                                 val_acc=f"{logs.get('val_accuracy', np.nan):.3f}")
            log.info("%s epoch %d: %s", desc, epoch + 1, {k: round(float(v), 4) for k, v in logs.items()})

        def on_train_end(self, logs: dict | None = None) -> None:
            self.bar.close()

    best, timer = Best(), Timer()
    cbs = [best, timer, keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max",
                                                      patience=cfg.patience)]
    if progress:
        cbs.append(Progress())
    return cbs, best, timer


# --------------------------------------------------------------------------- fit


@contextlib.contextmanager
def _op_determinism() -> Iterator[None]:
    """TF op determinism while fitting only.

    The switch is process-wide and makes some ops (that later notebooks may use in the
    same kernel) raise instead of running, so it is switched back off afterwards.
    """
    import tensorflow as tf

    try:
        from tensorflow.python.framework import config as tf_config
        was_on = tf_config.is_op_determinism_enabled()
    except (ImportError, AttributeError):  # pragma: no cover - older/newer TF layouts
        tf_config, was_on = None, True
    tf.config.experimental.enable_op_determinism()
    try:
        yield
    finally:
        if tf_config is not None and not was_on:
            tf_config.disable_op_determinism()


def fit(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
        config: TrainConfig | None = None, *, checkpoint: str | Path | None = None,
        progress: bool = True, desc: str = "train") -> TrainResult:
    """Train a fresh :func:`models.emotion_cnn` with Adam on uint8 faces; best weights restored.

    ``x_*`` are uint8 ``N×48×48`` (as :meth:`Dataset.split` returns), ``y_*`` int labels.
    ``checkpoint``: where the best model so far is written (atomically) during training.
    """
    import tf_keras as keras

    cfg = config or TrainConfig()
    cfg.validate()
    check_xy(x_train, y_train, "train")
    check_xy(x_val, y_val, "validation")
    y_train = np.asarray(y_train, dtype=np.int64)
    y_val = np.asarray(y_val, dtype=np.int64)
    if cfg.max_train is not None and cfg.max_train < len(x_train):
        # stratified-ish subsample: a seeded permutation keeps class proportions on average
        pick = np.sort(np.random.default_rng([cfg.seed, 1]).permutation(len(x_train))[:cfg.max_train])
        x_train, y_train = x_train[pick], y_train[pick]

    keras.backend.clear_session()
    keras.utils.set_random_seed(cfg.seed)
    model = models.emotion_cnn(dropout=cfg.dropout)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=cfg.lr),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    weights = class_weights(y_train) if cfg.class_weights else None
    seq = _batches(x_train, y_train, cfg, weights)
    cbs, best, timer = _callbacks(cfg, Path(checkpoint) if checkpoint else None, progress, desc)
    t0 = time.perf_counter()
    with _op_determinism():
        hist = model.fit(seq, validation_data=(models.preprocess(x_val), y_val), validation_batch_size=256,
                         epochs=cfg.epochs, callbacks=cbs, verbose=0, shuffle=False)
    seconds = time.perf_counter() - t0
    history = {k: [float(v) for v in vs] for k, vs in hist.history.items()}
    epochs_run = len(history.get("loss", []))
    return TrainResult(model=model, config=cfg, history=history, best_epoch=best.best_epoch,
                       best_val_accuracy=float(best.best), epochs_run=epochs_run, seconds=seconds,
                       train_seconds=timer.train_s, images_seen=epochs_run * len(x_train))


# --------------------------------------------------------------------------- sweep


def grid(preset: Preset) -> list[dict[str, Any]]:
    """lr × dropout × batch from the preset (first values = the untuned default)."""
    return [{"lr": lr, "dropout": d, "batch_size": b}
            for lr, d, b in itertools.product(preset.sweep_lr, preset.sweep_dropout, preset.sweep_batch)]


def sweep(x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray, y_val: np.ndarray,
          configs: list[dict[str, Any]], *, epochs: int, max_train: int | None = None,
          seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Train each config for ``epochs`` (on at most ``max_train`` images); one row per config.

    Rows carry ``lr, dropout, batch_size, val_accuracy`` (best epoch), ``val_loss``,
    ``train_accuracy``, ``seconds``, ``images_per_s``; sorted as given (first = default).
    Each run's per-epoch history is kept in ``table.attrs["histories"]`` (same order).
    """

    if not configs:
        raise InputError("sweep needs at least one configuration")
    rows, histories = [], []
    for i, c in enumerate(tqdm(configs, desc="sweep", unit="config", disable=not progress)):
        cfg = TrainConfig(epochs=epochs, patience=epochs, seed=seed, max_train=max_train, **c)
        r = fit(x_train, y_train, x_val, y_val, cfg, progress=progress,
                desc=f"lr={cfg.lr:g} drop={cfg.dropout:g} bs={cfg.batch_size}")
        k = r.best_epoch - 1
        rows.append({**c, "val_accuracy": r.best_val_accuracy, "val_loss": r.history["val_loss"][k],
                     "train_accuracy": r.history["accuracy"][k], "best_epoch": r.best_epoch,
                     "seconds": r.seconds, "images_per_s": r.images_per_s, "default": i == 0})
        histories.append(r.history)
    table = pd.DataFrame(rows)
    table.attrs["histories"] = histories
    return table


def best_config(table: pd.DataFrame, min_gain: float = 0.005) -> dict[str, Any]:
    """The sweep row with the highest validation accuracy — unless it beats the default by < ``min_gain``.

    A short sweep often leaves every config at the same accuracy (e.g. all still
    predicting the majority class); then a difference in the third decimal of the loss
    is noise, and the untuned default (row flagged ``default``) is kept instead.
    """
    t = table.sort_values(["val_accuracy", "val_loss"], ascending=[False, True])
    row = t.iloc[0]
    if "default" in table and table["default"].any():
        d = table[table["default"]].iloc[0]
        if float(row["val_accuracy"]) < float(d["val_accuracy"]) + min_gain:
            row = d
    return {"lr": float(row["lr"]), "dropout": float(row["dropout"]), "batch_size": int(row["batch_size"])}


def comparison_table(*, baseline: dict[str, Any], sweep_table: pd.DataFrame | None, final_config: TrainConfig,
                     final_val: dict[str, Any], final_test: dict[str, Any], sweep_epochs: int | None = None,
                     sweep_max_train: int | None = None, train_rows: int | None = None) -> pd.DataFrame:
    """The before/after table: baseline, default vs tuned config (same sweep budget), final model.

    Sweep rows carry validation accuracy only (the test split is kept for the final model);
    the baseline has test numbers only (it is not tuned on validation).
    """

    rows = [{"model": "logistic regression on pixels (baseline)", "config": baseline.get("features", ""),
             "budget": f"{baseline.get('train_rows')} rows", "val_accuracy": np.nan,
             "test_accuracy": baseline["accuracy"], "test_macro_f1": baseline["macro_f1"]}]
    if sweep_table is not None and len(sweep_table):
        budget = f"{sweep_epochs} ep × {sweep_max_train or train_rows} img"
        d = sweep_table[sweep_table["default"]].iloc[0]
        bc = best_config(sweep_table)
        b = sweep_table[(sweep_table["lr"] == bc["lr"]) & (sweep_table["dropout"] == bc["dropout"])
                        & (sweep_table["batch_size"] == bc["batch_size"])].iloc[0]
        for label, r in (("CNN, default config (before tuning)", d), ("CNN, best sweep config (after tuning)", b)):
            rows.append({"model": label, "config": f"lr={r.lr:g} dropout={r.dropout:g} batch={int(r.batch_size)}",
                         "budget": budget, "val_accuracy": float(r.val_accuracy),
                         "test_accuracy": np.nan, "test_macro_f1": np.nan})
    c = final_config
    rows.append({"model": "CNN, final (best config, full training)",
                 "config": f"lr={c.lr:g} dropout={c.dropout:g} batch={c.batch_size}",
                 "budget": f"≤{c.epochs} ep × {train_rows if c.max_train is None else c.max_train} img",
                 "val_accuracy": final_val["accuracy"], "test_accuracy": final_test["accuracy"],
                 "test_macro_f1": final_test["macro_f1"]})
    return pd.DataFrame(rows)
