"""02_export at smoke: sizes, parity, split parity, browser timings and the app screenshot."""
from __future__ import annotations

from .conftest import read_result


def test_export_result(smoke_reports):
    res = read_result(smoke_reports, "export")
    assert res["preset"] == "smoke" and res["synthetic"] is True
    s = res["sizes"]
    assert set(s) == {"fp32", "float16", "uint8"}
    assert s["fp32"]["ratio_to_fp32"] == 1.0
    assert 0.45 < s["float16"]["ratio_to_fp32"] < 0.55 and 0.2 < s["uint8"]["ratio_to_fp32"] < 0.3

    par = res["parity"]
    assert par["tfjs_backend"] == "wasm" and par["n"] > 0
    v = par["variants"]
    assert v["fp32"]["max_abs_diff"] <= 1e-4
    for q in ("float16", "uint8"):
        assert v[q]["top1_agreement"] >= 0.99 and abs(v[q]["accuracy_delta_points"]) <= 0.5

    sp = res["split_parity"]
    assert sp["n_checked"] >= 2 and sp["n_multi_tensor"] >= 1
    assert sp["max_abs_diff_vs_tfjs_full"] <= 1e-5 and sp["keras_split_max_abs_diff"] <= 1e-5

    rows = res["browser_ms"]
    got = {(r["variant"], r["backend"]) for r in rows if "ms_median" in r}
    assert {("fp32", "wasm"), ("float16", "wasm"), ("uint8", "wasm")} <= got
    assert all(r["ms_median"] > 0 for r in rows if "ms_median" in r)

    app = {r["variant"]: r for r in res["app"]}
    assert set(app) == {"fp32", "float16", "uint8"}
    for r in app.values():
        assert r["backend"] == "wasm" and r["faces_per_frame"] == 1.0 and r["label"]
        assert r["ttfp_ms"] > 0 and r["first_prediction_ms"] >= r["ttfp_ms"]
    shot = smoke_reports / "figures" / "02_app_screenshot.png"
    assert shot.stat().st_size > 20_000
    for fig in ("02_sizes", "02_split_parity", "02_browser_ms"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
