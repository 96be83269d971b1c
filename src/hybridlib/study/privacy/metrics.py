"""Reconstruction quality and linkability of rebuilt faces: SSIM, PSNR, and self-matching.

Why a batched SSIM of our own: scikit-image's ``structural_similarity`` handles one image a call
(~0.3 ms per 48×48 face plus Python overhead); the study scores thousands of reconstructions per
run within a seconds-sized budget. :func:`ssim` is the same formula with the same defaults
(7×7 uniform window, K1 = 0.01, K2 = 0.03, sample covariance, the border of half a window left
out of the mean) over a whole batch at once; ``tests/unit/test_privacy.py`` checks it against
scikit-image to 1e-6.
"""
from __future__ import annotations

import numpy as np

from hybridlib.utils import InputError

#: PSNR of a perfect reconstruction is infinite; MSE is floored here so means stay finite (100 dB)
MSE_FLOOR = 1e-10


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both batches as float64 ``N×H×W`` (a trailing channel of 1 dropped), checked alike."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.ndim == 4 and x.shape[-1] == 1:
        x = x[..., 0]
    if y.ndim == 4 and y.shape[-1] == 1:
        y = y[..., 0]
    if x.ndim == 2:
        x = x[None]
    if y.ndim == 2:
        y = y[None]
    if x.shape != y.shape or x.ndim != 3:
        raise InputError(f"need two batches of gray images of one shape (N×H×W), got {np.shape(a)} and {np.shape(b)}")
    if not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise InputError("images contain NaN or infinite values")
    return x, y


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 1.0) -> np.ndarray:
    """Per-image peak signal-to-noise ratio in dB (``10·log10(R² / MSE)``), MSE floored at
    :data:`MSE_FLOOR` so an exact reconstruction scores 100 dB, not infinity."""
    x, y = _pair(a, b)
    mse = np.maximum(((x - y) ** 2).mean(axis=(1, 2)), MSE_FLOOR)
    return 10.0 * np.log10(data_range ** 2 / mse)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 1.0, win_size: int = 7) -> np.ndarray:
    """Per-image mean structural similarity (Wang et al. 2004) as scikit-image computes it by
    default: local means, variances and covariance over a ``win_size``² uniform window (reflected
    at the border, sample covariance), the SSIM map averaged without its border of
    ``(win_size − 1) / 2`` pixels. 1 means identical; unrelated images score near 0."""
    from scipy.ndimage import uniform_filter

    x, y = _pair(a, b)
    if win_size < 3 or win_size % 2 == 0 or win_size > min(x.shape[1:]):
        raise InputError(f"win_size must be odd, ≥ 3 and ≤ the image side, got {win_size}")
    size = (1, win_size, win_size)
    np_ = win_size ** 2
    cov_norm = np_ / (np_ - 1)
    ux, uy = uniform_filter(x, size), uniform_filter(y, size)
    uxx, uyy, uxy = uniform_filter(x * x, size), uniform_filter(y * y, size), uniform_filter(x * y, size)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux ** 2 + uy ** 2 + c1) * (vx + vy + c2))
    p = (win_size - 1) // 2
    return s[:, p:-p, p:-p].mean(axis=(1, 2))


def self_match(recon: np.ndarray, originals: np.ndarray) -> np.ndarray:
    """For each reconstruction, whether its nearest original (pixel L2) among ``originals`` is its
    own source (row i ↔ row i): can a rebuilt face be linked back to the face it came from?
    Chance is 1/N. The synthetic data has no persons (every face is an independent draw), so this
    instance matching stands where a face-identity attack would on real data."""
    x, y = _pair(recon, originals)
    xf, yf = x.reshape(len(x), -1), y.reshape(len(y), -1)
    d = (xf ** 2).sum(1)[:, None] - 2 * xf @ yf.T + (yf ** 2).sum(1)[None, :]
    return d.argmin(axis=1) == np.arange(len(x))
