"""08_report at smoke: every seed claim listed, the measured ones filled from this run."""
from __future__ import annotations

from .conftest import read_result


def test_report_result(smoke_reports):
    res = read_result(smoke_reports, "report")
    assert res["claims"] == len(res["rows"]) >= 10
    by_metric = {r["metric"]: r["this run"] for r in res["rows"]}
    train = read_result(smoke_reports, "train")
    assert by_metric["emotion CNN parameters"] == str(train["params"])
    assert by_metric["AlexNet parameters"] == "62378344"
    assert res["measured"] >= 6
    assert (smoke_reports / "results" / "08_seed_comparison.csv").is_file()
