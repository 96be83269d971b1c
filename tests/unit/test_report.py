"""Seed comparison and summaries read only what the run wrote."""
from __future__ import annotations

from hybridlib import report


def test_seed_comparison_reads_results():
    results = {
        "train": {"params": 3_147_431, "alexnet_params": 62_378_344, "cnn": {"val_accuracy": 0.5},
                  "comparison": [{"model": "CNN, default config (before tuning)", "val_accuracy": 0.4}]},
        "07_load": {"saturation_users": {"ours": 4, "seed": None},
                    "per_user_minute": [{"series": "hybrid", "cpu_s_per_user_min": 0.01}]},
        "partition": {"choices": [
            {"objective": "latency", "schedule": "single", "speedup_vs_cloud": 2.0, "energy_saving_vs_cloud_pct": 0},
            {"objective": "latency", "schedule": "single", "speedup_vs_cloud": 4.0, "energy_saving_vs_cloud_pct": 0},
            {"objective": "latency", "schedule": "any", "speedup_vs_cloud": 100.0},
            {"objective": "energy", "schedule": "single", "speedup_vs_cloud": 1, "energy_saving_vs_cloud_pct": 50.0}]},
    }
    t = report.seed_comparison(results).set_index("metric")["this run"]
    assert t["emotion CNN parameters"] == "3147431"
    assert t["validation accuracy before tuning"] == "0.4"
    assert t["validation accuracy after tuning"] == "0.5"
    assert t["cloud mode (ours): most users served at ≥80% fps, p95 ≤ 250 ms"] == "4"
    assert t["cloud mode (seed pipeline, here): most users served at ≥80% fps, p95 ≤ 250 ms"] == \
        "none: over target already at 1 user"
    assert t["mean latency speed-up of the chosen plan vs cloud-only"] == "3"  # 'any' rows excluded
    assert t["max latency speed-up vs cloud-only"] == "4"
    assert t["mean device-energy saving vs cloud-only (energy objective)"] == "50"
    assert t["inputs exiting at the edge branch"] == "not measured in this run"


def test_seed_comparison_empty():
    t = report.seed_comparison({})
    assert (t["this run"] == "not measured in this run").all()
