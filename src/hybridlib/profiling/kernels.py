"""Fused kernels: how the runtime groups a model's layers, and a profiled corpus of them.

A runtime does not execute Keras *layers* one by one: it fuses neighbouring operators into
one **kernel** (a Conv2D, its BatchNorm and its ReLU become one pass over memory), so the
unit whose latency is additive — and worth predicting — is the kernel. This follows
nn-Meter (Zhang et al., "nn-Meter: towards accurate latency prediction of deep-learning
model inference on diverse edge devices", MobiSys 2021, §4 and its ``docs/kernel.md``: a
kernel is "the maximum fusion unit"; detected CPU kernels include conv-bn-relu, conv-relu,
conv-bn, conv, fc-relu, fc, maxpool, avgpool, global-avgpool, bn-relu, relu, add-relu,
add, concat). nn-Meter detects each platform's fusion rules with test cases; for native
TensorFlow on CPU they are those of Grappler's *remapper* pass, which fuses
Conv2D(+BiasAdd)(+FusedBatchNorm)(+Relu) into ``_FusedConv2D`` and MatMul+BiasAdd(+Relu)
into ``_FusedMatMul`` — the rule set of :func:`detect_kernels`:

* Conv2D → absorbs a following BatchNormalization, then a following ReLU
  (``conv-bn-relu``, ``conv-bn``, ``conv-relu``, ``conv``); a Conv2D with
  ``activation="relu"`` is ``conv-relu`` already;
* Dense → ``fc-relu`` (its own ReLU, or a following one) or ``fc`` (linear/softmax: a
  softmax over ≤ a few thousand units costs microseconds and stays inside the kernel);
* BatchNormalization not after a conv → ``bn-relu`` / ``bn``; a lone ReLU → ``relu``;
* MaxPooling2D / AveragePooling2D / GlobalAveragePooling2D → ``maxpool`` / ``avgpool`` /
  ``global-avgpool``; Concatenate → ``concat``; Add → ``add-relu`` / ``add``;
* fusion only along a *sole* consumer (an intermediate tensor read by two layers must be
  materialised, so it ends the kernel);
* identities (InputLayer, Dropout at inference, Flatten, Reshape) are no kernel (zero cost).

:func:`random_kernel_configs` draws configurations per kernel type in a network *family*'s
size ranges (``emotion``: maps ≤ 48 px, the emotion CNN's; ``alexnet``: AlexNet's; ``wide``:
both); :func:`profile_kernels` times each fused kernel alone, as a ``tf.function`` (so
Grappler fuses it as in a model), with :func:`timing.time_model_calls` (loops of calls per
sample, interleaved in chunks with a reference convolution that measures the machine's
drift), on the device side (TF 1 thread), the cloud side (TF all cores) and the browser
side (TF.js wasm in throttled Chromium, :mod:`.kernels_tfjs`); :func:`ensure_kernel_corpus` caches both families plus both networks' own
kernels in ``artifacts_dir``. Predictors and their evaluation live in
:mod:`hybridlib.profiling.kpredict`.
"""
from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib import browser as br
from hybridlib import models
from hybridlib.profiling import kernels_tfjs
from hybridlib.profiling.kernel_space import (
    CONFIG_FIELDS,
    CORPUS_TYPES,
    DEFAULT_SIDES,
    FAMILIES,
    KERNEL_TYPES,
    SIDES,
)
from hybridlib.profiling.timing import REFERENCE_KERNEL, time_on_sides
from hybridlib.utils import InputError, atomic_path

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import tf_keras

log = logging.getLogger(__name__)

_IDENTITY = ("InputLayer", "Dropout", "SpatialDropout2D", "GaussianNoise", "Flatten", "Reshape")


@dataclass
class Kernel:
    """One fused kernel of a model: its layers (in order), type and configuration."""

    name: str
    kernel_type: str
    layers: list[str]
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def last(self) -> str:
        """The layer whose output is the kernel's output (a cut point)."""
        return self.layers[-1]


# ------------------------------------------------------------------------------ detection


def _inbound_names(layer: Any) -> list[str]:
    out: list[str] = []
    for node in getattr(layer, "_inbound_nodes", []):
        inb = node.inbound_layers
        out += [l.name for l in (inb if isinstance(inb, list) else [inb])]
    return out


def _is_relu(layer: Any) -> bool:
    import tf_keras as keras

    cls = type(layer).__name__
    if cls == "ReLU":
        return getattr(layer, "max_value", None) is None and not getattr(layer, "negative_slope", 0)
    return cls == "Activation" and layer.activation is keras.activations.relu


def _shape(s: Any) -> tuple[int, ...]:
    s = s[0] if isinstance(s, list) and len(s) == 1 else s
    return tuple(int(d) for d in s[1:])


def _config(kt: str, first: Any, last: Any) -> dict[str, Any]:
    """Configuration of a kernel from its first layer's input and last layer's output."""
    ins = first.input_shape if isinstance(first.input_shape, list) else [first.input_shape]
    ishapes = [_shape(s) for s in ins]
    oshape = _shape(last.output_shape)
    cfg: dict[str, Any] = {"kernel_type": kt, "n_inputs": len(ishapes), "kernel": 1, "stride": 1, "padding": "same"}
    if kt.startswith("fc"):
        cfg.update(h=1, w=1, c_in=ishapes[0][-1], c_out=oshape[-1])
        return cfg
    h, w = ishapes[0][0], ishapes[0][1]
    cfg.update(h=h, w=w, c_in=sum(s[-1] for s in ishapes) if kt == "concat" else ishapes[0][-1], c_out=oshape[-1])
    if kt.startswith("conv"):
        cfg.update(kernel=int(first.kernel_size[0]), stride=int(first.strides[0]), padding=first.padding)
    elif kt in ("maxpool", "avgpool"):
        cfg.update(kernel=int(first.pool_size[0]), stride=int(first.strides[0]), padding=first.padding)
    elif kt == "global-avgpool":
        cfg.update(kernel=h)
    return cfg


def detect_kernels(model: tf_keras.Model) -> list[Kernel]:
    """Group ``model``'s layers into fused kernels with the rule set of the module docstring.

    Returns the kernels in the model's layer order; every non-identity layer is in exactly
    one kernel. A layer class outside the rule set becomes its own kernel ``other:<Class>``
    (its latency cannot be predicted from the corpus, and :mod:`kpredict` says so).
    """
    import tf_keras as keras

    layers = {l.name: l for l in model.layers}
    consumers: dict[str, list[str]] = {n: [] for n in layers}
    for l in model.layers:
        for src in _inbound_names(l):
            if src in consumers:
                consumers[src].append(l.name)

    def sole(name: str) -> Any | None:
        """The one consumer of ``name`` if it reads only ``name``, else None."""
        c = consumers[name]
        if len(c) == 1 and _inbound_names(layers[c[0]]) == [name]:
            return layers[c[0]]
        return None

    done: set[str] = set()
    kernels: list[Kernel] = []
    for l in model.layers:
        cls = type(l).__name__
        if l.name in done or cls in _IDENTITY:
            continue
        group, kt = [l], None
        act = getattr(l, "activation", None)
        if cls == "Conv2D":
            bn = relu = False
            if act is keras.activations.relu:
                relu = True
            elif act is keras.activations.linear:
                nxt = sole(l.name)
                if nxt is not None and type(nxt).__name__ == "BatchNormalization":
                    group.append(nxt)
                    bn = True
                    nxt = sole(nxt.name)
                if nxt is not None and _is_relu(nxt):
                    group.append(nxt)
                    relu = True
            kt = "conv" + ("-bn" if bn else "") + ("-relu" if relu else "")
        elif cls == "Dense":
            if act is keras.activations.relu:
                kt = "fc-relu"
            else:
                nxt = sole(l.name) if act is keras.activations.linear else None
                if nxt is not None and _is_relu(nxt):
                    group.append(nxt)
                    kt = "fc-relu"
                else:
                    kt = "fc"
        elif cls in ("BatchNormalization", "Add"):
            nxt = sole(l.name)
            base = "bn" if cls == "BatchNormalization" else "add"
            if nxt is not None and _is_relu(nxt):
                group.append(nxt)
                kt = base + "-relu"
            else:
                kt = base
        elif _is_relu(l):
            kt = "relu"
        else:
            kt = {"MaxPooling2D": "maxpool", "AveragePooling2D": "avgpool",
                  "GlobalAveragePooling2D": "global-avgpool", "Concatenate": "concat"}.get(cls, f"other:{cls}")
        done.update(g.name for g in group)
        cfg = _config(kt, group[0], group[-1]) if kt in KERNEL_TYPES else {"kernel_type": kt}
        kernels.append(Kernel(name=l.name, kernel_type=kt, layers=[g.name for g in group], config=cfg))
    return kernels


def kernel_table(model: tf_keras.Model, network: str | None = None) -> pd.DataFrame:
    """:func:`detect_kernels` as a table: one row per kernel, configuration columns + ``layers``."""

    rows = [{"kernel_name": k.name, "layers": list(k.layers), "last_layer": k.last, **k.config,
             "source": network or model.name} for k in detect_kernels(model)]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ configs


def random_kernel_configs(n: int, family: str = "wide", seed: int = 0,
                          types: Sequence[str] = CORPUS_TYPES) -> list[dict[str, Any]]:
    """``n`` random kernel configurations spread evenly over ``types``, in ``family``'s ranges.

    Sizes are log-uniform (small and large kernels both covered); conv strides > 1 only on
    maps ≥ 12 px; ``concat`` joins 2–4 equal-channel inputs. Draws whose input or output
    tensor exceeds the family's ``max_elems`` or whose FLOPs exceed ``max_flops`` are
    redrawn: real networks shrink maps as they add channels (nn-Meter samples from the
    model zoo's distribution for the same reason), and a uniform draw over all (map,
    channels, kernel) triples spends most of the budget on 10–60 GFLOP convolutions no
    network of the family has, where trees then have no neighbours.
    """
    if family not in FAMILIES:
        raise InputError(f"family must be one of {', '.join(FAMILIES)}, got {family!r}")
    bad = [t for t in types if t not in KERNEL_TYPES]
    if bad or not types:
        raise InputError(f"unknown kernel type(s) {bad or '(none given)'}; known: {', '.join(KERNEL_TYPES)}")
    if n < 2 * len(types):
        raise InputError(f"corpus size must be ≥ {2 * len(types)} (two per kernel type), got {n}")
    f = FAMILIES[family]
    rng = np.random.default_rng(seed)

    def logint(lo: int, hi: int) -> int:
        return int(round(math.exp(rng.uniform(math.log(lo), math.log(hi)))))

    def ok(cfg: dict[str, Any]) -> bool:
        h, ci, co, k, s = cfg["h"], cfg["c_in"], cfg["c_out"], cfg["kernel"], cfg["stride"]
        if cfg["kernel_type"].startswith("fc"):
            return True
        ho = math.ceil(h / s) if cfg["padding"] == "same" else (h - k) // s + 1
        flops = 2 * ho * ho * co * k * k * ci if cfg["kernel_type"].startswith("conv") else h * h * ci * k * k
        return max(h * h * ci, ho * ho * co) <= f["max_elems"] and flops <= f["max_flops"]

    out: list[dict[str, Any]] = []
    while len(out) < n:
        t = types[len(out) % len(types)]
        hw, c = logint(*f["hw"]), logint(*f["c"])
        cfg: dict[str, Any] = {"kernel_type": t, "h": hw, "w": hw, "c_in": c, "c_out": c, "kernel": 1,
                               "stride": 1, "padding": "same", "n_inputs": 1}
        if t.startswith("conv"):
            k = min(int(rng.choice(f["k"])), hw)
            s = int(rng.choice(f["s"])) if hw >= 12 else 1
            cfg.update(kernel=k, stride=s, c_out=logint(8, f["c"][1]),
                       padding="valid" if s > 1 else str(rng.choice(["same", "valid"])))
        elif t.startswith("fc"):
            cfg.update(h=1, w=1, c_in=logint(*f["fc_in"]), c_out=logint(*f["fc_out"]))
        elif t in ("maxpool", "avgpool"):
            k, s = f["pool"][int(rng.integers(len(f["pool"])))]
            cfg.update(kernel=min(k, hw), stride=s if hw > 3 else 1, padding=str(rng.choice(["same", "valid"])))
        elif t == "global-avgpool":
            cfg.update(kernel=hw)
        elif t == "concat":
            m = int(rng.integers(2, 5))
            per = max(1, c // m)
            cfg.update(n_inputs=m, c_in=per * m, c_out=per * m)
        elif t.startswith("add"):
            cfg.update(n_inputs=2)
        if ok(cfg):
            out.append(cfg)
    return out


def kernel_model(cfg: dict[str, Any]) -> tf_keras.Model:
    """A Keras model computing exactly one fused kernel of configuration ``cfg``."""
    import tf_keras as keras

    L = keras.layers
    t = cfg["kernel_type"]
    if t not in KERNEL_TYPES:
        raise InputError(f"unknown kernel type {t!r}; known: {', '.join(KERNEL_TYPES)}")
    h, w, ci, co = int(cfg["h"]), int(cfg["w"]), int(cfg["c_in"]), int(cfg["c_out"])
    if t.startswith("fc"):
        inp = keras.Input((ci,))
        return keras.Model(inp, L.Dense(co, activation="relu" if t == "fc-relu" else "softmax")(inp))
    if t == "concat":
        m = int(cfg.get("n_inputs", 2))
        per = [ci // m + (1 if i < ci % m else 0) for i in range(m)]
        ins = [keras.Input((h, w, p)) for p in per]
        return keras.Model(ins, L.Concatenate()(ins))
    if t.startswith("add"):
        ins = [keras.Input((h, w, ci)) for _ in range(2)]
        y = L.Add()(ins)
        return keras.Model(ins, L.ReLU()(y) if t == "add-relu" else y)
    inp = keras.Input((h, w, ci))
    k, s, pad = int(cfg.get("kernel", 1)), int(cfg.get("stride", 1)), str(cfg.get("padding", "same"))
    if t.startswith("conv"):
        y = L.Conv2D(co, k, strides=s, padding=pad, activation="relu" if t == "conv-relu" else None)(inp)
        if "-bn" in t:
            y = L.BatchNormalization()(y)
        if t == "conv-bn-relu":
            y = L.ReLU()(y)
    elif t in ("maxpool", "avgpool"):
        y = (L.MaxPooling2D if t == "maxpool" else L.AveragePooling2D)(k, strides=s, padding=pad)(inp)
    elif t == "global-avgpool":
        y = L.GlobalAveragePooling2D()(inp)
    elif t.startswith("bn"):
        y = L.BatchNormalization()(inp)
        if t == "bn-relu":
            y = L.ReLU()(y)
    else:  # relu
        y = L.ReLU()(inp)
    return keras.Model(inp, y)


def profile_kernels(configs: Sequence[dict[str, Any]], repeats: int = 7, warmup: int = 2,
                    sides: Sequence[str] = DEFAULT_SIDES, min_sample_ms: float = 3.0,
                    cpu_throttle: float = 4.0) -> pd.DataFrame:
    """Time every kernel configuration on each of ``sides`` (:data:`SIDES`).

    ``device``: TF 1 thread; ``cloud``: TF all cores — each in a fresh process (thread
    counts are fixed when TF starts), timed by :func:`timing.time_model_calls`: each
    kernel a ``tf.function`` (Grappler fuses it), each sample a loop of calls lasting ≥
    ``min_sample_ms``, kernels interleaved. ``browser``: TF.js wasm in headless Chromium
    throttled ``cpu_throttle``× (a phone), by ``kernels_tfjs.profile_kernels_tfjs``,
    imported only when asked for.

    Columns: the configuration, ``side``, ``ms`` (median per-call wall time over
    ``repeats``), ``ms_min`` (fastest), ``ms_net`` (``ms_min`` minus the fixed call cost,
    ``call_overhead_ms``), ``ms_adj`` (the predictors' target: the time with the machine's
    preemption and speed drift taken out, see :func:`timing.time_model_calls`; on the
    browser side the page's median sample, ``kernels_tfjs.BROWSER_TARGET``), the CPU-time and reference
    columns of :func:`timing.time_model_calls`, and ``row`` (position in ``configs``).
    """
    if not configs:
        raise InputError("no kernel configurations to profile")
    if repeats < 1:
        raise InputError(f"repeats must be ≥ 1, got {repeats}")
    bad = [s for s in sides if s not in SIDES]
    if bad or not sides:
        raise InputError(f"sides must be among {', '.join(SIDES)}, got {list(sides)}")
    cfgs = [{k: v for k, v in c.items() if k in CONFIG_FIELDS} for c in configs]
    frames = []
    for side in sides:
        if side == "browser":
            df = _profile_browser(cfgs, repeats, warmup, cpu_throttle)
        else:
            df = time_on_sides(kernel_model, cfgs, (side,), repeats, warmup, min_sample_ms, REFERENCE_KERNEL)
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


def _profile_browser(cfgs: list[dict[str, Any]], repeats: int, warmup: int, cpu_throttle: float) -> pd.DataFrame:
    """The ``browser`` side: TF.js wasm in throttled Chromium (:mod:`.kernels_tfjs`).

    Its target ``ms_adj`` is the page's *median* sample (``kernels_tfjs.BROWSER_TARGET``), not
    the fastest: under load Chromium's throttler thread is starved and some samples run at full,
    unthrottled speed, so the fastest sample is the one that is wrong."""

    df = kernels_tfjs.profile_kernels_tfjs(cfgs, repeats=repeats, warmup=warmup, cpu_throttle=cpu_throttle,
                                           reference=REFERENCE_KERNEL).copy()
    df["side"] = "browser"
    df["ms_adj"] = df[kernels_tfjs.BROWSER_TARGET]
    if "row" not in df:
        df["row"] = range(len(df))
    return df


def corpus_configs(per_family: int) -> list[dict[str, Any]]:
    """The corpus' configurations, in ``config_id`` order: ``per_family`` random kernels of
    each family (``source`` = ``emotion-family`` / ``alexnet-family``), then the emotion
    CNN's and AlexNet's own kernels (``source`` = the network, with ``kernel_name``,
    ``layers`` and ``last_layer``). Deterministic, so sides timed later line up."""

    cfgs: list[dict[str, Any]] = []
    for i, fam in enumerate(("emotion", "alexnet")):
        cfgs += [{**c, "source": f"{fam}-family"} for c in random_kernel_configs(per_family, fam, seed=i)]
    for net, build in (("emotion_cnn", models.emotion_cnn), ("alexnet", models.alexnet)):
        cfgs += [dict(r) for r in kernel_table(build(), net).to_dict("records")]
    return cfgs


def session_labels(cfgs: Sequence[dict[str, Any]], second_share: float = 0.0) -> np.ndarray:
    """The timing session of each configuration: 1, or 2 for the last ``round(second_share · n)``
    random kernels of each family (``source`` ending ``-family``; a network's own kernels stay
    in session 1). The last draws of :func:`random_kernel_configs` cycle through the kernel
    types as the first do, so session 2 holds every type in proportion."""
    if not (isinstance(second_share, (int, float)) and 0 <= second_share < 1):
        raise InputError(f"second_share must be in [0, 1), got {second_share!r}")
    src = np.array([str(c.get("source", "")) for c in cfgs], dtype=object)
    out = np.ones(len(cfgs), dtype=int)
    for fam in sorted({x for x in src if x.endswith("-family")}):
        idx = np.flatnonzero(src == fam)
        k = int(round(second_share * len(idx)))
        if k:
            out[idx[len(idx) - k:]] = 2
    return out


def profile_corpus(cfgs: list[dict[str, Any]], repeats: int = 7, sides: Sequence[str] = DEFAULT_SIDES,
                   second_share: float = 0.0, **kw: Any) -> pd.DataFrame:
    """:func:`profile_kernels` of :func:`corpus_configs`' list, with ``source``,
    ``kernel_name``, ``layers`` and ``last_layer`` joined and ``row`` renamed ``config_id``.

    ``second_share`` > 0 times the corpus in two *sessions* (column ``session``,
    :func:`session_labels`): session 1 first, then session 2's kernels in fresh processes (a
    new TF worker per native side, a new Chromium), so a predictor trained on session 1 can be
    scored on kernels timed at another time by another process
    (:mod:`hybridlib.profiling.ksession`). Each configuration is timed once per side either way:
    the second session costs process start-ups, not kernels."""

    sess = session_labels(cfgs, second_share)
    frames = []
    for s in sorted(set(sess.tolist())):
        idx = np.flatnonzero(sess == s)
        df = profile_kernels([cfgs[i] for i in idx], repeats=repeats, sides=sides, **kw)
        frames.append(df.assign(row=idx[df["row"].to_numpy()], session=s))
    df = pd.concat(frames, ignore_index=True)
    meta = pd.DataFrame(cfgs).reindex(columns=["source", "kernel_name", "layers", "last_layer"])
    return df.drop(columns=[c for c in meta.columns if c in df]).join(meta, on="row").rename(
        columns={"row": "config_id"})


def ensure_kernel_corpus(ctx: Any, refresh: bool = False, per_family: int | None = None,
                         sides: Sequence[str] | None = None) -> pd.DataFrame:
    """The preset's kernel corpus, cached as ``artifacts_dir/kernel_corpus.parquet``.

    :func:`corpus_configs` with ``per_family`` (default ``Preset.kernel_corpus``, else
    ``Preset.predictor_corpus``) random kernels per family, timed on ``sides``.
    ``sides`` defaults to ``Preset.kernel_sides``; ``browser`` is left out with a warning where
    Chromium or the npm assets are missing (as 04's TF.js layer profile is). ``config_id``
    identifies a configuration across sides; ``Preset.kernel_second_session`` > 0 times that
    share of each family's random kernels in a second session (:func:`profile_corpus`). A
    cached corpus lacking one of
    ``sides`` (e.g. ``browser``, added later) gets only that side timed and appended; the
    cache is returned whole (it may hold more sides than asked for).
    """
    path = Path(ctx.artifacts_dir) / "kernel_corpus.parquet"
    sides = tuple(sides or getattr(ctx.preset, "kernel_sides", DEFAULT_SIDES))
    if "browser" in sides:
        if not br.have_chromium() or br.missing_vendor_files():
            warnings.warn("kernel corpus: browser side skipped (Chromium or npm assets missing)", stacklevel=2)
            sides = tuple(s for s in sides if s != "browser")
    n = int(per_family or getattr(ctx.preset, "kernel_corpus", 0) or ctx.preset.predictor_corpus)
    old = pd.read_parquet(path) if path.is_file() and not refresh else None
    share = float(getattr(ctx.preset, "kernel_second_session", 0.0))
    if old is not None and ("ms_adj" not in old or (share > 0 and "session" not in old)):
        log.info("%s predates the drift-corrected target ms_adj or the second timing session; re-timing it", path)
        old = None
    todo = [s for s in sides if old is None or s not in set(old["side"])]
    if not todo:
        return old
    n_old = int(old[old.source.str.endswith("-family")].config_id.nunique() // 2) if old is not None else n
    cfgs = corpus_configs(n_old)
    df = profile_corpus(cfgs, repeats=max(ctx.preset.profile_repeats, 5), sides=todo, second_share=share)
    if old is not None:
        df = pd.concat([old, df], ignore_index=True)
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return df
