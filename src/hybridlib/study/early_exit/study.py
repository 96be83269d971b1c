"""Notebook 06's first steps: the side branch, its entropy threshold, the bytes per frame, and the
exit × split planner (Edgent) — each a function returning a result object.

* :func:`train_exit_branch` — the trained emotion CNN of 01 with ``exit1`` at ``branch_at``,
  trained with the trunk frozen (:mod:`hybridlib.study.early_exit.branches`);
* :func:`choose_exit_threshold` — the rule applied on validation, reported on test;
* :func:`bandwidth_study` — uplink per frame with early exit, measured tensor sizes;
* :func:`plan_exits` — Edgent's deadline-driven exit × split choice in 05's main scenario.

The converter steps follow in :mod:`hybridlib.study.early_exit.converter_study`.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import models, partition
from hybridlib.models import artifacts
from hybridlib.profiling import graphs, tables
from hybridlib.study.early_exit import branches
from hybridlib.study.offload import scenarios as offload

#: the thresholds swept on validation and test (and along the converter's operating curve)
THRESHOLDS = np.linspace(0, 1, 41)
#: the planner's deadlines (ms)
DEADLINES = (5, 10, 15, 20, 50, 100, 200, 500)


@dataclass
class ExitBranch:
    """The data splits, the trained trunk and the branchy model trained on it."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    synthetic: bool
    model_path: Path
    trunk_model: Any
    branchy: Any
    branch_at: str
    history: dict[str, Any]
    train_s: float


def train_exit_branch(ctx: Any, branch_at: str = "pool3", max_train: int = 6000) -> ExitBranch:
    """Load (training if needed) ``ctx``'s emotion CNN, add ``exit1`` at ``branch_at`` and train it
    ``ctx.preset.exit_epochs`` epochs on at most ``max_train`` images (0: all), trunk frozen."""
    ds = ctx.dataset()
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = ds.split("train"), ds.split("val"), ds.split("test")
    model_path = artifacts.ensure_model(ctx)
    trunk_model = artifacts.load_model(model_path)
    branchy = branches.add_branch(trunk_model, at=branch_at)
    t0 = time.perf_counter()
    hist = branches.train_branch(branchy, branch_at, x_train, y_train, epochs=ctx.preset.exit_epochs,
                                 max_train=max_train)
    return ExitBranch(x_train, y_train, x_val, y_val, x_test, y_test, bool(ds.synthetic), Path(model_path),
                      trunk_model, branchy, branch_at, hist, time.perf_counter() - t0)


@dataclass
class Thresholds:
    """The threshold sweeps (validation, test), the rule's choice on validation and the test row at it."""

    sweep_val: pd.DataFrame
    sweep_test: pd.DataFrame
    chosen: dict[str, float]
    threshold: float
    at_threshold: pd.Series  # the test sweep's row at the chosen threshold

    def table(self) -> pd.DataFrame:
        """Both sweeps, one table (``split`` = val | test)."""
        return pd.concat([self.sweep_val.assign(split="val"), self.sweep_test.assign(split="test")])


def choose_exit_threshold(eb: ExitBranch, tolerance: float = 0.01,
                          thresholds: Sequence[float] = THRESHOLDS) -> Thresholds:
    """Sweep ``thresholds`` on validation and test; choose T on validation by
    :func:`hybridlib.study.early_exit.branches.choose_threshold` (within ``tolerance``)."""
    pe_val, pf_val = branches.predict_both(eb.branchy, eb.x_val)
    pe_test, pf_test = branches.predict_both(eb.branchy, eb.x_test)
    sweep_val = branches.threshold_sweep(pe_val, pf_val, eb.y_val, thresholds)
    sweep_test = branches.threshold_sweep(pe_test, pf_test, eb.y_test, thresholds)
    chosen = branches.choose_threshold(sweep_val, tolerance=tolerance)
    t = chosen["threshold"]
    return Thresholds(sweep_val, sweep_test, chosen, t, sweep_test.set_index("threshold").loc[t])


@dataclass
class Bandwidth:
    """Uplink bytes per frame: the branch-point tensor's measured sizes and the per-scheme table."""

    feature_shape: list[int]
    feature_bytes: dict[str, float]
    pixel_bytes: float
    table: pd.DataFrame


def bandwidth_study(eb: ExitBranch, exit_fraction: float, n: int = 200) -> Bandwidth:
    """Bytes per frame at ``exit_fraction``, the branch-point tensor measured on ``n`` test activations."""
    feats = branches.trunk_to(eb.branchy, eb.branch_at).predict(models.preprocess(eb.x_test[:n]), verbose=0)
    fsizes = branches.feature_bytes(feats)
    pixel_bytes = float(eb.x_test[0].size)
    return Bandwidth(list(feats.shape[1:]), fsizes, pixel_bytes,
                     branches.bandwidth_table(float(exit_fraction), fsizes, pixel_bytes=pixel_bytes))


@dataclass
class Planner:
    """Edgent's exit × split plans in 05's main scenario, and the costs they were made from."""

    device_slowdown: float
    load: float
    graph0: partition.Graph  # the profile's graph, unscaled (this machine's TF)
    graph: partition.Graph   # × device_slowdown
    cuts: list[str]
    trunk: list[dict[str, Any]]
    head_ms: float
    device_cloud_ratio: float
    plans: pd.DataFrame  # + ``choice``: "exit · where @cut" or "— (none meets it)"

    def scenario(self) -> dict[str, float]:
        return {"device_slowdown": self.device_slowdown, "load": self.load, "head_ms_measured": self.head_ms,
                "device_cloud_ratio": self.device_cloud_ratio}


def plan_exits(ctx: Any, eb: ExitBranch, th: Thresholds, deadlines: Sequence[float] = DEADLINES) -> Planner:
    """Per network × deadline, the most accurate (exit, split) that meets it.

    Per-layer costs from the profile 04/05 use (made at this preset if missing), scaled to 05's
    main scenario; the trunk collapsed to segments between clean cut points; the branch head
    timed here with all threads, its device cost the trunk's measured device/cloud ratio × the
    same slow-down. Each exit's accuracy is its test accuracy alone."""
    phone, load = offload.SCENARIOS[offload.MAIN_SCENARIO]  # 05's main scenario, one definition
    prof = tables.ensure_profile(ctx, "emotion_cnn")
    graph0 = graphs.to_graph(prof, "emotion_cnn", input_itemsize=1)
    graph = partition.scale(graph0, device=phone)
    cuts = [c for c in models.chain_cut_points(eb.trunk_model) if c in set(graph.ids)]
    trunk = branches.trunk_from_graph(graph, cuts)
    head_ms = branches.head_ms(branches.branch_head(eb.branchy), repeats=ctx.preset.profile_repeats)
    dev_ratio = sum(n.device_ms for n in graph0.nodes) / max(sum(n.cloud_ms for n in graph0.nodes), 1e-9)
    at = th.at_threshold
    exits = [branches.Exit("exit1", eb.branch_at, float(at.branch_acc), device_ms=phone * dev_ratio * head_ms,
                           cloud_ms=head_ms),
             branches.Exit("final", trunk[-1]["id"], float(at.final_acc))]
    plans = pd.DataFrame([branches.plan(trunk, exits, net, d, load=load).to_dict()
                          for net in partition.NETWORKS for d in deadlines])
    plans["choice"] = np.where(plans.feasible, plans["exit"] + " · " + plans["where"] + " @" + plans["split_after"],
                               "— (none meets it)")
    return Planner(phone, load, graph0, graph, cuts, trunk, head_ms, dev_ratio, plans)
