"""Loaders, validation, the synthetic generator and augmentation."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hybridlib import data
from hybridlib.data import DataError
from hybridlib.utils import InputError

HEADER = "emotion,pixels,Usage\n"


def _row(label=3, usage="Training", pixels=None) -> str:
    px = " ".join(map(str, pixels if pixels is not None else np.arange(2304) % 256))
    return f"{label},{px},{usage}\n"


def _write(tmp_path: Path, text: str | bytes, name="d.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return p


def test_csv_roundtrip(tmp_path):
    p = _write(tmp_path, HEADER + _row(0) + _row(6, "PublicTest") + _row(3, "PrivateTest"))
    ds = data.load_csv(p)
    assert ds.images.shape == (3, 48, 48) and ds.images.dtype == np.uint8
    assert ds.labels.tolist() == [0, 6, 3]
    assert ds.images[0, 0, :5].tolist() == [0, 1, 2, 3, 4]
    assert ds.images[0, 47, 47] == 2303 % 256
    assert not ds.synthetic
    x, y = ds.split("val")
    assert len(x) == 1 and y.tolist() == [6]


@pytest.mark.parametrize("row, reason", [
    (_row(pixels=[1] * 2303), "expected 2304 pixel values, got 2303"),
    (_row(pixels=[1] * 2303 + [256]), "pixel value 256 outside 0–255"),
    (_row(pixels=[1] * 2303 + [-1]), "outside 0–255"),
    (_row(pixels=["1"] * 2303 + ["1.5"]), "pixel value '1.5' is not an integer"),
    (_row(label=7), "label '7' outside 0–6"),
    (_row(label="x"), "label 'x' outside 0–6"),
    (_row(usage="Validation"), "unknown Usage 'Validation'"),
])
def test_bad_row_names_path_and_line(tmp_path, row, reason):
    p = _write(tmp_path, HEADER + _row() + row)
    with pytest.raises(DataError) as e:
        data.load_csv(p)
    assert f"{p}:3:" in str(e.value)
    assert reason in str(e.value)


def test_drop_bad_counts(tmp_path):
    p = _write(tmp_path, HEADER + _row() + _row(label=9) + _row(pixels=[0] * 10) + _row(5))
    ds = data.load_csv(p, drop_bad=True)
    assert len(ds) == 2 and ds.dropped == 2 and ds.labels.tolist() == [3, 5]


@pytest.mark.parametrize("content, reason", [
    (b"", "empty file"),
    (b"emotion,Usage\n3,Training\n", "missing column(s) pixels"),
    (b"emotion,pixels\n3,1 2\n", "missing column Usage"),
    (b"emotion,pixels,Usage\n\xff\xfe\x00garbage", "not UTF-8"),
    (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
])
def test_bad_files(tmp_path, content, reason):
    p = _write(tmp_path, content)
    with pytest.raises(DataError, match=re.escape(reason)):
        data.load_csv(p)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        data.load(tmp_path / "nope.csv")


def _folder(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    for split in ("train", "test"):
        for cls in ("happy", "Sad"):
            d = tmp_path / "fer" / split / cls
            d.mkdir(parents=True)
            for k in range(3):
                cv2.imwrite(str(d / f"{k}.png"), rng.integers(0, 255, (48, 48), dtype=np.uint8))
    return tmp_path / "fer"


def test_folder_loader_same_object(tmp_path):
    ds = data.load(_folder(tmp_path))
    assert ds.images.shape == (12, 48, 48) and ds.images.dtype == np.uint8
    assert set(ds.labels.tolist()) == {3, 4}
    assert (ds.usage == "Training").sum() == 6
    assert (ds.usage == "PublicTest").sum() + (ds.usage == "PrivateTest").sum() == 6
    assert (ds.usage == "PublicTest").sum() >= 2  # val and test both non-empty


def test_folder_unknown_class_and_unreadable(tmp_path):
    root = _folder(tmp_path)
    (root / "train" / "bored").mkdir()
    with pytest.raises(DataError, match="unknown class folder 'bored'"):
        data.load(root)
    (root / "train" / "bored").rmdir()
    (root / "train" / "happy" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="broken.png: unreadable image"):
        data.load(root)
    ds = data.load(root, drop_bad=True)
    assert ds.dropped == 1 and len(ds) == 12


def test_synthetic_deterministic_and_sized(tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    ha = data.write_synthetic(a, size="smoke", seed=0)
    hb = data.write_synthetic(b, size="smoke", seed=0)
    assert ha == hb and a.read_bytes() == b.read_bytes()
    assert data.write_synthetic(tmp_path / "c.csv", size="smoke", seed=1) != ha
    ds = data.load(a)
    assert ds.synthetic
    counts = ds.counts()
    want = data.split_counts("smoke")
    for u in data.USAGES:
        assert tuple(counts.loc[u]) == want[u]
    # FER-2013's imbalance: Disgust rarest, Happy most common
    tr = counts.loc["Training"]
    assert tr.idxmin() == "Disgust" and tr.idxmax() == "Happy"


def test_full_size_matches_fer2013():
    full = data.split_counts("full")
    assert sum(full["Training"]) == 28709
    assert sum(full["PublicTest"]) == sum(full["PrivateTest"]) == 3589
    bal = data.split_counts("quick", balanced=True)
    assert len(set(bal["Training"])) == 1


def test_synthetic_is_not_trivial_for_a_linear_model():
    """Classes differ (a linear model beats chance) but pixels alone don't solve them."""
    from sklearn.linear_model import LogisticRegression

    ds = data.generate_synthetic("smoke", seed=0, balanced=True)
    x, y = ds.split("train")
    xt, yt = ds.split("test")
    m = LogisticRegression(max_iter=200).fit(x.reshape(len(x), -1) / 255.0, y)
    acc = m.score(xt.reshape(len(xt), -1) / 255.0, yt)
    assert acc < 0.7, f"linear model too good ({acc:.2f}): generator too easy"


def test_classes_differ_in_expression_geometry():
    """Mean faces of Happy and Sad differ most around the mouth (lower third)."""
    ds = data.generate_synthetic("quick", seed=0, balanced=True)
    happy = ds.images[ds.labels == 3].astype(float).mean(0)
    sad = ds.images[ds.labels == 4].astype(float).mean(0)
    diff = np.abs(happy - sad)
    assert diff[30:42].mean() > 1.3 * diff[:12].mean()


def test_augment_preserves_shape_dtype_and_is_seeded():
    ds = data.generate_synthetic("smoke", seed=0)
    x = ds.images[:16]
    a1 = data.augment(x, np.random.default_rng(1))
    a2 = data.augment(x, np.random.default_rng(1))
    assert a1.shape == x.shape and a1.dtype == np.uint8
    assert np.array_equal(a1, a2)
    assert not np.array_equal(a1, x)
    # mirror only: exactly the flipped image
    m = data.augment(x[:1], np.random.default_rng(3), max_rotation=0, max_shift=0, zoom=0,
                     brightness=0, contrast=0)
    assert np.array_equal(m[0], x[0]) or np.array_equal(m[0], x[0][:, ::-1])


def test_augment_rejects_wrong_shape():
    with pytest.raises(InputError, match="uint8 N×48×48"):
        data.augment(np.zeros((2, 32, 32), np.uint8), np.random.default_rng(0))


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "hybridlib.cli", *args], capture_output=True, text=True)


def test_cli_validate_exit_codes(tmp_path):
    good = _write(tmp_path, HEADER + _row() + _row(1, "PublicTest"), "good.csv")
    r = _cli("data", "validate", str(good))
    assert r.returncode == 0, r.stderr
    assert "Training" in r.stdout and "Disgust" in r.stdout
    bad = _write(tmp_path, HEADER + _row() + _row(label=8), "bad.csv")
    r = _cli("data", "validate", str(bad))
    assert r.returncode == 2
    assert f"{bad}:3: label '8' outside 0–6" in r.stderr
    r = _cli("data", "validate", str(bad), "--drop-bad")
    assert r.returncode == 0 and "dropped 1 bad row" in r.stdout


def test_cli_synth_prints_sha_and_is_atomic(tmp_path):
    out = tmp_path / "s.csv"
    r = _cli("data", "synth", "--out", str(out), "--size", "smoke", "--seed", "3")
    assert r.returncode == 0, r.stderr
    digest = r.stdout.split()[0]
    from hybridlib.utils import sha256_file

    assert digest == sha256_file(out)
    assert not list(tmp_path.glob(".*.tmp"))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    from hybridlib.utils import atomic_path

    target = tmp_path / "x.csv"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert not target.exists() and not list(tmp_path.iterdir())
