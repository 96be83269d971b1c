"""Shared fixtures for integration tests: a small real model, its TF.js variants, a real
hybrid server on a free loopback port, fake-camera clips of real photos, Chromium."""
from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_collection_modifyitems(config, items):
    """Everything here is ``integration`` and ``slow``. Each test starts real processes
    (servers, WebRTC peers, Chromium, JupyterLab, Ray), builds the real CNN or trains it, so
    ``pytest -m "not slow"`` (the inner loop, tests/README.md) leaves this directory out."""
    for item in items:  # this hook sees the whole session's items: select by path
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.slow)
            # under `pytest -n N --dist loadgroup` (make test) a file's tests share one worker,
            # so its module-scoped servers start once, and no two workers start Ray clusters
            item.add_marker(pytest.mark.xdist_group(name=f"integration-{Path(str(item.fspath)).stem}"))


@pytest.fixture(scope="session")
def need_chromium() -> None:
    """Skip (with the reason) where Chromium or the npm assets are absent."""
    from hybridlib import browser

    if not browser.have_chromium():
        pytest.skip("Chromium not installed (apt-get install chromium)")
    missing = browser.missing_vendor_files()
    if missing:
        pytest.skip(f"npm assets missing ({', '.join(missing[:3])}…): run npm ci")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    """A small CNN with the emotion model's input/output (48×48×1 → 7): the cloud-mode plumbing
    and equality tests need its shapes, not accuracy, and it loads in a fraction of a second."""
    import tf_keras as keras

    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                          keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(7, activation="softmax")])
    path = tmp_path_factory.mktemp("model") / "tiny.h5"
    m.save(path, save_format="h5")
    return path


@pytest.fixture(scope="session")
def work_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("integration")


@pytest.fixture(scope="session")
def untrained_h5(work_dir: Path) -> Path:
    """The real emotion CNN architecture with seeded random weights, saved as .h5.

    Enough for anything that checks plumbing and numerical equality (not accuracy)."""
    import tf_keras as keras

    from hybridlib import models

    keras.utils.set_random_seed(0)
    m = models.emotion_cnn()
    p = work_dir / "emotion_cnn_untrained.h5"
    m.save(p)
    return p


@pytest.fixture(scope="session")
def tfjs_variants(untrained_h5: Path, work_dir: Path) -> Path:
    from hybridlib import export

    out = work_dir / "tfjs"
    export.export_variants(untrained_h5, out)
    return out


@pytest.fixture(scope="session")
def hybrid_url(untrained_h5: Path, tfjs_variants: Path) -> Iterator[str]:
    """A real `serve --mode hybrid` app on a free 127.0.0.1 port (background thread)."""
    from hybridlib.serving import app as serve

    app = serve.make_app("hybrid", model_path=untrained_h5, models_dir=tfjs_variants)
    with serve.run_in_thread(app) as url:
        yield url


@pytest.fixture(scope="session")
def clip(work_dir: Path) -> Callable[[str], Path]:
    """``clip("astronaut")`` → a y4m (640×480, 15 fps, 20 frames, gentle drift) of that photo."""
    from hybridlib.serving import media

    made: dict[str, Path] = {}

    def _make(name: str) -> Path:
        if name not in made:
            made[name] = media.make_y4m(name, work_dir / f"{name}.y4m", size=(640, 480),
                                        n_frames=20, fps=15, jitter=3.0)
        return made[name]

    return _make


@pytest.fixture()
def broken_models_dir(tfjs_variants: Path, tmp_path: Path) -> Path:
    """A copy of the variants whose fp32 weight shards are missing (the 'model failed' case)."""
    d = tmp_path / "broken"
    shutil.copytree(tfjs_variants, d)
    for p in (d / "fp32").glob("*.bin"):
        p.unlink()
    return d
