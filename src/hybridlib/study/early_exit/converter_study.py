"""Notebook 06's converter steps: seed 004's C-channel bottleneck swept over C, its operating
point, the picture it competes with, and the expected latency per network and device class.

* :func:`sweep_converters` — per C: build (branch warm-started from ``exit1``), train with the
  joint loss on frozen-trunk features, evaluate after the wire round trip, operating curves on
  validation and test; the operating point chosen on validation
  (:func:`hybridlib.study.early_exit.converter.choose_operating_point`), reported on test;
* :func:`picture_alternatives` — the crop as raw/PNG/JPEG and the cloud mode's video bytes per frame;
* :func:`expected_latency` — device (native TF × throttle), cloud (tail + restore) and transfer;
* :func:`decompose_operating_point` — the operating point decomposed with 95% intervals on the test
  split and, on synthetic data, on the test split plus extra synthetic faces
  (:mod:`hybridlib.study.early_exit.decompose`).

Design, rules and formulas: :mod:`hybridlib.study.early_exit.converter`'s docstring.
"""
from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import data, models, partition
from hybridlib.profiling import devices
from hybridlib.study.early_exit import branches, converter, decompose
from hybridlib.study.early_exit.study import THRESHOLDS, ExitBranch, Planner


@dataclass
class ConverterSweep:
    """Every C's converter, its curves and the operating point (``op``: the test row at the
    validation choice, ``channels`` an int)."""

    channels: tuple[int, ...]
    epochs: int
    n_train: int
    train_s: float
    f_test: np.ndarray  # the frozen trunk's features at the branch point (test), for later checks
    ref_val: float      # final exit only (the unchanged tail), validation
    ref_test: float
    curve: pd.DataFrame
    per_channels: list[dict[str, Any]]
    converters: dict[int, converter.Converter]
    op_val: dict[str, Any]
    op: dict[str, Any]
    branch_alone_ok: bool  # the branch alone is within the budget on validation (all could exit)
    rule: str = "interval"
    ok_ref_test: np.ndarray | None = None  # the full model's per-input correctness (test)
    test_inputs: dict[str, np.ndarray] | None = None  # the operating point's per-input arrays (test)

    @property
    def converter(self) -> converter.Converter:
        """The operating point's converter."""
        return self.converters[self.op["channels"]]

    @property
    def branch_acc(self) -> float:
        """The operating point's branch accuracy alone (test)."""
        return float(self.per_channels[self.channels.index(self.op["channels"])]["branch_acc_test"])


def sweep_converters(eb: ExitBranch, channels: Sequence[int], epochs: int, max_train: int = 4000,
                     budget: float = 0.01, max_exit: float = 1.0, rule: str = "interval",
                     thresholds: Sequence[float] = THRESHOLDS) -> ConverterSweep:
    """Train and evaluate a converter for each C of ``channels`` (``epochs`` of the joint loss on at
    most ``max_train`` training images, features computed once); the operating point: fewest bytes
    per input whose paired accuracy difference against the final exit alone is ≥ −``budget`` at its
    lower 95% bound (``rule="interval"``; ``"point"``: on the point value), chosen on validation
    (:func:`hybridlib.study.early_exit.converter.choose_operating_point`; ``max_exit``: an optional
    cap, none by default). The codec per C is the smallest on validation."""
    t0 = time.perf_counter()
    c_head, c_tail = converter.split_trunk(eb.trunk_model, eb.branch_at)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(eb.y_train))[:max_train]
    f_train = c_head.predict(models.preprocess(eb.x_train[idx]), batch_size=256, verbose=0)
    f_val = c_head.predict(models.preprocess(eb.x_val), batch_size=256, verbose=0)
    f_test = c_head.predict(models.preprocess(eb.x_test), batch_size=256, verbose=0)
    ok_ref = {"val": c_tail.predict(f_val, verbose=0).argmax(1) == eb.y_val,
              "test": c_tail.predict(f_test, verbose=0).argmax(1) == eb.y_test}
    ref_val, ref_test = float(ok_ref["val"].mean()), float(ok_ref["test"].mean())
    curves, info, convs, per_input = [], [], {}, {}
    y_test = eb.y_test
    for c in channels:
        cv = converter.build(c_head, c_tail, eb.branch_at, c, init_branch=branches.branch_head(eb.branchy))
        h = converter.train(cv, f_train, eb.y_train[idx], epochs=epochs)
        ev = {"val": converter.evaluate(cv, f_val), "test": converter.evaluate(cv, f_test)}
        codec = min(ev["val"]["codec"], key=lambda k: ev["val"]["codec"][k].mean())
        convs[c] = cv
        for split, e, y in (("val", ev["val"], eb.y_val), ("test", ev["test"], y_test)):
            arrs = {"entropy": branches.entropy(e["p_exit"]), "ok_exit": e["p_exit"].argmax(1) == y,
                    "ok_ship": e["p_final"].argmax(1) == y, "bytes": e["codec"][codec]}
            cu = converter.operating_curve(arrs["entropy"], arrs["ok_exit"], arrs["ok_ship"], arrs["bytes"],
                                           thresholds, ok_ref=ok_ref[split])
            curves.append(cu.assign(channels=c, codec=codec, split=split))
            if split == "test":
                per_input[c] = arrs
        info.append({"channels": c, "codec": codec, "code_shape": list(cv.encoder.output.shape[1:]),
                     "bytes_shipped_by_codec_test": {k: float(v.mean()) for k, v in ev["test"]["codec"].items()},
                     "converter_acc_test": float((ev["test"]["p_final"].argmax(1) == y_test).mean()),
                     "converter_acc_fp32_test": float((ev["test"]["p_final_fp32"].argmax(1) == y_test).mean()),
                     "branch_acc_test": float((ev["test"]["p_exit"].argmax(1) == y_test).mean()),
                     "quant_max_abs_err": ev["test"]["quant_max_abs_err"], "final_loss": h["loss"][-1]})
    train_s = time.perf_counter() - t0
    curve = pd.concat(curves, ignore_index=True)
    val = curve[curve.split == "val"]
    op_val = converter.choose_operating_point(val, ref_val, budget=budget, max_exit=max_exit, rule=rule)
    # is the branch alone within the budget (by the same rule)? then every input may exit (0 bytes)
    val_all = val[val.exit_fraction >= 1.0]
    branch_alone_ok = bool(((val_all.overall_acc >= ref_val - budget - 1e-12) &
                            ((val_all.acc_diff_lo >= -budget - 1e-12) if rule == "interval" else True)).any())
    op = curve[(curve.split == "test") & (curve.channels == op_val["channels"]) &
               (curve.threshold == op_val["threshold"])].iloc[0].to_dict()
    op["channels"] = int(op["channels"])
    return ConverterSweep(tuple(channels), int(epochs), len(idx), train_s, f_test, ref_val, ref_test, curve,
                          info, convs, op_val, op, branch_alone_ok, rule, ok_ref["test"], per_input[op["channels"]])


@dataclass
class PictureBytes:
    """What shipping the picture costs instead, and the converter's saving against each."""

    images: dict[str, float]          # the 48×48 crop: raw, PNG, JPEG q90 (mean bytes)
    video: dict[str, Any] | None      # the cloud mode's bytes per frame (None: not measured)
    alternatives: dict[str, float]
    savings: dict[str, float | None]  # × per alternative (None: nothing shipped at the operating point)


def picture_alternatives(ctx: Any, eb: ExitBranch, op: dict[str, Any], video_seconds: float = 3.0) -> PictureBytes:
    """The crop's bytes and the cloud mode's video bytes per frame: 07's load study when it ran in
    ``ctx``'s reports dir, else a short real stream measured here (one aiortc user, 07's clip, the
    preset's fps and frame size, ``video_seconds``; a failure is recorded with ``ctx.skip``)."""
    imgs = converter.image_bytes(eb.x_test)
    p07 = ctx.results_dir / "07_load.json"
    video = converter.video_bytes_per_frame(json.loads(p07.read_text())) if p07.is_file() else None
    if video:
        video["source"] = f"07's load study ({p07.name}, this reports dir), fewest-users cloud step"
    else:
        try:
            video = converter.measure_video_bytes(eb.model_path, fps=ctx.preset.load_fps,
                                                  size=tuple(ctx.preset.load_size), duration_s=video_seconds)
        except Exception as e:  # noqa: BLE001 — recorded, visible in summary.md
            ctx.skip("06 cloud video bytes", f"{type(e).__name__}: {e}", required=False)
    alts = converter.alternatives_bytes(imgs, video)
    return PictureBytes(imgs, video, alts, converter.savings(alts, op["bytes_per_input"]))


@dataclass
class Latency:
    """Expected latency per device class × network at the operating point, and its inputs (ms)."""

    trunk_device_ms: float  # trunk to the branch point, this machine's TF (desktop)
    edge_heads_ms: float    # branch + encoder, timed here
    tail_cloud_ms: float    # the unchanged tail, cloud
    restore_ms: float       # the converter's restore layer, timed here
    crop_cloud_ms: float    # the whole model, cloud (cloud-only)
    device_cloud_ratio: float
    table: pd.DataFrame

    def inputs(self) -> dict[str, float]:
        return {"trunk_device_ms_desktop": self.trunk_device_ms, "edge_heads_ms": self.edge_heads_ms,
                "tail_cloud_ms": self.tail_cloud_ms, "restore_ms": self.restore_ms,
                "device_cloud_ratio": self.device_cloud_ratio}

    def edge_ms(self, cpu_throttle: float) -> float:
        """Trunk to the exit + branch + encoder on a device class (native TF × its throttle)."""
        return cpu_throttle * (self.trunk_device_ms + self.device_cloud_ratio * self.edge_heads_ms)


def expected_latency(ctx: Any, eb: ExitBranch, pl: Planner, sw: ConverterSweep, crop_png_bytes: float) -> Latency:
    """Per device class and network: :func:`hybridlib.study.early_exit.converter.expected_latency_ms`
    at the operating point, cloud-only with the PNG crop, and device-only."""
    g0 = pl.graph0
    ids0 = [n.id for n in g0.nodes]
    k_at = ids0.index(eb.branch_at)
    trunk_dev_ms = sum(n.device_ms for n in g0.nodes[:k_at + 1])
    tail_cloud_ms = sum(n.cloud_ms for n in g0.nodes[k_at + 1:])
    cv, op, reps = sw.converter, sw.op, ctx.preset.profile_repeats
    edge_heads_ms = branches.head_ms(cv.branch, repeats=reps) + branches.head_ms(cv.encoder, repeats=reps)
    restore_ms = branches.head_ms(cv.restore, repeats=reps)
    crop_cloud_ms = sum(n.cloud_ms for n in g0.nodes)
    lat = Latency(trunk_dev_ms, edge_heads_ms, tail_cloud_ms, restore_ms, crop_cloud_ms, pl.device_cloud_ratio,
                  pd.DataFrame())
    rows = []
    for dname, dc in devices.DEVICES.items():
        for net in partition.NETWORKS:
            e = converter.expected_latency_ms(lat.edge_ms(dc.cpu_throttle), op["exit_fraction"],
                                              op["bytes_shipped"] if op["exit_fraction"] < 1 else 0.0,
                                              tail_cloud_ms + restore_ms, net)
            cloud_png = converter.expected_latency_ms(0.0, 0.0, crop_png_bytes, crop_cloud_ms, net)
            rows.append({"device": dname, "network": net, **e, "cloud_png_ms": cloud_png["expected_ms"],
                         "device_only_ms": dc.cpu_throttle * sum(n.device_ms for n in g0.nodes)})
    lat.table = pd.DataFrame(rows)
    return lat


#: bootstrap resamples per interval of the decomposition (stats defaults to 2000; 1000 halves the time in 06's budget)
N_BOOT = 1000
#: the extra synthetic faces' generator size: each seed draws one smoke-size set (~718 faces, FER-2013's class mix)
EXTRA_SIZE = "smoke"


@dataclass
class Decomposition:
    """The operating point decomposed (:func:`hybridlib.study.early_exit.decompose.decompose`) on
    the test split (``test``) and on the test split + extra synthetic faces (``enlarged``, None
    without them), the goal scored on the larger one, and where the extra faces came from."""

    test: dict[str, Any]
    enlarged: dict[str, Any] | None
    goal: dict[str, Any]
    extra: dict[str, Any]

    @property
    def main(self) -> dict[str, Any]:
        """The decomposition on the largest set."""
        return self.enlarged or self.test


def _alternatives(x: np.ndarray) -> dict[str, np.ndarray]:
    each = converter.image_bytes_each(x)
    return {"crop raw": each["raw"], "crop PNG": each["png"], "crop JPEG q90": each["jpeg_q90"]}


def decompose_operating_point(eb: ExitBranch, sw: ConverterSweep, extra_seeds: Sequence[int] = ()) -> Decomposition:
    """The operating point (C, T, codec chosen on validation) decomposed with 95% intervals on test
    and — synthetic data only — on test plus ``extra_seeds`` sets of fresh synthetic faces
    (:func:`hybridlib.data.generate_synthetic` at size ``EXTRA_SIZE`` with each seed: faces the
    trunk, branch and converter never saw, drawn by the same generator; the global split other
    notebooks use is unchanged). Why: 718 test faces cannot resolve a 1-point accuracy change."""
    if sw.test_inputs is None or sw.ok_ref_test is None:
        raise ValueError("the sweep kept no per-input arrays (sweep_converters does)")
    t, cv, codec = float(sw.op["threshold"]), sw.converter, str(sw.op["codec"])
    a = sw.test_inputs
    cols = {"exited": a["entropy"] < t, "ok_exit": a["ok_exit"], "ok_ship": a["ok_ship"], "ok_ref": sw.ok_ref_test,
            "ship_bytes": a["bytes"]}
    alts = _alternatives(eb.x_test)
    test = decompose.decompose(**cols, alternatives=alts, n_boot=N_BOOT)
    extra: dict[str, Any] = {"n": 0, "seeds": [], "size": EXTRA_SIZE, "s": 0.0}
    enlarged = None
    if extra_seeds and eb.synthetic:
        t0 = time.perf_counter()
        sets = [data.generate_synthetic(EXTRA_SIZE, seed=int(sd)) for sd in extra_seeds]
        x = np.concatenate([d.images for d in sets])
        y = np.concatenate([d.labels for d in sets])
        f = cv.head.predict(models.preprocess(x), batch_size=256, verbose=0)
        ev = converter.evaluate(cv, f, codecs=(codec,))
        ok_ref = np.asarray(cv.tail.predict(f, batch_size=256, verbose=0)).argmax(1) == y
        ex_cols = {"exited": branches.entropy(ev["p_exit"]) < t, "ok_exit": ev["p_exit"].argmax(1) == y,
                   "ok_ship": ev["p_final"].argmax(1) == y, "ok_ref": ok_ref, "ship_bytes": ev["codec"][codec]}
        ex_alts = _alternatives(x)
        enlarged = decompose.decompose(**{k: np.concatenate([cols[k], ex_cols[k]]) for k in cols},
                                       alternatives={k: np.concatenate([alts[k], ex_alts[k]]) for k in alts},
                                       n_boot=N_BOOT)
        extra = {"n": len(y), "seeds": [int(sd) for sd in extra_seeds], "size": EXTRA_SIZE,
                 "source": f"hybridlib.data.generate_synthetic({EXTRA_SIZE!r}, seed=…): every split of each set, "
                           "fresh synthetic faces (not in the trained model's data)",
                 "exit_share": float(ex_cols["exited"].mean()),
                 "acc_difference": float(np.where(ex_cols["exited"], ex_cols["ok_exit"], ex_cols["ok_ship"]).mean()
                                         - ok_ref.mean()),
                 "s": time.perf_counter() - t0}
    main = enlarged or test
    return Decomposition(test, enlarged, decompose.goal(main), extra)
