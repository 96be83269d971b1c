"""FER-2013 data: csv and folder loaders, validation, the synthetic default, splits, augmentation.

One dataset object serves every later step, whatever the source:

* the Kaggle/ICML csv ``emotion,pixels,Usage`` (2304 space-separated ints per row),
* the folder copy ``train|test/<class name>/*.png|jpg`` the seed used,
* a deterministic *synthetic* FER-format csv (FER-2013 cannot be downloaded here),
  written in the same csv format so that one code path reads both.

Validation never skips silently: a bad row raises :class:`DataError` naming ``PATH:line``
and the reason, unless the caller asks to drop bad rows, in which case the count is
reported.
"""
from __future__ import annotations

import csv
import hashlib
import io
import logging
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from hybridlib.utils import InputError, sha256_file

log = logging.getLogger(__name__)

CLASS_NAMES: tuple[str, ...] = ("Angry", "Disgust", "Fear", "Happy", "Sad", "Surprise", "Neutral")
USAGES: tuple[str, ...] = ("Training", "PublicTest", "PrivateTest")
#: split name used by the study → FER-2013 ``Usage`` value
SPLITS: dict[str, str] = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
IMG = 48
N_PIXELS = IMG * IMG
COLUMNS = ("emotion", "pixels", "Usage")

#: FER-2013's per-class counts per Usage (Angry … Neutral); sums 28,709 / 3,589 / 3,589.
FER2013_COUNTS: dict[str, tuple[int, ...]] = {
    "Training": (3995, 436, 4097, 7215, 4830, 3171, 4965),
    "PublicTest": (467, 56, 496, 895, 653, 415, 607),
    "PrivateTest": (491, 55, 528, 879, 594, 416, 626),
}
#: fraction of FER-2013's size for each synthetic size
SYNTH_SCALE: dict[str, float] = {"smoke": 0.02, "quick": 0.2, "full": 1.0}
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".pgm")


class DataError(InputError):
    """A dataset file or folder is malformed; the message names ``PATH:line`` and why."""


@dataclass
class Dataset:
    """Faces as uint8 ``N×48×48``, int labels 0–6, a Usage per row, and where they came from."""

    images: np.ndarray
    labels: np.ndarray
    usage: np.ndarray
    source: str
    synthetic: bool
    class_names: tuple[str, ...] = CLASS_NAMES
    dropped: int = 0
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.images.dtype != np.uint8 or self.images.ndim != 3 or self.images.shape[1:] != (IMG, IMG):
            raise DataError(f"{self.source}: images must be uint8 N×48×48, got {self.images.dtype} {self.images.shape}")
        n = len(self.images)
        if len(self.labels) != n or len(self.usage) != n:
            raise DataError(f"{self.source}: {n} images but {len(self.labels)} labels and {len(self.usage)} usages")

    def __len__(self) -> int:
        return len(self.images)

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(images, labels)`` of ``train`` (Training), ``val`` (PublicTest) or ``test`` (PrivateTest)."""
        if name not in SPLITS:
            raise InputError(f"unknown split {name!r}; choose train, val or test")
        m = self.usage == SPLITS[name]
        return self.images[m], self.labels[m]

    def counts(self) -> "pd.DataFrame":  # noqa: F821
        """Rows per Usage × class, a tidy table for plots and ``validate``."""

        df = pd.DataFrame({"Usage": self.usage, "emotion": [self.class_names[i] for i in self.labels]})
        t = df.groupby(["Usage", "emotion"]).size().unstack(fill_value=0)
        t = t.reindex(index=[u for u in USAGES if u in t.index], columns=list(self.class_names), fill_value=0)
        return t

    def fingerprint(self) -> str:
        """SHA-256 over pixels, labels and usage: identifies the data a model was trained on."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.images).tobytes())
        h.update(np.asarray(self.labels, dtype=np.int64).tobytes())
        h.update("\n".join(map(str, self.usage)).encode())
        return h.hexdigest()


# --------------------------------------------------------------------------- csv


def _is_ascii_int(t: str) -> bool:
    """True for an optionally negative run of ASCII digits (what a csv writer emits)."""
    d = t[1:] if t.startswith("-") else t
    return d.isascii() and d.isdigit()


def _parse_pixels(text: str) -> tuple[np.ndarray | None, str | None]:
    """Parse one ``pixels`` field; return (uint8 array, None) or (None, reason)."""
    tokens = text.split()
    if len(tokens) != N_PIXELS:
        return None, f"expected {N_PIXELS} pixel values, got {len(tokens)}"
    # ASCII digits only: Python's int() would also take "+5", "٣" or "1_0", which no
    # FER-2013 writer produces and which the fast path rejects, so both paths agree.
    bad = next((t for t in tokens if not _is_ascii_int(t)), None)
    if bad is not None:
        return None, f"pixel value {bad!r} is not an integer"
    vals = np.array(tokens, dtype=np.int64)
    if vals.min() < 0 or vals.max() > 255:
        bad = vals[(vals < 0) | (vals > 255)][0]
        return None, f"pixel value {bad} outside 0–255"
    return vals.astype(np.uint8), None


def _parse_fast(pixels: list[str]) -> np.ndarray | None:
    """Vectorised parse of every ``pixels`` field at once; None when anything looks off.

    Checks the raw bytes first (only digits and single spaces, no token over 3 digits,
    exactly 2303 spaces inside each row), then lets ``np.fromstring`` convert all 82 M values
    of FER-2013 in one C call. Any irregularity returns None and the caller re-parses row by
    row to name the bad line, so this path never has to explain an error.
    """
    if not pixels:
        return np.zeros((0, IMG, IMG), dtype=np.uint8)
    fields = [p.strip() for p in pixels]
    joined = " ".join(fields)
    try:
        b = np.frombuffer(joined.encode("ascii"), dtype=np.uint8)
    except UnicodeEncodeError:
        return None
    is_d = b != 32
    if not ((b - 48 <= 9) | ~is_d).all():  # uint8 wrap-around: anything below '0' is > 9 too
        return None
    if not (is_d[0] and is_d[-1]) or (~is_d[1:] & ~is_d[:-1]).any():  # empty token
        return None
    if (is_d[3:] & is_d[2:-1] & is_d[1:-2] & is_d[:-3]).any():  # token of 4+ digits
        return None
    if any(f.count(" ") != N_PIXELS - 1 for f in fields):  # str.count is C: ~0.1 s for FER-2013
        return None
    vals = np.fromstring(joined, dtype=np.int16, sep=" ")  # noqa: NPY201 (text mode is supported)
    if vals.size != len(fields) * N_PIXELS or vals.max() > 255:
        return None
    return vals.astype(np.uint8).reshape(len(fields), IMG, IMG)


def _load_csv_fast(path: Path, header: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """pandas' C parser + vectorised checks for a well-formed file; None at the first doubt."""

    try:  # pandas reads a path ~3× faster than the same text through StringIO
        df = pd.read_csv(path, dtype=str, keep_default_na=False, skip_blank_lines=False,
                         engine="c", encoding="utf-8-sig")
    except (pd.errors.ParserError, ValueError):
        return None
    df.columns = [c.strip() for c in df.columns]
    if list(df.columns) != header or df.empty:
        return None
    emo = df["emotion"].str.strip()
    if not emo.str.fullmatch(r"[0-6]").all() or not df["Usage"].str.strip().isin(USAGES).all():
        return None
    imgs = _parse_fast(df["pixels"].tolist())
    if imgs is None:
        return None
    return imgs, emo.astype(np.int64).to_numpy(), df["Usage"].str.strip().to_numpy(dtype=object)


def load_csv(path: str | Path, drop_bad: bool = False) -> Dataset:
    """Read a FER-2013 csv (real or synthetic).

    Raises :class:`DataError` on the first bad row (``PATH:line: reason``) unless
    ``drop_bad``; then bad rows are dropped and counted in ``Dataset.dropped``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    raw = path.read_bytes()
    if not raw.strip():
        raise DataError(f"{path}:1: empty file (expected a header emotion,pixels,Usage)")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise DataError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[e.start]:02x}); is this a csv file?") from None
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise DataError(f"{path}:{line}: NUL byte: this is not a csv text file")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip() for h in next(reader)]
    except csv.Error as e:
        raise DataError(f"{path}:1: not a csv file ({e})") from None
    missing = [c for c in ("emotion", "pixels") if c not in header]
    if missing:
        raise DataError(f"{path}:1: missing column(s) {', '.join(missing)} in header {header!r} "
                        f"(expected emotion,pixels,Usage)")
    i_e, i_p = header.index("emotion"), header.index("pixels")
    i_u = header.index("Usage") if "Usage" in header else None
    if i_u is None:
        raise DataError(f"{path}:1: missing column Usage in header {header!r} (expected emotion,pixels,Usage)")

    synthetic = _is_synthetic(path)
    fast = _load_csv_fast(path, header)
    if fast is not None:
        imgs, lab, use = fast
        return Dataset(images=imgs, labels=lab, usage=use, source=str(path), synthetic=synthetic)

    # Slow path: something is off somewhere; walk the rows to name each bad line.
    labels: list[int] = []
    pixels: list[str] = []
    usage: list[str] = []
    lines: list[int] = []
    errors: list[str] = []

    def bad(line: int, reason: str) -> None:
        msg = f"{path}:{line}: {reason}"
        if not drop_bad:
            raise DataError(msg)
        errors.append(msg)

    try:
        for row in reader:
            line = reader.line_num
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != len(header):
                bad(line, f"expected {len(header)} fields, got {len(row)}")
                continue
            e, u = row[i_e].strip(), row[i_u].strip()
            if not _is_ascii_int(e) or not 0 <= int(e) <= 6:
                bad(line, f"label {e!r} outside 0–6")
                continue
            if u not in USAGES:
                bad(line, f"unknown Usage {u!r} (expected one of {', '.join(USAGES)})")
                continue
            labels.append(int(e))
            pixels.append(row[i_p])
            usage.append(u)
            lines.append(line)
    except csv.Error as e:
        raise DataError(f"{path}:{reader.line_num}: not a valid csv row ({e})") from None

    imgs = _parse_fast(pixels)
    keep = np.ones(len(pixels), dtype=bool)
    if imgs is None:  # slow path: find and name each bad row
        imgs = np.zeros((len(pixels), IMG, IMG), dtype=np.uint8)
        for k, (p, line) in enumerate(zip(pixels, lines)):
            arr, reason = _parse_pixels(p)
            if reason:
                bad(line, reason)
                keep[k] = False
            else:
                imgs[k] = arr.reshape(IMG, IMG)
    if not keep.all() or errors:
        for msg in errors[:10]:
            log.warning("dropped %s", msg)
    n_dropped = len(errors)
    if keep.sum() == 0:
        raise DataError(f"{path}: no valid rows" + (f" ({n_dropped} dropped)" if n_dropped else ""))
    return Dataset(images=imgs[keep], labels=np.array(labels, dtype=np.int64)[keep],
                   usage=np.array(usage, dtype=object)[keep], source=str(path),
                   synthetic=synthetic, dropped=n_dropped, extra={"errors": errors})


def _is_synthetic(path: Path) -> bool:
    """Synthetic csvs carry a sidecar ``.synthetic.json`` (written by :func:`write_synthetic`)."""
    return path.with_suffix(".synthetic.json").is_file()


# --------------------------------------------------------------------------- folders


def _class_index(name: str) -> int | None:
    low = {c.lower(): i for i, c in enumerate(CLASS_NAMES)}
    return low.get(name.strip().lower())


def load_folder(path: str | Path, drop_bad: bool = False) -> Dataset:
    """Read the folder layout ``train|test/<class>/*.png|jpg`` (Kaggle's FER-2013 copy).

    ``train`` becomes Training; ``test`` is split deterministically (sorted file names,
    alternating) into PublicTest and PrivateTest, so val and test stay disjoint.
    """

    root = Path(path)
    splits = [d for d in ("train", "test") if (root / d).is_dir()]
    if not splits:
        raise DataError(f"{root}: expected sub-folders train/ and/or test/ (each with one folder per class)")
    imgs: list[np.ndarray] = []
    labels: list[int] = []
    usage: list[str] = []
    errors: list[str] = []

    def bad(msg: str) -> None:
        if not drop_bad:
            raise DataError(msg)
        errors.append(msg)

    for split in splits:
        for cdir in sorted(p for p in (root / split).iterdir() if p.is_dir()):
            ci = _class_index(cdir.name)
            if ci is None:
                bad(f"{cdir}: unknown class folder {cdir.name!r} (expected one of {', '.join(CLASS_NAMES)})")
                continue
            files = sorted(f for f in cdir.iterdir() if f.suffix.lower() in IMAGE_EXTS)
            for k, f in enumerate(files):
                img = cv2.imread(str(f), cv2.IMREAD_GRAYSCALE)
                if img is None:
                    bad(f"{f}: unreadable image")
                    continue
                if img.shape != (IMG, IMG):
                    img = cv2.resize(img, (IMG, IMG), interpolation=cv2.INTER_AREA)
                imgs.append(img)
                labels.append(ci)
                usage.append("Training" if split == "train" else ("PublicTest" if k % 2 == 0 else "PrivateTest"))
    if not imgs:
        raise DataError(f"{root}: no readable images found")
    return Dataset(images=np.stack(imgs).astype(np.uint8), labels=np.array(labels, dtype=np.int64),
                   usage=np.array(usage, dtype=object), source=str(root), synthetic=False,
                   dropped=len(errors), extra={"errors": errors})


def load(path: str | Path, drop_bad: bool = False) -> Dataset:
    """Load a csv file or a folder, whichever ``path`` is."""
    p = Path(path)
    if p.is_dir():
        return load_folder(p, drop_bad=drop_bad)
    return load_csv(p, drop_bad=drop_bad)


def find_fer2013(root: Path) -> Path | None:
    """FER-2013 in ``data/raw``: ``fer2013.csv`` or a folder with ``train/``; None if absent."""
    raw = root / "data" / "raw"
    for cand in (raw / "fer2013.csv", raw / "fer2013" / "fer2013.csv"):
        if cand.is_file():
            return cand
    for cand in (raw, raw / "fer2013"):
        if (cand / "train").is_dir():
            return cand
    return None


# --------------------------------------------------------------------------- augmentation


def augment(images: np.ndarray, rng: np.random.Generator, *, flip: bool = True,
            max_rotation: float = 15.0, max_shift: float = 0.1, zoom: float = 0.1,
            brightness: float = 0.25, contrast: float = 0.25) -> np.ndarray:
    """The seed's augmentation: mirror, rotation, shift/zoom and lighting changes.

    Takes and returns uint8 ``N×48×48`` (labels are untouched: every transform keeps the
    expression). Deterministic for a given ``rng`` state.
    """

    if images.ndim != 3 or images.shape[1:] != (IMG, IMG) or images.dtype != np.uint8:
        raise InputError(f"augment expects uint8 N×48×48, got {images.dtype} {images.shape}")
    out = np.empty_like(images)
    n = len(images)
    flips = rng.random(n) < 0.5 if flip else np.zeros(n, bool)
    angles = rng.uniform(-max_rotation, max_rotation, n)
    scales = rng.uniform(1 - zoom, 1 + zoom, n)
    shifts = rng.uniform(-max_shift, max_shift, (n, 2)) * IMG
    gains = rng.uniform(1 - contrast, 1 + contrast, n)
    offs = rng.uniform(-brightness, brightness, n) * 255
    c = IMG / 2
    for i in range(n):
        img = images[i][:, ::-1] if flips[i] else images[i]
        M = cv2.getRotationMatrix2D((c, c), angles[i], scales[i])
        M[:, 2] += shifts[i]
        w = cv2.warpAffine(np.ascontiguousarray(img), M, (IMG, IMG), borderMode=cv2.BORDER_REFLECT)
        out[i] = np.clip(w.astype(np.float32) * gains[i] + offs[i] + (1 - gains[i]) * 128, 0, 255).astype(np.uint8)
    return out


def samples_per_class(ds: Dataset, per_class: int = 8, seed: int = 0) -> list[list[np.ndarray]]:
    """A few images of each class (for the sample grid), chosen reproducibly."""
    rng = np.random.default_rng(seed)
    out = []
    for c in range(len(ds.class_names)):
        idx = np.flatnonzero(ds.labels == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        out.append([ds.images[i] for i in pick])
    return out


def describe(ds: Dataset) -> dict:
    """Counts, fingerprint and provenance of a dataset, as saved in ``results/data.json``."""
    counts = ds.counts()
    src = Path(ds.source)
    return {
        "source": ds.source,
        "synthetic": ds.synthetic,
        "rows": len(ds),
        "dropped": ds.dropped,
        "fingerprint": ds.fingerprint(),
        "file_sha256": sha256_file(src) if src.is_file() else None,
        "counts": {u: {c: int(v) for c, v in row.items()} for u, row in counts.iterrows()},
        "pixel_mean": float(ds.images.mean()),
        "pixel_std": float(ds.images.std()),
    }
