"""Notebook 06's Edgent step: the operating point's bundle, the device/cloud cost models, and
Edgent's plans with the converter beside Neurosurgeon's single cut.

Cost models (``{device class: (device ms per trunk segment, edge ms)}``, cloud side per cut or
None for the profile's):

* ``tf×throttle`` — this machine's native TF CPU time × the class's throttle rate;
* ``wasm profile`` — the device side from the phone class's throttled TF.js (wasm) per-layer
  profile (:func:`hybridlib.study.split.profiles.device_graph`, the file 09 uses) and the edge
  model timed whole the same way (:func:`hybridlib.study.early_exit.execute.profile_edge_ms`),
  scaled by the throttle ratio for the other classes;
* ``wasm profile + served tails`` — also the cloud side as the server runs it (the chain model's
  tail per cut through the server's own ``TailRunner``, :func:`hybridlib.study.early_exit.edgent.served_tail_ms`).

The last one Chromium allowed is the main one (the table and figure). Options and plans:
:mod:`hybridlib.study.early_exit.edgent`.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hybridlib import partition
from hybridlib.profiling import devices
from hybridlib.study.early_exit import branches, converter_exec, edgent
from hybridlib.study.early_exit import execute as exit_exec
from hybridlib.study.early_exit.converter_study import (
    ConverterSweep,
    Latency,
    PictureBytes,
)
from hybridlib.study.early_exit.study import DEADLINES, ExitBranch, Planner
from hybridlib.study.split import profiles as split_profiles

TF_THROTTLE = "tf×throttle"
WASM = "wasm profile"
WASM_SERVED = "wasm profile + served tails"


@dataclass
class Bundle:
    """The operating point written for execution and serving: the chain model and the exit bundle."""

    channels: int
    dir: Path
    chain_h5: Path
    bundle: Path

    @property
    def cut(self) -> str:
        """The converter's cut (the code goes up from here)."""
        return f"conv_enc{self.channels}"


def save_operating_point(ctx: Any, eb: ExitBranch, sw: ConverterSweep) -> Bundle:
    """Write the operating point's chain model and exit bundle under ``ctx.artifacts_dir/converter``."""
    c = sw.op["channels"]
    conv_dir = ctx.artifacts_dir / "converter"
    chain_h5 = converter_exec.save_chain(eb.trunk_model, sw.converter, conv_dir / f"emotion_cnn_conv{c}.h5")
    # the page ships with the operating point's codec when it can make it (none | zlib), else zlib
    codec = str(sw.op.get("codec", "zlib")) if str(sw.op.get("codec")) in ("none", "zlib") else "zlib"
    bundle = exit_exec.save_bundle(eb.trunk_model, sw.converter, float(sw.op["threshold"]), conv_dir / "exit_bundle",
                                   codec=codec, extra={"data": ctx.data_label, "synthetic": eb.synthetic,
                                          "preset": ctx.preset.name})
    return Bundle(c, conv_dir, Path(chain_h5), Path(bundle))


@dataclass
class EdgentStudy:
    """Edgent's plans under every cost model (``plans``) and the main one's (``main``)."""

    cost_models: dict[str, tuple[dict[str, tuple[list[float], float]], dict[str, float] | None]]
    wasm_info: dict[str, float] | None  # phone: whole model, to the exit, edge model (wasm ms); None: skipped
    served_tails: dict[str, float]
    main_cost: str
    plans: pd.DataFrame
    main: pd.DataFrame
    deadlines: list[float]  # around the main cost model's phone options (edgent.deadlines_around): executed


def wasm_cost_model(ctx: Any, eb: ExitBranch, pl: Planner, bundle: Bundle) -> tuple[dict[str, Any], dict[str, float]]:
    """The ``wasm profile`` cost model per device class, and what it measured on the phone."""
    t0 = time.perf_counter()
    g_wasm = split_profiles.device_graph(ctx, "emotion_cnn", "phone")  # cached; 09 uses the same file
    nodes_w = list(g_wasm.nodes)
    ids_w = [n.id for n in nodes_w]
    trunk_w = branches.trunk_from_graph(g_wasm, pl.cuts)
    if [c["id"] for c in trunk_w] != [c["id"] for c in pl.trunk]:
        raise RuntimeError("wasm profile's cut points differ")
    wasm_to_at = sum(n.device_ms for n in nodes_w[:ids_w.index(eb.branch_at) + 1])
    # the edge model (trunk to the exit + branch + encoder) is not in the trunk's profile: time it whole, the same way
    edge_prof = exit_exec.profile_edge_ms(bundle.bundle, "phone", runs=ctx.preset.profile_repeats)
    phone_rate = devices.get_device("phone").cpu_throttle
    per_dev = {dname: ([dc.cpu_throttle / phone_rate * c["device_ms"] for c in trunk_w],
                       dc.cpu_throttle / phone_rate * edge_prof["median_ms"])
               for dname, dc in devices.DEVICES.items()}
    info = {"phone_model_ms": sum(n.device_ms for n in nodes_w), "phone_to_exit_ms": wasm_to_at,
            "phone_edge_model_ms": edge_prof["median_ms"], "s": time.perf_counter() - t0}
    return per_dev, info


def edgent_study(ctx: Any, eb: ExitBranch, pl: Planner, sw: ConverterSweep, pics: PictureBytes, lat: Latency,
                 bundle: Bundle, deadlines: Sequence[float] = DEADLINES) -> EdgentStudy:
    """Edgent's plans per cost model × device class × network × deadline (a skipped wasm
    profile is recorded with ``ctx.skip`` and leaves ``tf×throttle`` as the main cost model).
    Deadlines: ``deadlines`` and those placed around the main cost model's phone options
    (:func:`hybridlib.study.early_exit.edgent.deadlines_around`; the executed sample's)."""
    trunk = pl.trunk
    uint8_cut_bytes = {c["id"]: c["out_bytes"] / 4.0 + 40 for c in trunk}  # float32 profile bytes → uint8 + header values (approx.)
    cost_models: dict[str, Any] = {TF_THROTTLE: ({dname: ([dc.cpu_throttle * c["device_ms"] / pl.device_slowdown
                                                            for c in trunk],  # trunk was scaled ×device_slowdown
                                                           lat.edge_ms(dc.cpu_throttle))
                                                   for dname, dc in devices.DEVICES.items()}, None)}
    wasm_info = None
    try:
        per_dev, wasm_info = wasm_cost_model(ctx, eb, pl, bundle)
        cost_models[WASM] = (per_dev, None)
    except Exception as e:  # noqa: BLE001 — recorded, visible in summary.md
        ctx.skip("06 wasm device profile", f"{type(e).__name__}: {e}", required=False)
    # the cloud side as the server runs it: the chain model's tail, timed through the server's own TailRunner, at the
    # input (cloud-only), each pooling boundary and the converter cut (the cuts this model offers)
    tail_cuts = [trunk[0]["id"]] + [c["id"] for c in trunk[1:-1] if c["id"].startswith("pool")] + [bundle.cut]
    served_tails = edgent.served_tail_ms(bundle.chain_h5, tail_cuts, repeats=ctx.preset.profile_repeats)
    if WASM in cost_models:
        cost_models[WASM_SERVED] = (cost_models[WASM][0], served_tails)
    main_cost = list(cost_models)[-1]
    opts = {(cm, dname, net): edgent.options(seg_ms, trunk, edge_ms, net, ref_acc=sw.ref_test, op=sw.op,
                                             branch_acc=sw.branch_acc, crop_bytes=pics.images["png"],
                                             crop_cloud_ms=lat.crop_cloud_ms,
                                             tail_cloud_ms=lat.tail_cloud_ms + lat.restore_ms,
                                             cut_bytes=uint8_cut_bytes, tail_ms=tails, converter_cut=bundle.cut)
            for cm, (per_dev, tails) in cost_models.items() for dname, (seg_ms, edge_ms) in per_dev.items()
            for net in partition.NETWORKS}
    around = edgent.deadlines_around([opts[(main_cost, "phone", net)] for net in partition.NETWORKS])
    every = sorted({float(d) for d in deadlines} | set(around))
    rows = [r for (cm, dname, net), o in opts.items()
            for r in edgent.plan_rows(o, every, cost_model=cm, device=dname, network=net)]
    plans = pd.DataFrame(rows)
    return EdgentStudy(cost_models, wasm_info, served_tails, main_cost, plans,
                       plans[plans.cost_model == main_cost].reset_index(drop=True), around)
