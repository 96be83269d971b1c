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


def test_report_early_exit_converter_rows(smoke_reports):
    """Issue 14: the converter's operating point, the in-page exit and Edgent executed, from 06's own
    result; 004's 95% / 40× never beside ours (its models, data and phone differ)."""
    res = read_result(smoke_reports, "report")
    cv = read_result(smoke_reports, "early_exit")["converter"]
    op = cv["operating_point"]
    by_q = {r["quantity"]: r for r in res["rows"]}
    row = next(r for q, r in by_q.items() if q.startswith("operating point: C, T"))
    assert row["this_run"].startswith(f"C = {int(op['channels'])} (uint8 + {op['codec']})")
    assert f"{100 * op['exit_fraction']:.1f}% exit at the edge" in row["this_run"]
    assert f"{100 * (op['overall_acc'] - cv['reference_acc_test']):+.1f} points" in row["this_run"]
    assert row["seed"] == "004" and row["seed_value"] == "" and "synthetic data" in row["like_for_like"]
    if op["bytes_per_input"] > 0:
        crop = by_q["uplink saving vs shipping the 48×48 crop (raw / PNG / JPEG q90)"]
        ratio = 2304 / op["bytes_per_input"]
        assert crop["this_run"].startswith(f"{ratio:.{2 if ratio < 10 else 1}f}× vs raw")
    ex = cv.get("executed") or {}
    skipped = {s for s in res["skipped"]}
    page = [r for r in res["rows"] if r["topic"] == "early exit executed"]
    edg = [r for r in res["rows"] if r["topic"] == "Edgent executed"]
    if ex.get("exit_page"):
        assert len(page) == len(ex["exit_page"]["summary"]) + 1
        assert page[-1]["this_run"].startswith("yes" if ex["exit_page"]["vs_keras"]["decision_agreement"] == 1
                                               else "NO")
    else:  # not executed: a skipped part says so, no row is made up
        assert not page and "08 early exit executed in the page" in skipped
    if ex.get("edgent_by_cost_model"):
        assert len(edg) == len(ex["edgent_by_cost_model"])
    else:
        assert not edg and "08 Edgent executed" in skipped
    head = {h["what"]: h for h in res["headline"]}
    ee = head["early-exit share at the converter operating point (test inputs answered at the edge)"]
    assert ee["this run"].startswith(f"{100 * op['exit_fraction']:.1f}% at C = {int(op['channels'])}")
