"""03_live_demo at smoke: the clip went through the widget's handler in each kernel-side mode,
the model showing is named, and the agreement with the reference model is recorded."""
from __future__ import annotations

from .conftest import read_result


def test_live_demo_result(smoke_reports):
    res = read_result(smoke_reports, "03_live_demo")
    assert res["model_showing"]["name"] in ("reference", "ours") and res["model_showing"]["label"]
    n = res["clip"]["frames"]
    for mode in ("kernel", "split"):
        r = res[mode]
        assert r["frames"] == n and r["fps"] > 0 and r["handler_ms_p50"] > 0
        assert r["frames_with_face"] >= 0.8 * n  # both photos show one real face in every frame
        assert sum(r["labels"].values()) == r["frames_with_face"]
        assert res["fps"][mode] == r["fps"]
    assert res["kernel"]["bytes_per_message_median"] > 1000  # a real JPEG went through
    assert res["split"]["bytes_per_message_median"] == res["split"]["cut_bytes"]  # one face per frame
    if res["model_showing"]["name"] == "reference":
        assert max(res["kernel"]["labels"], key=res["kernel"]["labels"].get) == "Happy"
    agree = res["agreement_ours_vs_reference"]
    if agree is not None:
        assert agree["n"] >= 0.8 * n and 0.0 <= agree["agreement"] <= 1.0
        assert sum(agree["ours"].values()) == sum(agree["reference"].values()) == agree["n"]
        assert sum(map(sum, agree["confusion_ours_vs_reference"])) == agree["n"]
        assert res["astronaut"]["reference"][0] == "Happy"
    if res["browser"] is not None and "error" not in res["browser"]:
        assert res["browser"]["backend"] == "wasm" and res["browser"]["label"]
    for fig in ("03_clip_kernel", "03_clip_split"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
