"""Notebook 06's executed step: early exit in the page, the converter cut, and a sample of Edgent's plans,
run in Chromium and checked against the library on the same inputs.

* **Early exit in the page** (:func:`hybridlib.study.early_exit.execute.execute`): the bundle's edge
  model on real test faces under the phone's CPU throttling and each network; the page's branch
  probabilities, codes, entropies and decisions compared with Keras (:func:`page_vs_keras`).
* **Single cuts** on the converter folded into one chain model
  (:func:`hybridlib.study.early_exit.converter_exec.execute`): the converter cut and every cut a
  sampled Edgent plan needs; each sampled plan is then measured (:func:`hybridlib.study.early_exit.edgent.executed`).

:func:`run_executed` composes both and returns :class:`Executed` (``result`` is what
``results/early_exit.json`` stores under ``converter.executed``); any failure is recorded with
``ctx.skip`` and leaves ``result`` None.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import browser, models
from hybridlib.export.exit_bundle import read_bundle
from hybridlib.study.early_exit import branches, converter, converter_exec, decompose, edgent
from hybridlib.study.early_exit import execute as exit_exec
from hybridlib.study.early_exit.converter_study import ConverterSweep
from hybridlib.study.early_exit.edgent_study import Bundle, EdgentStudy
from hybridlib.study.early_exit.study import ExitBranch

#: the columns of the executed single cuts' table kept as text (other object columns are dropped)
TEXT_COLUMNS = ("cut", "device", "network", "mode", "codec", "dtype")


def page_vs_keras(page: pd.DataFrame, page_probs: np.ndarray, page_codes: np.ndarray, probs: np.ndarray,
                  codes: np.ndarray, final_ok: np.ndarray, code_bytes: np.ndarray, y: np.ndarray,
                  threshold: float) -> dict[str, Any]:
    """The page's early exit against Keras on the same inputs. ``page``: one network's rows of
    :func:`hybridlib.study.early_exit.execute.execute` (``entropy``, ``exited`` per input);
    ``page_probs``/``page_codes``: the page's branch probabilities and codes (its ``attrs``);
    ``probs``/``codes``: the Keras edge model's; ``final_ok``: whether the wire round trip's tail
    answer is right; ``code_bytes``: each code's uint8+zlib bytes. The library's rule: an input
    exits iff its entropy < ``threshold``."""
    h = branches.entropy(probs)
    exit_k = h < threshold
    keras_ok = np.where(exit_k, probs.argmax(1) == y, final_ok)
    return {"n": int(len(y)), "branch_probs_max_abs": float(np.abs(page_probs - probs).max()),
            "code_max_abs": float(np.abs(page_codes - codes).max()), "code_abs_max": float(np.abs(codes).max()),
            "entropy_max_abs": float(np.abs(page.entropy.to_numpy() - h).max()),
            "decision_agreement": float((page.exited.to_numpy() == exit_k).mean()),
            "keras_exit_fraction": float(exit_k.mean()), "keras_acc": float(keras_ok.mean()),
            "keras_bytes_per_input_zlib": float(np.where(exit_k, 0, code_bytes).mean())}


@dataclass
class Executed:
    """What ran in Chromium; ``result`` None (and ``error`` set) when it was skipped."""

    result: dict[str, Any] | None = None
    error: str | None = None
    exit_summary: pd.DataFrame = field(default_factory=pd.DataFrame)  # per network: the page's exit run
    vs_keras: dict[str, Any] = field(default_factory=dict)
    medians: pd.DataFrame = field(default_factory=pd.DataFrame)       # per cut × network: stage medians
    sample: pd.DataFrame = field(default_factory=pd.DataFrame)        # Edgent's sampled plans, measured
    edgent: dict[str, dict[str, Any]] = field(default_factory=dict)   # per cost model: hit rate etc.
    decomposition: dict[str, Any] = field(default_factory=dict)       # the page's run decomposed, 95% intervals


def run_executed(ctx: Any, eb: ExitBranch, sw: ConverterSweep, ed: EdgentStudy, bundle: Bundle, *,
                 networks: Sequence[str], repeats: int, n_inputs: int,
                 deadlines: Sequence[float] = (50, 100, 200, 500)) -> Executed:
    """Run the bundle's early exit on ``n_inputs`` distinct test faces shared out over the
    networks (phone; each network runs every k-th face, :func:`hybridlib.study.early_exit.execute.execute`'s
    ``share_inputs``) and decompose it with 95% intervals; then the converter cut and the cuts
    Edgent's sampled plans (phone, ``deadlines``) need, ``repeats`` timed reps each; score the
    plans. Failures are recorded with ``ctx.skip``."""
    try:
        return _run(ctx, eb, sw, ed, bundle, tuple(networks), int(repeats), int(n_inputs), deadlines)
    except Exception as e:  # noqa: BLE001 — recorded, visible in summary.md
        ctx.skip("06 converter executed in Chromium", f"{type(e).__name__}: {e}")
        return Executed(error=f"{type(e).__name__}: {e}")


def _run(ctx: Any, eb: ExitBranch, sw: ConverterSweep, ed: EdgentStudy, bundle: Bundle, networks: tuple[str, ...],
         repeats: int, n_inputs: int, deadlines: Sequence[float]) -> Executed:
    if not browser.have_chromium():
        raise RuntimeError("Chromium not found")
    op, c_op = sw.op, bundle.channels
    out_layer = eb.trunk_model.layers[-1].name
    t0 = time.perf_counter()
    xin, yin = models.preprocess(eb.x_test[:n_inputs]), eb.y_test[:n_inputs]
    xe = exit_exec.execute(bundle.bundle, xin, y=yin, devices=("phone",), networks=networks, share_inputs=True)
    exit_s = time.perf_counter() - t0
    xs = exit_exec.summarize(xe)
    # the library on the same inputs: Keras edge model, entropy rule, the wire round trip's tail answer
    ii = xe.i.to_numpy()
    pk, ck = exit_exec.edge_model(eb.trunk_model, sw.converter).predict(xin, verbose=0)
    pcodec = read_bundle(bundle.bundle)["codec"]  # what the page shipped with
    ev_op = converter.evaluate(sw.converter, sw.f_test[:n_inputs], codecs=tuple(dict.fromkeys(("zlib", pcodec))))
    vk = page_vs_keras(xe, xe.attrs["branch_probs"], xe.attrs["codes"], pk[ii], ck[ii],
                       ev_op["p_final"].argmax(1)[ii] == yin[ii], ev_op["codec"]["zlib"][ii], yin[ii], op["threshold"])
    # the page's own answers and bytes, decomposed (the full model's answers on the same faces from the sweep)
    crops = converter.image_bytes_each(eb.x_test[:n_inputs])
    page_dec = decompose.decompose(
        xe.exited, xe.correct, xe.correct, sw.ok_ref_test[ii], (xe.up_bytes + xe.header_bytes).to_numpy(float),
        alternatives={"crop raw": crops["raw"][ii], "crop PNG": crops["png"][ii], "crop JPEG q90": crops["jpeg_q90"][ii]})
    page_dec["goal"] = decompose.goal(page_dec)
    # single cuts on the chain model: the converter cut and every cut a sampled plan needs
    plans = ed.plans
    sample = plans[(plans.device == "phone") & plans.deadline_ms.isin(deadlines)].copy()
    sample["cut"] = sample.edgent.map(lambda n: edgent.cut_of(n, out_layer))
    cuts_run = sorted({bundle.cut, *[c for c in sample.cut.dropna()]}, key=str)
    t0 = time.perf_counter()
    xdf = converter_exec.execute(bundle.chain_h5, c_op, devices=("phone",), networks=networks, repeats=repeats,
                                 warmup=1, extra_cuts=tuple(c for c in cuts_run if c != bundle.cut),
                                 cache_dir=bundle.dir)
    exec_s = time.perf_counter() - t0
    med = converter_exec.stage_medians(xdf)
    ctx.save_table("06_converter_executed", xdf.drop(columns=[c for c in xdf.columns if xdf[c].dtype == object
                                                              and c not in TEXT_COLUMNS]))
    ctx.save_table("06_exit_executed", xe)
    exit_run = {r.network: {"ship_total_ms": r.ship_total_ms,
                            "edge_ms": float(xe[xe.network == r.network].head_ms.median())} for r in xs.itertuples()}
    sample, edgent_exec = edgent.executed(sample, {(r.cut, r.network): r.total_ms for r in med.itertuples()},
                                          exit_run, out_layer)
    hit_rate = edgent_exec[ed.main_cost]["hit_rate"]
    res = converter_exec.executed_result(xdf, c_op, networks, repeats, exec_s, sample, hit_rate,
                                         converter_exec.probs_vs_keras(xdf, bundle.chain_h5, c_op))
    res.update({"edgent_cost_model": ed.main_cost, "edgent_by_cost_model": edgent_exec, "wasm_profile": ed.wasm_info,
                "served_tails_ms": ed.served_tails,
                "exit_page": {"summary": xs.to_dict("records"), "threshold": float(op["threshold"]),
                              "codec": f"uint8+{pcodec}", "run_s": exit_s, "vs_keras": vk, "bundle": str(bundle.bundle),
                              "n_faces": len(xe), "inputs": "distinct test faces shared out over the networks",
                              "decomposition": page_dec}})
    return Executed(res, None, xs, vk, med, sample, edgent_exec, page_dec)
