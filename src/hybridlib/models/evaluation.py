"""Evaluation of a trained model on the test split, and the pixel logistic-regression baseline
it must beat.
"""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from threadpoolctl import threadpool_limits

from hybridlib import models
from hybridlib.data.fer import CLASS_NAMES, IMG
from hybridlib.models.train import check_xy

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras

# --------------------------------------------------------------------------- evaluation


def predict(model: tf_keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for uint8 faces (preprocessing included)."""
    return model.predict(models.preprocess(images), batch_size=batch_size, verbose=0)


def metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...] = CLASS_NAMES) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support, confusion matrix (rows = true)."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

    labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {n: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                          "support": int(s[i])} for i, n in enumerate(class_names)},
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "n": int(len(y_true)),
    }


def evaluate(model: tf_keras.Model, images: np.ndarray, labels: np.ndarray,
             class_names: tuple[str, ...] = CLASS_NAMES) -> dict[str, Any]:
    """:func:`metrics` of the model's arg-max predictions on uint8 faces."""
    check_xy(images, labels, "evaluation")
    return metrics(np.asarray(labels), predict(model, images).argmax(axis=1), class_names)


def _pixel_features(images: np.ndarray, size: int) -> np.ndarray:
    if size == IMG:
        small = images
    else:
        small = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) for im in images])
    return small.reshape(len(images), -1).astype(np.float32) / 255.0


def baseline_logreg(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray,
                    *, max_train: int = 4000, size: int = 24, pca: int = 64, seed: int = 0,
                    class_names: tuple[str, ...] = CLASS_NAMES) -> dict[str, Any]:
    """Multinomial logistic regression on pixels — the floor a CNN must beat.

    Pixels are area-downsampled to ``size``×``size`` (24×24 = 576), standardised and
    projected on their first ``pca`` principal components; at most ``max_train`` rows
    are used. On raw 48×48 pixels lbfgs stops unconverged after ~25 s on 5.7k rows
    here; with the PCA step (and one BLAS thread) it converges in well under a second
    to the same accuracy within a point. It is a baseline, not a contender.
    """
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    check_xy(x_train, y_train, "baseline train")
    check_xy(x_test, y_test, "baseline test")
    if len(x_train) > max_train:
        pick = np.random.default_rng(seed).permutation(len(x_train))[:max_train]
        x_train, y_train = x_train[pick], np.asarray(y_train)[pick]

    t0 = time.perf_counter()
    n_comp = int(min(pca, len(x_train), size * size))
    clf = make_pipeline(StandardScaler(), PCA(n_comp, random_state=seed),
                        LogisticRegression(max_iter=500, random_state=seed))
    # One BLAS thread: these matrices are tiny, and OpenBLAS' spinning threads on a busy
    # 2-core machine made the fit 100× slower (14 s instead of 0.14 s, measured here).
    with threadpool_limits(1):
        clf.fit(_pixel_features(x_train, size), y_train)
        pred = clf.predict(_pixel_features(x_test, size))
    out = metrics(np.asarray(y_test), pred, class_names)
    out.update({"seconds": time.perf_counter() - t0, "train_rows": int(len(x_train)),
                "features": f"{size}x{size} pixels, standardised, PCA {n_comp}"})
    return out
