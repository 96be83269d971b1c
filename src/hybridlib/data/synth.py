"""The labelled synthetic stand-in for FER-2013: drawn faces whose expression geometry carries
the class (with intensity and jitter so weak expressions overlap), at FER-2013's split sizes
scaled per preset. Always labelled synthetic wherever it is used.
"""
from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from hybridlib.data.fer import FER2013_COUNTS, IMG, SYNTH_SCALE, USAGES, Dataset
from hybridlib.utils import InputError, atomic_path, sha256_file, write_json_atomic

log = logging.getLogger(__name__)


def split_counts(size: str = "quick", balanced: bool = False) -> dict[str, tuple[int, ...]]:
    """Rows per Usage × class for a synthetic size: FER-2013's imbalance, scaled (min 2 per cell)."""
    if size not in SYNTH_SCALE:
        raise InputError(f"unknown size {size!r}; choose smoke, quick or full")
    s = SYNTH_SCALE[size]
    out = {}
    for u, counts in FER2013_COUNTS.items():
        if balanced:
            per = max(2, round(sum(counts) * s / len(counts)))
            out[u] = tuple([per] * len(counts))
        else:
            out[u] = tuple(max(2, round(c * s)) for c in counts)
    return out


# Expression geometry per class: (mouth curve, mouth open, mouth width, brow tilt (inner
# down > 0), brow raise, eye openness, asymmetry). The class is carried by these; each
# sample draws an intensity and per-feature jitter, so weak expressions overlap.
_EXPR = {
    0: (-0.15, 0.10, 0.85, 0.9, -0.4, 0.65, 0.0),   # Angry: V brows, narrowed eyes, tight mouth
    1: (-0.45, 0.15, 0.80, 0.5, -0.5, 0.55, 0.8),   # Disgust: lowered brows, sneer (asymmetric)
    2: (-0.25, 0.55, 1.05, -0.6, 0.6, 1.30, 0.0),   # Fear: raised inner brows, wide eyes, stretched open mouth
    3: (0.85, 0.25, 1.15, 0.0, 0.1, 0.80, 0.0),     # Happy: smile, slightly squinted eyes
    4: (-0.75, 0.0, 0.85, -0.8, 0.2, 0.80, 0.0),    # Sad: frown, inner brows up
    5: (0.0, 0.95, 0.70, 0.0, 1.0, 1.40, 0.0),      # Surprise: raised brows, wide eyes, O mouth
    6: (0.0, 0.0, 1.0, 0.0, 0.0, 1.0, 0.0),         # Neutral
}


def _draw_face(rng: np.random.Generator, label: int) -> np.ndarray:
    """One 48×48 synthetic face: drawn at 4× then downsampled, with nuisances applied."""

    S = 4 * IMG
    sc = 4.0
    bg_a, bg_b = rng.uniform(20, 200, 2)
    gx = np.linspace(0, 1, S)[None, :]
    ang = rng.uniform(0, np.pi)
    img = (bg_a + (bg_b - bg_a) * (np.cos(ang) * gx + np.sin(ang) * gx.T)).astype(np.float32)

    # face pose/scale (drawn upright, rotated afterwards)
    cx = S / 2 + rng.normal(0, 2.5) * sc
    cy = S / 2 + rng.normal(1.0, 2.5) * sc
    fw = rng.uniform(15, 21) * sc
    fh = fw * rng.uniform(1.15, 1.4)
    yaw = rng.uniform(-0.25, 0.25)  # shifts features sideways (a crude out-of-plane turn)
    skin = rng.uniform(90, 230)
    hair = rng.uniform(0, 255)
    canvas = img.copy()
    cv2.ellipse(canvas, (int(cx), int(cy - fh * 0.35)), (int(fw * 1.08), int(fh * 0.8)), 0, 180, 360, hair, -1, cv2.LINE_AA)
    cv2.ellipse(canvas, (int(cx), int(cy)), (int(fw), int(fh)), 0, 0, 360, skin, -1, cv2.LINE_AA)

    intensity = rng.uniform(0.35, 1.0)
    base = np.array(_EXPR[6], dtype=float)
    target = np.array(_EXPR[label], dtype=float)
    g = base + intensity * (target - base) + rng.normal(0, 0.12, size=7)
    curve, mopen, mwidth, btilt, braise, eopen, asym = g
    dark = max(0.0, skin - rng.uniform(60, 110))
    fx = cx + yaw * fw * 0.6

    # eyes
    ey = cy - fh * 0.18
    for side in (-1, 1):
        ex = fx + side * fw * 0.4
        eh = max(1.0, 3.2 * sc * np.clip(eopen, 0.2, 1.8) * 0.5)
        cv2.ellipse(canvas, (int(ex), int(ey)), (int(3.8 * sc), int(eh)), 0, 0, 360, dark, -1, cv2.LINE_AA)
        cv2.circle(canvas, (int(ex), int(ey)), int(1.2 * sc), max(0.0, dark - 30), -1, cv2.LINE_AA)
        # brows: inner end lowered for Angry (btilt > 0), raised for Sad/Fear (btilt < 0)
        by = ey - (5.0 + 2.5 * braise) * sc
        inner = (ex - side * 4.5 * sc, by + btilt * 2.2 * sc + side * asym * 1.5 * sc)
        outer = (ex + side * 4.5 * sc, by - btilt * 0.8 * sc)
        cv2.line(canvas, (int(inner[0]), int(inner[1])), (int(outer[0]), int(outer[1])), dark,
                 int(1.6 * sc), cv2.LINE_AA)
    # nose
    cv2.line(canvas, (int(fx), int(cy - fh * 0.05)), (int(fx + 1.5 * sc), int(cy + fh * 0.15)),
             max(0.0, skin - 40), int(0.8 * sc), cv2.LINE_AA)
    # mouth: a parabola whose curvature is the class' "curve", opened by "mopen"
    my = cy + fh * 0.45
    half = 6.5 * sc * np.clip(mwidth, 0.4, 1.5)
    xs = np.linspace(-1, 1, 25)
    # image y grows downwards: a positive curve pulls the middle down, i.e. a smile
    ys_top = my + curve * 3.0 * sc * (1 - xs ** 2) + asym * 2.0 * sc * xs
    ys_bot = ys_top + np.clip(mopen, 0, 1.2) * 5.0 * sc * (1 - xs ** 2)
    pts_top = np.stack([fx + xs * half, ys_top], 1)
    pts_bot = np.stack([fx + xs[::-1] * half, ys_bot[::-1]], 1)
    if mopen > 0.12:
        poly = np.concatenate([pts_top, pts_bot]).astype(np.int32)
        cv2.fillPoly(canvas, [poly], max(0.0, dark - 40), cv2.LINE_AA)
    else:
        cv2.polylines(canvas, [pts_top.astype(np.int32)], False, dark, int(1.4 * sc), cv2.LINE_AA)

    # in-plane rotation + scale jitter
    rot = rng.normal(0, 9)
    M = cv2.getRotationMatrix2D((S / 2, S / 2), rot, rng.uniform(0.9, 1.12))
    canvas = cv2.warpAffine(canvas, M, (S, S), borderMode=cv2.BORDER_REFLECT)
    img = cv2.resize(canvas, (IMG, IMG), interpolation=cv2.INTER_AREA)

    # lighting: side gradient and gamma
    lx = np.linspace(-1, 1, IMG)[None, :] * rng.uniform(-0.35, 0.35)
    img = img * (1 + lx) * rng.uniform(0.7, 1.25) + rng.uniform(-25, 25)
    img = np.clip(img, 0, 255)
    img = 255.0 * (img / 255.0) ** rng.uniform(0.7, 1.4)
    # occlusion (hand, hair, glasses) on ~30% of faces
    if rng.random() < 0.3:
        w, h = rng.integers(8, 22), rng.integers(6, 18)
        x0, y0 = rng.integers(0, IMG - w), rng.integers(0, IMG - h)
        img[y0:y0 + h, x0:x0 + w] = rng.uniform(0, 255)
    if rng.random() < 0.4:
        k = int(rng.choice([3, 5]))
        img = cv2.GaussianBlur(img, (k, k), 0)
    img = img + rng.normal(0, rng.uniform(2, 14), img.shape)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def generate_synthetic(size: str = "quick", seed: int = 0, balanced: bool = False,
                       progress: bool = False) -> Dataset:
    """Deterministic synthetic FER-format faces (same seed → same pixels, byte for byte)."""
    counts = split_counts(size, balanced)
    rows = [(u, c) for u in USAGES for c, n in enumerate(counts[u]) for _ in range(n)]
    order = np.random.default_rng(seed).permutation(len(rows))  # interleave classes like FER
    rows = [rows[i] for i in order]
    it = rows
    if progress:
        it = tqdm(rows, desc=f"synth {size}", unit="face", leave=False)
    imgs = np.empty((len(rows), IMG, IMG), dtype=np.uint8)
    for k, (u, c) in enumerate(it):
        # one stream per face, so a face does not depend on how many came before it
        rng = np.random.default_rng([seed, k])
        imgs[k] = _draw_face(rng, c)
    return Dataset(images=imgs, labels=np.array([c for _, c in rows], dtype=np.int64),
                   usage=np.array([u for u, _ in rows], dtype=object),
                   source=f"synthetic:{size}:seed{seed}{':balanced' if balanced else ''}", synthetic=True)


def write_csv(ds: Dataset, path: str | Path) -> str:
    """Write ``ds`` as a FER-2013 csv atomically; return the file's SHA-256."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write("emotion,pixels,Usage\n")
            for img, lab, u in zip(ds.images, ds.labels, ds.usage):
                f.write(f"{int(lab)},{' '.join(map(str, img.ravel().tolist()))},{u}\n")
    return sha256_file(path)


def write_synthetic(path: str | Path, size: str = "quick", seed: int = 0, balanced: bool = False,
                    progress: bool = False) -> str:
    """Generate and write the synthetic csv plus its provenance sidecar; return the SHA-256."""

    ds = generate_synthetic(size, seed, balanced, progress=progress)
    path = Path(path)
    digest = write_csv(ds, path)
    write_json_atomic(path.with_suffix(".synthetic.json"), {
        "synthetic": True, "generator": "hybridlib.data.generate_synthetic", "size": size,
        "seed": seed, "balanced": balanced, "rows": len(ds), "sha256": digest,
        "note": "Drawn faces whose class is carried by expression geometry; NOT FER-2013.",
    })
    return digest


def ensure_synthetic(folder: str | Path, size: str = "quick", seed: int = 0) -> Path:
    """The synthetic csv for ``size`` under ``folder``, generated once and reused."""
    path = Path(folder) / f"fer_synth_{size}_seed{seed}.csv"
    if not (path.is_file() and path.with_suffix(".synthetic.json").is_file()):
        log.info("generating synthetic %s dataset at %s", size, path)
        write_synthetic(path, size=size, seed=seed, progress=True)
    return path
