"""08_report at smoke: like-for-like rows read from this run's results, headline first."""
from __future__ import annotations

from .conftest import ROOT, read_result


def test_report_result(smoke_reports):
    res = read_result(smoke_reports, "report")
    rows = res["rows"]
    assert res["claims"] >= 10 and len(rows) >= 10
    train = read_result(smoke_reports, "train")
    by_q = {r["quantity"]: r for r in rows}
    assert by_q["emotion CNN parameters"]["this_run"] == f"{train['params']:,}"
    assert by_q["AlexNet parameters"]["this_run"] == f"{train['alexnet_params']:,}"
    for r in rows:
        assert r["scenario"] and r["basis"].startswith(("measured", "modelled", "what-if"))
        assert r["data"] in ("synthetic", "any (architecture)")  # smoke runs on synthetic data
        assert (r["seed_value"] != "") == (r["like_for_like"] == "yes")
    # smoke is synthetic and 1 epoch: no accuracy stands beside the seed's FER-2013 numbers
    acc = [r for r in rows if r["topic"] == "accuracy" and r["seed"]]
    assert len(acc) == 2 and all(r["seed_value"] == "" and "synthetic data" in r["like_for_like"] for r in acc)
    # one graph per network; what-ifs are their own rows, one per scenario
    part = read_result(smoke_reports, "partition")
    assert set(res["graph_per_network"]) == {m.split("@")[0] for m in {c["model"] for c in part["choices"]}}
    lat = [r for r in rows if r["topic"] == "partition" and r["quantity"].startswith("latency")]
    assert len(lat) == len(part["scenarios"]) * len(res["graph_per_network"])
    assert sum(r["scenario"].startswith("as measured") for r in lat) == len(res["graph_per_network"])
    assert (smoke_reports / "results" / "08_seed_comparison.csv").is_file()


def test_summary_headline_first(smoke_reports):
    md = (smoke_reports / "summary.md").read_text()
    assert md.index("## Headline") < md.index("## Comparisons, like for like") < md.index("## Notebooks")
    head = md[md.index("## Headline"):md.index("## Comparisons")]
    for what in ("data", "emotion CNN vs baseline", "cloud efficiency ratio", "hybrid vs cloud server CPU",
                 "partition speed-up vs cloud-only, like for like", "early-exit share"):
        assert f"| {what}" in head
    assert str(ROOT) not in md and str(smoke_reports) not in md
