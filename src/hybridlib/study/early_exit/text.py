"""Notebook 06's sentences: each step's numbers put in words (Markdown) beside its tables.

Kept out of the notebook so it holds narrative, parameters and calls; every number here comes
from the step's result object, nothing is computed that the results do not hold.
"""
from __future__ import annotations

from typing import Any

from hybridlib.profiling import devices
from hybridlib.study.early_exit.converter_study import (
    ConverterSweep,
    Decomposition,
    PictureBytes,
)
from hybridlib.study.early_exit.edgent_study import EdgentStudy
from hybridlib.study.early_exit.executed import Executed
from hybridlib.study.early_exit.study import ExitBranch, Planner, Thresholds


def training(ctx: Any, eb: ExitBranch) -> str:
    h = eb.history
    return (f"**Data:** {ctx.data_label}" + (" — **SYNTHETIC, not FER-2013**" if eb.synthetic else "") +
            f". Branch at `{eb.branch_at}` trained {ctx.preset.exit_epochs} epoch(s) on {h['n_train']:,} "
            f"images in {eb.train_s:.1f} s (trunk frozen); last training accuracy {h['accuracy'][-1]:.3f}.")


def threshold(th: Thresholds) -> str:
    at = th.at_threshold
    return (f"Chosen **T = {th.threshold:.3f}** (validation). On **test**: {at.exit_fraction:.1%} of inputs exit at "
            f"the branch; overall accuracy {at.overall_acc:.3f} vs final exit {at.final_acc:.3f} and "
            f"branch alone {at.branch_acc:.3f}. Seed 004 reports 95% at the edge (different models and data).")


def operating_point(sw: ConverterSweep, pics: PictureBytes, synthetic: bool) -> str:
    op, ref, video = sw.op, sw.ref_test, pics.video
    return (("**The branch alone is within the budget on validation at its lower 95% bound**: every input may exit "
             "(0 bytes; no converter path to ship). " if sw.branch_alone_ok else "") +
            f"**Operating point (chosen on validation):** C = {op['channels']} ({op['codec']}), "
            f"T = {op['threshold']:.3f}. On test: {op['exit_fraction']:.1%} exit at the edge, overall accuracy "
            f"{op['overall_acc']:.3f} vs final-exit-only {ref:.3f} (loss {ref - op['overall_acc']:+.3f}), "
            f"**{op['bytes_per_input']:.1f} B per input** ({op['bytes_shipped']:.0f} B per shipped input, NaN = none "
            "shipped). Saving: " +
            ", ".join(f"×{v:.1f} vs {k}" if v else f"nothing shipped vs {k}" for k, v in pics.savings.items()) +
            (f" (video: {video['bytes_per_frame']:.0f} B/frame at {video['frame_size'][0]}×{video['frame_size'][1]}, "
             f"{video['fps']:.0f} fps — {video['source']})" if video else " (video bytes: not measured, see summary)") +
            ". Seed 004: 95% at the edge, up to 40× (ResNet/MobileNet, real images). " +
            ("**Synthetic data.**" if synthetic else ""))


def edgent_costs(ed: EdgentStudy, pl: Planner) -> str:
    w = ed.wasm_info
    native = devices.get_device("phone").cpu_throttle * sum(n.device_ms for n in pl.graph0.nodes)
    return (f"Cost model of the table and figure: **{ed.main_cost}**; the server's tail per cut (ms, as served): "
            + ", ".join(f"{k} {v:.1f}" for k, v in ed.served_tails.items()) + ". Device side" +
            (f" (phone, whole model {w['phone_model_ms']:.1f} ms in wasm vs {native:.1f} ms by native TF × 4)" if w
             else ": native TF × throttle (no wasm profile)") + ".")


def exit_page(ex: Executed, channels: int, threshold_: float) -> str:
    vk = ex.vs_keras
    return (f"**Early exit in the page** (phone, {vk['n']} test faces, T = {threshold_:.3f}, C = {channels}): "
            + "; ".join(f"{r.network}: {r.exit_fraction:.0%} answered in the page, accuracy {r.accuracy:.3f}, "
                        f"{r.bytes_per_input:.0f} B/input up ({r.bytes_shipped:.0f} B per shipped), "
                        f"exited in {r.exit_total_ms:.0f} ms, shipped in {r.ship_total_ms:.0f} ms (median)"
                        for r in ex.exit_summary.itertuples())
            + f". Keras on the same faces: {vk['keras_exit_fraction']:.0%} exit, accuracy {vk['keras_acc']:.3f}; "
              f"page vs Keras: branch probabilities max |Δ| {vk['branch_probs_max_abs']:.1e}, code max |Δ| "
              f"{vk['code_max_abs']:.1e} (|code| ≤ {vk['code_abs_max']:.1f}), decisions agree on "
              f"{vk['decision_agreement']:.0%}.")


def converter_cut(ex: Executed, channels: int) -> str:
    rows = ex.medians[ex.medians.cut == f"conv_enc{channels}"]
    return (f"Converter cut C = {channels} (every input ships) on **phone**: "
            + "; ".join(f"{r.network}: {r.up_bytes:.0f} B up, head {r.head_ms:.1f} ms, encode {r.encode_ms:.1f}, "
                        f"upload {r.upload_ms:.1f}, tail {r.tail_ms:.1f}, download {r.download_ms:.1f}, "
                        f"total {r.total_ms:.1f} ms" for r in rows.itertuples())
            + ". Edgent's executed plans (phone): "
            + "; ".join(f"**{cm}**: deadline met in {v['hit_rate']:.0%} of {v['executed']} executed, "
                        f"predicted/measured {v['pred_over_meas_median']:.2f} (median), {v['infeasible']} infeasible"
                        for cm, v in ex.edgent.items() if v["hit_rate"] is not None) + ".")


def headline(res: dict[str, Any]) -> str:
    return (f"**Edge exit fraction {res['edge_exit_fraction']:.1%}** at T = {res['threshold']:.3f}; bandwidth "
            "reduction vs cloud-only: " + ", ".join(f"{k.replace('early exit + ', '')} ×{v['reduction_vs_cloud']:.2f}"
                                                    for k, v in res["bandwidth"].items() if k.startswith("early")) +
            f" (runtime {res['runtime_s']:.0f} s).")


def _ci(e: dict[str, Any] | None, scale: float = 100.0, fmt: str = ".1f", unit: str = "") -> str:
    if e is None:
        return "n/a"
    g = lambda v: "∞" if v is None else f"{scale * v:{fmt}}"
    return f"{g(e['value'])}{unit} [{g(e['lo'])}, {g(e['hi'])}]"


def decomposition(dec: Decomposition) -> str:
    """The goal on the largest set, with its intervals, and what the test split alone resolves."""
    d, g, t = dec.main, dec.goal, dec.test
    r = d["ratios"]["crop raw"]
    res, res_t = d["resolvable_difference"], t["resolvable_difference"]
    res_s = "n/a" if res is None else f"{100 * res:.1f}"
    res_ts = "n/a" if res_t is None else f"{100 * res_t:.1f}"
    n_extra = dec.extra.get("n", 0)
    return (f"**Decomposed, 95% intervals** on {d['n']:,} faces" +
            (f" (the {t['n']} test faces + {n_extra:,} extra synthetic faces, generator seeds "
             f"{', '.join(map(str, dec.extra['seeds']))})" if n_extra else " (test split)") +
            f": exit share {_ci(d['exit_share'], unit='%')}, correct at the edge (004's measure) "
            f"{_ci(d['correct_at_edge'], unit='%')}; accuracy change vs the full model on the same faces "
            f"**{_ci(d['acc_difference'], fmt='+.1f')} points** (paired bootstrap; this set resolves "
            f"a change of {res_s} points from zero at 80% power, the test split alone {res_ts}; the 1-point budget "
            f"is {'decided' if g['budget_decided'] else 'NOT decided'} by the interval). "
            f"Bytes: ×{_ci(r['per_input'], 1.0, '.0f')} fewer than the raw crop per input, "
            f"×{_ci(r['per_shipped'], 1.0, '.1f')} per shipped input. **Goal (≥ 40× vs the crop per input at ≤ 1 "
            f"point loss): {'met' if g['met'] else 'NOT met'} on the point values, "
            f"{'met' if g['met_with_interval'] else 'not met'} with the intervals' bounds.**")


def edgent_deadlines(ed: EdgentStudy) -> str:
    """The deadlines placed around the phone's option costs, the plans they gave, and why each infeasible one is."""
    m = ed.main[(ed.main.device == "phone") & ed.main.deadline_ms.isin(ed.deadlines)]
    inf = m[m.edgent == "infeasible"]
    plans = m.groupby("network", sort=False).edgent.nunique()
    return (f"**Deadlines around the measured costs** (phone, {ed.main_cost}): "
            + ", ".join(f"{d:g}" for d in ed.deadlines) + " ms — one below the fastest option, the rest just above "
            "each latency where a more accurate option becomes feasible; distinct plans per network: "
            + ", ".join(f"{k} {v}" for k, v in plans.items()) + ". Infeasible: "
            + ("; ".join(f"{r.network} @ {r.deadline_ms:g} ms — {r.reason}" for r in inf.itertuples()) or "none") + ".")
