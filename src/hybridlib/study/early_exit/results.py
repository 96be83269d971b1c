"""Notebook 06's record and its comparison with the seeds: ``results/early_exit.json`` (what
tests/notebooks/test_nb_06*.py and 08's report read) and the "beside the seeds" table.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from hybridlib.study.early_exit import converter
from hybridlib.study.early_exit.converter_study import (
    ConverterSweep,
    Decomposition,
    Latency,
    PictureBytes,
)
from hybridlib.study.early_exit.edgent_study import EdgentStudy
from hybridlib.study.early_exit.executed import Executed
from hybridlib.study.early_exit.study import Bandwidth, ExitBranch, Planner, Thresholds

CONVERTER_DESIGN = ("exit1 + 1x1-conv encoder (C ch) at branch_at; uint8 wire codec + lossless; "
                    "cloud 1x1 restore + frozen tail")
CONVERTER_TRUNK = ("frozen (trunk and tail); joint weighted loss w_exit=1, w_final=1 over branch+encoder+restore; "
                   "branch warm-started from exit1")


def _number(v: Any) -> Any:
    return float(v) if isinstance(v, (int, float, np.floating, np.integer)) else v


def result_record(ctx: Any, eb: ExitBranch, th: Thresholds, bw: Bandwidth, pl: Planner, sw: ConverterSweep,
                  pics: PictureBytes, lat: Latency, ed: EdgentStudy, ex: Executed, *, tolerance: float,
                  max_exit: float | None, runtime_s: float, dec: Decomposition | None = None) -> dict[str, Any]:
    """``results/early_exit.json``: the branch and its threshold, the bandwidth, the planner, and
    the converter (sweep, operating point, bytes, latency, Edgent, executed, and the operating
    point decomposed with 95% intervals: ``converter.decomposition``)."""
    rule = getattr(sw, "rule", "point")
    at = th.at_threshold
    op = sw.op
    return {
        "data_label": ctx.data_label, "synthetic": eb.synthetic, "branch_at": eb.branch_at,
        "exit_epochs": ctx.preset.exit_epochs, "n_train": eb.history["n_train"], "branch_train_s": eb.train_s,
        "threshold_rule": f"highest exit fraction with overall acc >= final acc - {tolerance} (validation); "
                          "ties -> smaller T",
        "threshold": th.threshold, "tolerance": tolerance,
        "edge_exit_fraction": float(at.exit_fraction),
        "overall_acc": float(at.overall_acc), "branch_acc": float(at.branch_acc), "final_acc": float(at.final_acc),
        "exited_acc": float(at.exited_acc) if np.isfinite(at.exited_acc) else None,
        "val": {k: float(v) for k, v in th.chosen.items()},
        "sweep_test": th.sweep_test.to_dict("records"),
        "feature_shape": bw.feature_shape, "pixel_bytes": bw.pixel_bytes,
        "feature_bytes": bw.feature_bytes,
        "bandwidth": {r.scheme: {"bytes_per_frame": r.bytes_per_frame, "reduction_vs_cloud": r.reduction_vs_cloud}
                      for r in bw.table.itertuples()},
        "planner_scenario": pl.scenario(),
        "planner": pl.plans.drop(columns="choice").to_dict("records"),
        "runtime_s": runtime_s,
        "converter": {
            "design": CONVERTER_DESIGN, "trunk": CONVERTER_TRUNK,
            "channels": list(sw.channels), "epochs": sw.epochs, "n_train": sw.n_train, "train_s": sw.train_s,
            "reference_acc_val": sw.ref_val, "reference_acc_test": sw.ref_test, "per_channels": sw.per_channels,
            "curve": sw.curve.to_dict("records"), "budget": tolerance,
            "operating_point": {k: _number(v) for k, v in op.items()},
            "operating_point_val": sw.op_val,
            "max_exit": None if max_exit is None or max_exit >= 1 else max_exit,
            "operating_rule": (f"fewest bytes per input with the paired accuracy difference vs the final exit alone "
                               f">= -{tolerance} at its lower 95% bound (validation); no exit-share cap"
                               if rule == "interval" else
                               f"fewest bytes per input with overall acc >= final-exit-only - {tolerance} (validation)"),
            "decomposition": None if dec is None else {"test": dec.test, "enlarged": dec.enlarged, "goal": dec.goal,
                                                       "extra": dec.extra},
            "edgent_deadlines_around": getattr(ed, "deadlines", None),
            "branch_alone_within_budget_val": sw.branch_alone_ok,
            "accuracy_loss": sw.ref_test - float(op["overall_acc"]),
            "alternatives_bytes": pics.alternatives, "image_bytes": pics.images, "video": pics.video,
            "savings": pics.savings,
            "latency": lat.table.to_dict("records"),
            "latency_inputs": lat.inputs(),
            "edgent": ed.main.to_dict("records"),
            "executed": ex.result,
        },
    }


def seeds_table(res: dict[str, Any]) -> pd.DataFrame:
    """004's and Edgent's claims beside ours, from :func:`result_record`'s record."""
    cv = res["converter"]
    op, savings, video, ex = cv["operating_point"], cv["savings"], cv["video"], cv["executed"] or {}
    page = ("; in the page: " + ", ".join(f"{r['network']} {r['exit_fraction']:.0%} ({r['bytes_per_input']:.0f} B/input)"
                                          for r in ex["exit_page"]["summary"]) if ex.get("exit_page") else "")
    return pd.DataFrame([
        {"claim": "inputs answered at the edge", "seed": "004: up to 95%",
         "here": f"{op['exit_fraction']:.1%} (converter operating point, test)" + page},
        {"claim": "bandwidth saving vs the 48×48 crop", "seed": "004: up to 40×",
         "here": (f"×{savings['crop raw']:.1f} raw, ×{savings['crop JPEG q90']:.1f} vs JPEG" if savings["crop raw"] else
                  "nothing shipped at the operating point")},
        {"claim": "vs cloud mode's video bytes per frame", "seed": "—",
         "here": (f"×{savings[converter.VIDEO_LABEL]:.0f} ({video['bytes_per_frame']:.0f} B/frame; {video['source']})"
                  if savings.get(converter.VIDEO_LABEL) else "not measured" if not video else "nothing shipped")},
        {"claim": "accuracy loss at the operating point", "seed": "004: 'higher total accuracy'",
         "here": f"{cv['accuracy_loss']:+.3f} vs final exit only (budget {cv['budget']})" + _with_interval(cv)},
        {"claim": "Edgent plans meeting their deadline when executed", "seed": "Edgent: accuracy vs deadline figure",
         "here": ("; ".join(f"{cm}: {v['hit_rate']:.0%} of {v['executed']} (pred/meas {v['pred_over_meas_median']:.2f})"
                            for cm, v in ex["edgent_by_cost_model"].items() if v["hit_rate"] is not None) + " — phone"
                  if ex.get("edgent_by_cost_model") else "not executed")},
    ])


def _with_interval(cv: dict[str, Any]) -> str:
    """The decomposition's paired accuracy change and ratios with their 95% intervals, in words."""
    dd = cv.get("decomposition") or {}
    d = dd.get("enlarged") or dd.get("test")
    if not d:
        return ""
    a, r = d["acc_difference"], (d.get("ratios") or {}).get("crop raw") or {}
    pi, ps = r.get("per_input"), r.get("per_shipped")
    g = dd.get("goal") or {}
    hi = "∞" if not pi or pi["hi"] is None else f"{pi['hi']:.0f}"
    return (f"; paired change {100 * a['value']:+.1f} points [{100 * a['lo']:+.1f}, {100 * a['hi']:+.1f}] on "
            f"{d['n']} faces" + (f", ×{pi['value']:.0f} [{pi['lo']:.0f}, {hi}] vs the raw crop per input"
                                 if pi else ", nothing shipped")
            + (f", ×{ps['value']:.1f} per shipped input" if ps else "")
            + f"; goal (≥ 40× at ≤ 1 point) {'met' if g.get('met') else 'not met'}"
            + (", with its interval" if g.get("met_with_interval") else ", not with its interval"))
