"""Notebook 06's sentences: each step's numbers put in words (Markdown) beside its tables.

Kept out of the notebook so it holds narrative, parameters and calls; every number here comes
from the step's result object, nothing is computed that the results do not hold.
"""
from __future__ import annotations

from typing import Any

from hybridlib.profiling import devices
from hybridlib.study.early_exit.converter_study import ConverterSweep, PictureBytes
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


def operating_point(sw: ConverterSweep, pics: PictureBytes, max_exit: float, synthetic: bool) -> str:
    op, ref, video = sw.op, sw.ref_test, pics.video
    return ((f"**The branch alone is within the budget on validation** (everything could exit, 0 bytes); the cap "
             f"max_exit = {max_exit:.0%} keeps a converter path. " if sw.branch_alone_ok else "") +
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
