"""Inversion models: rebuild the 48×48 face from a tensor that left the phone.

Two attackers, both trained on (tensor, face) pairs of faces the attacker owns and scored on
held-out faces:

* :class:`RidgeInverter` — a linear decoder in closed form (ridge regression, primal or dual
  form by shape). Exact on the identity cut (given more faces than pixels), the mean face on a
  constant tensor: the two
  reference ends the tests pin down. Seconds for every cut.
* :func:`fit_conv_decoder` — a small tf_keras decoder (dense or 1×1 conv in, bilinear
  up-sampling + 3×3 convs out, sigmoid pixels), a few epochs: the non-linear attacker, since a
  linear map understates what can be read back from deep, rectified features.

:func:`uint8_roundtrip` turns tensors into what the uint8 wire delivers (per-tensor affine
quantisation of :func:`hybridlib.wire.quantize_uint8`, one tensor per frame as the page sends it,
dequantised as the server reads it).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from hybridlib.utils import InputError
from hybridlib.wire import quantize_uint8

log = logging.getLogger(__name__)

#: ridge penalty relative to the mean feature variance (scale-free across cuts)
RIDGE_LAMBDA = 1e-3
IMG = 48


def _flat(x: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=np.float32)
    if a.ndim < 2 or len(a) == 0:
        raise InputError(f"{name}: need a non-empty batch (N×…), got shape {a.shape}")
    if not np.isfinite(a).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return a.reshape(len(a), -1)


def uint8_roundtrip(x: np.ndarray) -> np.ndarray:
    """Each row of ``x`` quantised to uint8 on its own (the wire's per-tensor scale and zero point,
    one frame per request) and dequantised: the float tensor the receiving side works with."""
    a = np.asarray(x, dtype=np.float32)
    out = np.empty_like(a)
    for i in range(len(a)):
        q, scale, zero = quantize_uint8(a[i])
        out[i] = (q.astype(np.float32) - zero) * np.float32(scale)
    return out


@dataclass
class RidgeInverter:
    """Linear decoder ``face ≈ (x − μx)·W + μy`` fitted by ridge regression.

    Why both forms: the early cut carries 18,432 numbers per face against a few thousand
    training faces, so when features outnumber faces the fit stays in the dual — ``W = Xᵀ·A`` with
    ``A = (X·Xᵀ + αI)⁻¹·Y`` (an N×N system), never formed: a prediction is ``(x·Xᵀ)·A`` — and in
    the primal (a D×D system) otherwise. The same estimator, whichever is cheaper.
    """

    lam: float = RIDGE_LAMBDA
    w: np.ndarray | None = None      # primal: D×P
    xc: np.ndarray | None = None     # dual: the centred training features (N×D) …
    a: np.ndarray | None = None      # … and the N×P dual coefficients
    mx: np.ndarray | None = None
    my: np.ndarray | None = None
    shape: tuple[int, ...] = ()

    def fit(self, x: np.ndarray, y: np.ndarray) -> "RidgeInverter":
        xf, yf = _flat(x, "features"), _flat(y, "faces")
        if len(xf) != len(yf):
            raise InputError(f"{len(xf)} feature rows but {len(yf)} faces")
        self.shape = tuple(np.shape(y)[1:])
        self.mx, self.my = xf.mean(0), yf.mean(0)
        xc, yc = xf - self.mx, yf - self.my  # float32 products (the cost), float64 solves
        n, d = xc.shape
        alpha = self.lam * max(float(np.einsum("ij,ij->", xc, xc, dtype=np.float64)) / d, 1e-12)
        self.w = self.xc = self.a = None
        if d <= n:
            gram = (xc.T @ xc).astype(np.float64)
            self.w = np.linalg.solve(gram + alpha * np.eye(d), (xc.T @ yc).astype(np.float64)).astype(np.float32)
        else:
            gram = (xc @ xc.T).astype(np.float64)
            self.xc, self.a = xc, np.linalg.solve(gram + alpha * np.eye(n), yc.astype(np.float64)).astype(np.float32)
        return self

    def predict(self, x: np.ndarray) -> np.ndarray:
        if self.mx is None:
            raise InputError("RidgeInverter.predict before fit")
        xf = _flat(x, "features")
        if xf.shape[1] != len(self.mx):
            raise InputError(f"features have {xf.shape[1]} values per row, the decoder was fitted on {len(self.mx)}")
        z = xf - self.mx
        out = (z @ self.w if self.w is not None else (z @ self.xc.T) @ self.a) + self.my
        return np.clip(out, 0.0, 1.0).astype(np.float32).reshape(len(xf), *self.shape)


def _upsamplable(shape: tuple[int, ...]) -> bool:
    """A spatial tensor whose side reaches 48 by doubling (48, 24, 12, 6, 3)."""
    if len(shape) != 3 or shape[0] != shape[1]:
        return False
    h = shape[0]
    while h < IMG:
        h *= 2
    return h == IMG


def conv_decoder(shape: tuple[int, ...], width: int = 32, seed: int = 0) -> Any:
    """A small decoder from a tensor of ``shape`` to a 48×48×1 face in [0, 1]: a 1×1 conv (spatial
    inputs whose side doubles up to 48) or a dense layer onto 6×6 (anything else, flattened), then
    bilinear ×2 up-sampling with a 3×3 conv per step, and a sigmoid 3×3 conv out."""
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    L = keras.layers
    inp = keras.Input(shape=shape, name="tensor")
    if _upsamplable(shape):
        x, h = L.Conv2D(width, 1, activation="relu", name="reduce")(inp), shape[0]
    else:
        x = L.Flatten()(inp) if len(shape) > 1 else inp
        x = L.Dense(6 * 6 * width, activation="relu", name="project")(x)
        x, h = L.Reshape((6, 6, width))(x), 6
    step = 0
    while h < IMG:
        x = L.UpSampling2D(2, interpolation="bilinear")(x)
        h *= 2
        if h < IMG:  # the last doubling goes straight to the output conv (full-size convs are the cost)
            x = L.Conv2D(width, 3, padding="same", activation="relu", name=f"up{step}")(x)
        step += 1
    if h == IMG and step == 0:  # already 48×48 (the identity cut): one hidden conv
        x = L.Conv2D(width, 3, padding="same", activation="relu", name="hidden")(x)
    out = L.Conv2D(1, 3, padding="same", activation="sigmoid", name="face")(x)
    model = keras.Model(inp, out, name="inverter")
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss="mse")
    return model


@dataclass
class ConvInverter:
    """A trained :func:`conv_decoder` with the per-feature standardisation it was trained on."""

    model: Any
    mu: np.ndarray
    sd: np.ndarray

    def predict(self, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
        z = (np.asarray(x, np.float32) - self.mu) / self.sd
        out = [np.asarray(self.model(z[i:i + batch_size], training=False)) for i in range(0, len(z), batch_size)]
        return np.concatenate(out).astype(np.float32)  # eager: no predict() retracing per batch size


def fit_conv_decoder(x: np.ndarray, y: np.ndarray, epochs: int = 3, batch_size: int = 64,
                     seed: int = 0, width: int = 32) -> ConvInverter:
    """Train :func:`conv_decoder` on features ``x`` (N×…) → faces ``y`` (N×48×48×1 in [0, 1]),
    features standardised with the training set's per-value mean and spread."""
    x = np.asarray(x, np.float32)
    y = np.asarray(y, np.float32)
    if len(x) != len(y) or len(x) == 0:
        raise InputError(f"need equal, non-empty batches; got {len(x)} tensors and {len(y)} faces")
    if y.shape[1:] != (IMG, IMG, 1):
        raise InputError(f"faces must be N×48×48×1, got {y.shape}")
    if not (isinstance(epochs, int) and epochs >= 1):
        raise InputError(f"epochs must be a positive integer, got {epochs!r}")
    mu = x.mean(0)
    # floored at 1% of the overall spread: a value that (nearly) never moves in training (a dead
    # ReLU channel) must not turn the uint8 wire's rounding into a huge input
    sd = np.maximum(x.std(0), 1e-2 * float(x.std()) + 1e-6)
    model = conv_decoder(tuple(int(d) for d in x.shape[1:]), width=width, seed=seed)
    model.fit((x - mu) / sd, y, epochs=epochs, batch_size=batch_size, shuffle=True, verbose=0)
    return ConvInverter(model, mu, sd)
