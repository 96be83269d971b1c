"""Early exit (BranchyNet) and the deadline-driven exit × split planner (Edgent).

* :func:`add_branch` puts a small side branch (conv → pool → global average pool → dense
  softmax, output ``exit1``) on a trained emotion CNN at a layer such as ``pool2``;
  :func:`train_branch` trains only that branch with the trunk frozen (Edgent-style: the
  trunk's features are computed once, then the branch is fitted on them).
* :func:`entropy` is the normalised Shannon entropy of a softmax row (0 = one-hot,
  1 = uniform). An input exits at the branch when its branch entropy is **below** the
  threshold ``T`` (BranchyNet's rule), so the exit fraction never decreases with ``T``.
* :func:`threshold_sweep` tabulates exit fraction and accuracies per threshold;
  :func:`choose_threshold` applies the rule: *the threshold with the highest edge-exit
  fraction whose overall accuracy is at least the final exit's accuracy minus
  ``tolerance`` (default 0.01 = 1 point); ties go to the smaller threshold*. ``T = 0`` (no
  input exits) always qualifies, so a choice always exists.
* :func:`feature_bytes` measures what a non-exited input costs on the uplink when the
  branch-point tensor is shipped (float32, float16, uint8 + zlib) — reusing
  :func:`hybridlib.wire.quantize` (the wire format `/split` decodes).
* :func:`plan` (Edgent): for a network and a latency deadline, choose the exit and the split
  point maximising accuracy subject to latency ≤ deadline, with the §5 transfer formula
  (:meth:`hybridlib.partition.Network.up_ms` / ``down_ms``).
"""
from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib.models.networks import preprocess
from hybridlib.partition.graph import as_graph
from hybridlib.partition.network import get_network
from hybridlib.profiling.layers import time_model_layers
from hybridlib.utils import InputError
from hybridlib.wire import quantize

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import tf_keras

EXIT_NAME = "exit1"


# ------------------------------------------------------------------------------ branch model


def add_branch(model: tf_keras.Model, at: str = "pool2", filters: int = 64, name: str = EXIT_NAME) -> tf_keras.Model:
    """A two-output model ``[name, <final>]`` sharing ``model``'s trunk, with a side branch at ``at``.

    The branch is a nested model called ``name`` (conv 3×3 ``filters`` → BN → ReLU → max-pool →
    global average pool → dense softmax), so its output is named ``name``. The trunk's layers
    are frozen (``trainable = False``); only the branch trains.
    """
    import tf_keras as keras

    if filters < 1:
        raise InputError(f"branch filters must be ≥ 1, got {filters!r}")
    names = [l.name for l in model.layers]
    if at not in names:
        raise InputError(f"branch point {at!r} is not a layer of {model.name!r} (e.g. pool2, pool3)")
    L = keras.layers
    feat = model.get_layer(at).output
    n_classes = int(model.outputs[0].shape[-1])
    inp = keras.Input(shape=tuple(feat.shape[1:]), name=f"{name}_in")
    x = L.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(inp)
    x = L.BatchNormalization(name=f"{name}_bn")(x)
    x = L.Activation("relu", name=f"{name}_relu")(x)
    x = L.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = L.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    out = L.Dense(n_classes, activation="softmax", name=f"{name}_softmax")(x)
    head = keras.Model(inp, out, name=name)
    for l in model.layers:
        l.trainable = False
    return keras.Model(model.inputs, [head(feat), model.outputs[0]], name=f"{model.name}_branchy")


def branch_head(branchy: tf_keras.Model, name: str = EXIT_NAME) -> tf_keras.Model:
    return branchy.get_layer(name)


def trunk_to(branchy: tf_keras.Model, at: str) -> tf_keras.Model:
    """The device prefix input → ``at`` (what runs before the branch)."""
    import tf_keras as keras

    return keras.Model(branchy.inputs, branchy.get_layer(at).output, name=f"trunk_to_{at}")


def train_branch(branchy: tf_keras.Model, at: str, images: np.ndarray, labels: np.ndarray, epochs: int,
                 batch_size: int = 64, lr: float = 1e-3, seed: int = 0, max_train: int = 0) -> dict[str, Any]:
    """Train only the branch: trunk features at ``at`` are computed once, the head fits on them.

    ``max_train`` > 0 caps the images (a seeded subsample) to bound the time. Returns the history.
    """
    import tf_keras as keras


    if epochs < 1:
        raise InputError(f"epochs must be ≥ 1, got {epochs!r}")
    y = np.asarray(labels)
    if len(images) != len(y) or len(y) == 0:
        raise InputError(f"images ({len(images)}) and labels ({len(y)}) must be non-empty and the same length")
    rng = np.random.default_rng(seed)
    idx = rng.permutation(len(y))
    if max_train and len(idx) > max_train:
        idx = idx[:max_train]
    keras.utils.set_random_seed(seed)
    feats = trunk_to(branchy, at).predict(preprocess(images[idx]), batch_size=256, verbose=0)
    head = branch_head(branchy)
    head.compile(optimizer=keras.optimizers.Adam(lr), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    h = head.fit(feats, y[idx], epochs=epochs, batch_size=batch_size, verbose=0, shuffle=True)
    return {k: [float(v) for v in vs] for k, vs in h.history.items()} | {"n_train": len(idx)}


def predict_both(branchy: tf_keras.Model, images: np.ndarray, batch_size: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Softmax of the branch and of the final exit for uint8 (or [0, 1]) faces."""

    p_exit, p_final = branchy.predict(preprocess(images), batch_size=batch_size, verbose=0)
    return np.asarray(p_exit), np.asarray(p_final)


# ------------------------------------------------------------------------------ entropy & threshold


def _probs(p: Any, what: str) -> np.ndarray:
    a = np.asarray(p, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] < 2:
        raise InputError(f"{what} must be N×K softmax rows with K ≥ 2, got shape {np.shape(p)}")
    if not np.all(np.isfinite(a)) or (a < -1e-6).any():
        bad = a[~np.isfinite(a) | (a < -1e-6)].ravel()[0]
        raise InputError(f"{what} must be finite probabilities ≥ 0, got {bad!r}")
    s = a.sum(axis=1)
    if not np.allclose(s, 1.0, atol=1e-3):
        raise InputError(f"{what} rows must sum to 1, got a row summing to {s[np.argmax(np.abs(s - 1))]!r}")
    return np.clip(a, 0.0, 1.0)


def entropy(probs: Any) -> np.ndarray:
    """Normalised Shannon entropy per row: ``-Σ p log p / log K`` ∈ [0, 1] (0 · log 0 = 0)."""
    a = _probs(probs, "probs")
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -np.where(a > 0, a * np.log(a), 0.0).sum(axis=1)
    return np.clip(h / math.log(a.shape[1]), 0.0, 1.0)


def _labels(y: Any, n: int) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise InputError(f"labels must be a 1-D array of {n} class ids, got shape {y.shape}")
    return y.astype(int)


def _thresholds(thresholds: Any) -> np.ndarray:
    t = np.asarray(thresholds, dtype=np.float64).ravel()
    if t.size == 0:
        raise InputError("thresholds must not be empty")
    bad = t[~np.isfinite(t) | (t < 0) | (t > 1)]
    if bad.size:
        raise InputError(f"thresholds must lie in [0, 1] (normalised entropy), got {bad[0]!r}")
    return np.sort(t)


def threshold_sweep(p_exit: Any, p_final: Any, y: Any, thresholds: Any = None) -> pd.DataFrame:
    """Per threshold T (exit when branch entropy < T): exit fraction and accuracies.

    Columns: ``threshold, exit_fraction, overall_acc, exited_acc`` (branch accuracy on the
    inputs that exit, NaN if none), ``branch_acc`` and ``final_acc`` (each exit alone on all inputs).
    """

    pe, pf = _probs(p_exit, "p_exit"), _probs(p_final, "p_final")
    if pe.shape != pf.shape:
        raise InputError(f"p_exit {pe.shape} and p_final {pf.shape} must have the same shape")
    y = _labels(y, len(pe))
    t = _thresholds(np.linspace(0, 1, 21) if thresholds is None else thresholds)
    h = entropy(pe)
    ok_e, ok_f = pe.argmax(1) == y, pf.argmax(1) == y
    rows = []
    for thr in t:
        ex = h < thr
        rows.append({"threshold": float(thr), "exit_fraction": float(ex.mean()),
                     "overall_acc": float(np.where(ex, ok_e, ok_f).mean()),
                     "exited_acc": float(ok_e[ex].mean()) if ex.any() else float("nan"),
                     "branch_acc": float(ok_e.mean()), "final_acc": float(ok_f.mean())})
    return pd.DataFrame(rows)


def choose_threshold(sweep: pd.DataFrame, tolerance: float = 0.01) -> dict[str, float]:
    """The row with the highest exit fraction whose overall accuracy ≥ final accuracy − ``tolerance``.

    Ties go to the smaller threshold. Returns that row as a dict.
    """
    if not (0 <= tolerance < 1):
        raise InputError(f"tolerance must be in [0, 1), got {tolerance!r}")
    if len(sweep) == 0:
        raise InputError("empty threshold sweep")
    ok = sweep[sweep["overall_acc"] >= sweep["final_acc"] - tolerance - 1e-12]
    if ok.empty:  # only possible if T = 0 was not swept
        ok = sweep.nsmallest(1, "threshold")
    best = ok.sort_values(["exit_fraction", "threshold"], ascending=[False, True]).iloc[0]
    return {k: float(v) for k, v in best.items()}


# ------------------------------------------------------------------------------ bandwidth


def feature_bytes(features: np.ndarray) -> dict[str, float]:
    """Mean bytes per input of shipped branch-point tensors: float32, float16, uint8, uint8 + zlib."""

    f = np.asarray(features)
    if f.ndim < 2 or len(f) == 0:
        raise InputError(f"features must be N×… with N ≥ 1, got shape {f.shape}")
    out = {"float32": [], "float16": [], "uint8": [], "uint8+zlib": []}
    for x in f:
        for dt in ("float32", "float16", "uint8"):
            b = quantize(x, dt)
            out[dt].append(len(b) + (8 if dt == "uint8" else 0))  # uint8 also ships lo/scale (2 × float32)
            if dt == "uint8":
                out["uint8+zlib"].append(len(zlib.compress(b, 6)) + 8)
    return {k: float(np.mean(v)) for k, v in out.items()}


def bandwidth_table(exit_fraction: float, feature_sizes: Mapping[str, float], pixel_bytes: float = 48 * 48) -> pd.DataFrame:
    """Uplink bytes per frame per scheme and the reduction vs cloud-only pixels (ratio > 1 = saves).

    Cloud-only sends every frame's uint8 face crop; early-exit schemes send only the
    non-exited fraction, either the branch-point tensor (in each encoding) or the pixels.
    """

    if not (0 <= exit_fraction <= 1):
        raise InputError(f"exit_fraction must be in [0, 1], got {exit_fraction!r}")
    if pixel_bytes <= 0:
        raise InputError(f"pixel_bytes must be > 0, got {pixel_bytes!r}")
    rows = [{"scheme": "cloud-only (uint8 pixels)", "bytes_per_input": pixel_bytes, "bytes_per_frame": pixel_bytes}]
    rows += [{"scheme": f"early exit + features {k}", "bytes_per_input": float(v),
              "bytes_per_frame": (1 - exit_fraction) * float(v)} for k, v in feature_sizes.items()]
    rows.append({"scheme": "early exit + pixels", "bytes_per_input": pixel_bytes,
                 "bytes_per_frame": (1 - exit_fraction) * pixel_bytes})
    df = pd.DataFrame(rows)
    df["reduction_vs_cloud"] = np.where(df["bytes_per_frame"] > 0, pixel_bytes / df["bytes_per_frame"].clip(lower=1e-12),
                                        np.inf)
    return df


# ------------------------------------------------------------------------------ planner (Edgent)


@dataclass(frozen=True)
class Exit:
    """One exit: it reads the trunk layer ``at``; its head costs these; ``accuracy`` in [0, 1].

    The final exit is ``Exit("final", at=<last trunk layer>, accuracy=…)`` with zero head costs.
    """

    name: str
    at: str
    accuracy: float
    device_ms: float = 0.0
    cloud_ms: float = 0.0
    out_bytes: float = 28.0  # 7 float32 scores


@dataclass(frozen=True)
class ExitPlan:
    network: str
    deadline_ms: float
    feasible: bool
    exit: str | None
    split_after: str | None  # last trunk layer on the device ("input" = cloud does everything)
    where: str | None  # device-only | cloud-only | split
    latency_ms: float
    accuracy: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _trunk(trunk: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    if len(trunk) < 2:
        raise InputError(f"trunk needs an input and at least one layer, got {len(trunk)} entries")
    out = []
    for i, t in enumerate(trunk):
        d = {"id": str(t.get("id", "")), **{k: float(t.get(k, 0.0)) for k in ("device_ms", "cloud_ms", "out_bytes")}}
        for k in ("device_ms", "cloud_ms", "out_bytes"):
            if not math.isfinite(d[k]) or d[k] < 0:
                raise InputError(f"trunk layer {d['id'] or i!r}: {k} must be a number ≥ 0, got {t.get(k)!r}")
        out.append(d)
    return out


def options(trunk: Sequence[Mapping[str, Any]], exits: Sequence[Exit], network: Any, load: float = 1.0) -> list[dict[str, Any]]:
    """Every (exit, split) with its latency: layers ``1..j`` on the device, the rest (and the head
    if ``j`` is before the exit) on the cloud; ``trunk[0]`` is the input (on the device)."""

    net = get_network(network)
    if not (math.isfinite(load) and load > 0):
        raise InputError(f"load must be a positive number, got {load!r}")
    tr = _trunk(trunk)
    ids = [t["id"] for t in tr]
    rows = []
    for e in exits:
        if e.at not in ids:
            raise InputError(f"exit {e.name!r} reads layer {e.at!r}, which is not in the trunk")
        if not (0 <= e.accuracy <= 1):
            raise InputError(f"exit {e.name!r}: accuracy must be in [0, 1], got {e.accuracy!r}")
        k = ids.index(e.at)
        for j in range(k + 1):
            dev = sum(t["device_ms"] for t in tr[1:j + 1])
            if j == k:  # everything incl. the head on the device
                lat, where = dev + e.device_ms, "device-only"
            else:
                cloud = load * (sum(t["cloud_ms"] for t in tr[j + 1:k + 1]) + e.cloud_ms)
                lat = dev + net.up_ms(tr[j]["out_bytes"]) + cloud + net.down_ms(e.out_bytes)
                where = "cloud-only" if j == 0 else "split"
            rows.append({"exit": e.name, "split_after": ids[j], "where": where, "latency_ms": lat,
                         "accuracy": e.accuracy})
    return rows


def plan(trunk: Sequence[Mapping[str, Any]], exits: Sequence[Exit], network: Any, deadline_ms: float,
         load: float = 1.0) -> ExitPlan:
    """Edgent: the (exit, split) with the highest accuracy whose latency ≤ ``deadline_ms``;
    ties → lower latency. If none meets the deadline, ``feasible`` is False and the fastest
    option is returned (Edgent would report failure; the caller decides)."""
    if not (isinstance(deadline_ms, (int, float)) and math.isfinite(deadline_ms) and deadline_ms > 0):
        raise InputError(f"deadline_ms must be a positive number, got {deadline_ms!r}")
    if not exits:
        raise InputError("at least one exit is needed")
    opts = options(trunk, exits, network, load)

    name = get_network(network).name
    ok = [o for o in opts if o["latency_ms"] <= deadline_ms + 1e-9]
    if ok:
        b = max(ok, key=lambda o: (o["accuracy"], -o["latency_ms"]))
        return ExitPlan(name, float(deadline_ms), True, b["exit"], b["split_after"], b["where"], b["latency_ms"], b["accuracy"])
    b = min(opts, key=lambda o: o["latency_ms"])
    return ExitPlan(name, float(deadline_ms), False, b["exit"], b["split_after"], b["where"], b["latency_ms"], b["accuracy"])


def trunk_from_graph(graph: Any, cut_points: Sequence[str]) -> list[dict[str, Any]]:
    """Collapse a §5 graph into a chain of segments ending at ``cut_points`` (in model order):
    each segment's cost is the sum over its nodes, its ``out_bytes`` the cut layer's output.
    The graph's input node becomes the first entry."""

    g = as_graph(graph)
    ids = list(g.ids)
    pos = {n: i for i, n in enumerate(ids)}
    missing = [c for c in cut_points if c not in pos]
    if missing:
        raise InputError(f"cut point {missing[0]!r} is not a node of graph {g.name!r}")
    cuts = sorted(set(cut_points) | {g.input}, key=pos.get)
    out, prev = [], -1
    for c in cuts:
        seg = g.nodes[prev + 1:pos[c] + 1]
        out.append({"id": c, "device_ms": sum(n.device_ms for n in seg), "cloud_ms": sum(n.cloud_ms for n in seg),
                    "out_bytes": g.nodes[pos[c]].out_bytes})
        prev = pos[c]
    if prev < len(ids) - 1:  # the remainder up to the output
        seg = g.nodes[prev + 1:]
        out.append({"id": ids[-1], "device_ms": sum(n.device_ms for n in seg), "cloud_ms": sum(n.cloud_ms for n in seg),
                    "out_bytes": g.nodes[-1].out_bytes})
    return out


def head_ms(head: tf_keras.Model, repeats: int = 5) -> float:
    """The branch head's compute in this process (ms): Σ of per-layer medians measured like the
    profiles of 04 (:func:`hybridlib.profiling.layers.time_model_layers`, call overhead subtracted)."""

    return float(sum(r["ms"] for r in time_model_layers(head, repeats=repeats, warmup=2)))
