"""00_data at smoke: counts, fingerprint and figures recorded from the synthetic set."""
from __future__ import annotations

from hybridlib import data

from .conftest import read_result


def test_data_result(smoke_reports):
    res = read_result(smoke_reports, "data")
    assert res["synthetic"] is True and res["preset"] == "smoke"
    want = data.split_counts("smoke")
    assert res["rows"] == sum(sum(v) for v in want.values())
    assert res["counts"]["Training"]["Disgust"] == want["Training"][1]
    assert len(res["fingerprint"]) == 64 and len(res["file_sha256"]) == 64
    for fig in ("00_class_distribution", "00_samples", "00_augmentation"):
        assert (smoke_reports / "figures" / f"{fig}.png").stat().st_size > 5000
