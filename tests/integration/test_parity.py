"""TF.js in headless Chromium gives the Keras model's answers: fp32 within 1e-4 with the same
top-1; quantised variants ≥ 99% top-1 agreement and accuracy within 0.5 points."""
from __future__ import annotations

import numpy as np
import pytest

from hybridlib import export

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("need_chromium")]


@pytest.fixture(scope="module")
def trained(work_dir):
    """The smoke preset's trained CNN (trained once if missing) and held-out val+test samples."""
    from hybridlib import config, models
    from hybridlib.models import artifacts

    ctx = config.context("smoke", reports_dir=work_dir / "reports")
    path = artifacts.ensure_model(ctx, progress=False)
    ds = ctx.dataset()
    xs, ys = zip(ds.split("val"), ds.split("test"))
    return path, models.preprocess(np.concatenate(xs)), np.concatenate(ys)


def test_variants_match_keras(trained, work_dir):
    path, x, y = trained
    assert len(x) >= 100
    export.export_variants(path, work_dir / "trained_tfjs")
    r = export.parity(path, x, y, work_dir / "trained_tfjs")
    assert r["tfjs_backend"] == "wasm" and r["n"] == len(x)
    v = r["variants"]
    assert v["fp32"]["max_abs_diff"] <= 1e-4
    assert v["fp32"]["top1_agreement"] == 1.0
    for q in ("float16", "uint8"):
        assert v[q]["top1_agreement"] >= 0.99, (q, v[q])
        assert abs(v[q]["accuracy_delta_points"]) <= 0.5, (q, v[q])
    assert v["uint8"]["bytes"] < 0.3 * v["fp32"]["bytes"] < v["float16"]["bytes"]


def test_fp32_parity_on_cpu_backend(untrained_h5, tfjs_variants):
    x = np.random.default_rng(4).random((24, 48, 48, 1)).astype("float32")
    r = export.parity(untrained_h5, x, None, tfjs_variants, variants=("fp32",), backend="cpu")
    assert r["tfjs_backend"] == "cpu"
    assert r["variants"]["fp32"]["max_abs_diff"] <= 1e-4


def test_head_tail_equals_full_at_every_split(untrained_h5):
    import tf_keras as keras

    m = export.load_model(untrained_h5)
    x = np.random.default_rng(5).random((6, 48, 48, 1)).astype("float32")
    rows = export.split_parity(m, x)
    assert [r["layer"] for r in rows] == export.split_points(m)
    assert any(r["n_tensors"] > 1 for r in rows)  # cuts inside Inception modules are covered
    for r in rows:
        assert r["max_abs_diff_vs_tfjs_full"] <= 1e-5, r
        assert r["keras_split_max_abs_diff"] <= 1e-5, r
        assert r["max_abs_diff_vs_keras"] <= 1e-4, r
    assert isinstance(m, keras.Model)


def test_browser_timings_budget_stops_slow_backends_after_ten_runs(untrained_h5, tfjs_variants):
    """With a budget, a backend whose runs together exceed it stops at ≥ 10 runs (the row says
    how many); one that fits keeps every run. Budget 1 ms: every row stops at exactly 10
    (the first check after 10 runs sees > 1 ms spent); no budget: all 12."""
    from hybridlib import export

    capped = export.browser_timings(tfjs_variants, variants=("uint8",), backends=("cpu",), runs=12,
                                    warmup=1, budget_s=0.001)
    full = export.browser_timings(tfjs_variants, variants=("uint8",), backends=("cpu",), runs=12,
                                  warmup=1)
    assert "error" not in capped[0] and "error" not in full[0]
    assert capped[0]["runs"] == 10 and full[0]["runs"] == 12
    assert capped[0]["ms_median"] > 0
