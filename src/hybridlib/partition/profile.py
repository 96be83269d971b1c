"""Per-layer latency, output size and device energy of a Keras model, on both sides.

Neurosurgeon profiles each layer once on the device and in the cloud, then decides on the
cached costs (DESIGN §11: never re-run the model for every candidate cut). Here:

* **device (TF)** = TensorFlow restricted to one thread (``intra_op = inter_op = 1``), a
  stand-in for a phone's CPU core; **cloud** = TensorFlow with all cores of this machine.
  Thread counts are fixed when TF initialises, so each side runs in its own spawned process.
* **device (TF.js)** = the exported layers model in headless Chromium on the ``wasm`` backend
  (:func:`profile_tfjs`), layer by layer; the backend is recorded with every row.
* Each layer is timed alone on the activations it sees in the real model (one forward pass
  records them), wrapped in a ``tf.function`` so Python overhead is small: ``warmup``
  untimed calls, then the **median** of ``repeats``.
* the fixed cost of a ``tf.function`` call (timed on an identity) is subtracted from each
  layer (``ms``; the raw median is ``ms_raw``), else 50 tiny layers add up to a phantom
  whole-model time several times the real one.
* ``out_bytes`` = float32 size of the layer's output (batch 1).
* **energy**: there is no power meter here. Device energy is a *model*:
  ``device_mj = device_ms × active_w`` with ``active_w`` = 2.0 W by default, the order of a
  mobile SoC's CPU cluster under load (Neurosurgeon measured its Tegra K1 board with a
  Watts Up? meter; ARM Cortex-A15 clusters draw ~1–2.5 W). Radio energy is in the network
  model of :mod:`hybridlib.partition`. Every table says ``energy_source = "model"``.

Results are tidy tables (one row per model × side × layer) that carry their provenance
(backend, threads, repeats, host, versions) and become partition graphs with
:func:`to_graph`.
"""
from __future__ import annotations

import logging
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridlib.utils import InputError, package_versions

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import tf_keras

    from hybridlib.partition.graph import Graph

log = logging.getLogger(__name__)

SIDES = ("device", "cloud")
MODELS = ("emotion_cnn", "alexnet")


@dataclass(frozen=True)
class PowerModel:
    """Device power while computing (W); W·ms = mJ. An assumption, not a measurement."""

    active_w: float = 2.0
    source: str = ("assumed mobile CPU-cluster power under load (no power meter here); "
                   "order of Neurosurgeon's Tegra K1 / ARM Cortex-A15 measurements")

    def energy_mj(self, ms: float) -> float:
        return ms * self.active_w


@dataclass(frozen=True)
class ProfileSpec:
    """What to profile and how: a model builder name or an ``.h5`` path, threads, repeats."""

    model: str
    threads: int
    repeats: int = 5
    warmup: int = 2
    batch: int = 1

    def __post_init__(self) -> None:
        if self.threads < 0:
            raise InputError(f"threads must be ≥ 0 (0 = all cores), got {self.threads}")
        if self.repeats < 1:
            raise InputError(f"repeats must be ≥ 1, got {self.repeats}")
        if self.warmup < 0:
            raise InputError(f"warmup must be ≥ 0, got {self.warmup}")


# ------------------------------------------------------------------------------ workers


def _init_worker(threads: int) -> None:
    """Runs first in a spawned worker: fix TF's thread pools before TF is imported."""
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if threads > 0:
        for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
            os.environ[k] = str(threads)
    import tensorflow as tf

    if threads > 0:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)


def _build(model: str) -> tf_keras.Model:
    from hybridlib import models

    if model == "emotion_cnn":
        return models.emotion_cnn()
    if model == "alexnet":
        return models.alexnet()
    p = Path(model)
    if p.suffix == ".h5":
        from hybridlib.models.artifacts import load_model

        return load_model(p)
    raise InputError(f"unknown model {model!r}: give emotion_cnn, alexnet or a .h5 path")


def _inbound(layer: Any) -> list[str]:
    node = layer._inbound_nodes[0]
    il = node.inbound_layers
    return [l.name for l in (il if isinstance(il, (list, tuple)) else [il])]


def _median_ms(fn: Callable[[], Any], repeats: int, warmup: int) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(ts), ts


def round_robin(fns: Sequence[Callable[[], Any]], repeats: int, warmup: int) -> list[list[float]]:
    """Time each of ``fns`` ``repeats`` times, interleaved: round r times every fn once.

    On a shared machine a burst of foreign load lasts tens of ms; timing one layer's repeats
    back to back lets one burst corrupt all of them (and its median), while interleaving
    spreads the burst over many layers' *different* rounds, where the median discards it.
    """
    for f in fns:
        for _ in range(warmup):
            f()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for i, f in enumerate(fns):
            t0 = time.perf_counter()
            f()
            times[i].append((time.perf_counter() - t0) * 1000.0)
    return times


def time_model_layers(model: tf_keras.Model, repeats: int = 5, warmup: int = 2, batch: int = 1,
                      seed: int = 0) -> list[dict[str, Any]]:
    """Per-layer median latency of ``model`` in this process (its thread settings apply)."""
    import tensorflow as tf
    import tf_keras as keras

    names = [l.name for l in model.layers]
    probe = keras.Model(model.inputs, [l.output for l in model.layers])
    rng = np.random.default_rng(seed)
    shape = (batch, *model.inputs[0].shape[1:])
    x = rng.random(shape, dtype=np.float32)
    acts = dict(zip(names, probe(x, training=False)))
    # the fixed cost of calling a tf.function at all (measured on an identity), subtracted
    # from every layer so that 50 tiny layers do not add up to a phantom 20 ms
    ident = tf.function(lambda a: tf.identity(a))
    fns: list[Callable[[], Any]] = [lambda: ident(x)]
    whole = tf.function(lambda a: model(a, training=False))
    fns.append(lambda: whole(x))
    rows = []
    for i, layer in enumerate(model.layers):
        out_shape = tuple(int(d) for d in acts[layer.name].shape[1:])
        row = {"layer": layer.name, "type": type(layer).__name__, "index": i,
               "inputs": [] if isinstance(layer, keras.layers.InputLayer) else _inbound(layer),
               "out_shape": list(out_shape), "out_bytes": int(np.prod(out_shape)) * 4,
               "params": int(layer.count_params()), "_fn": None}
        if not isinstance(layer, keras.layers.InputLayer):
            args = [acts[n] for n in row["inputs"]]
            arg = args[0] if len(args) == 1 else args
            fn = tf.function(lambda a, _l=layer: _l(a, training=False))
            row["_fn"] = len(fns)
            fns.append(lambda _f=fn, _a=arg: _f(_a))
        rows.append(row)
    times = round_robin(fns, repeats, warmup)
    overhead = statistics.median(times[0])
    model_ms = statistics.median(times[1])
    for row in rows:
        k = row.pop("_fn")
        if k is None:
            row.update(ms=0.0, ms_raw=0.0, ms_min=0.0, ms_all=[0.0])
        else:
            ts = times[k]
            ms = statistics.median(ts)
            row.update(ms=max(ms - overhead, 0.0), ms_raw=ms, ms_min=min(ts), ms_all=ts)
        row["model_ms"] = model_ms
        row["call_overhead_ms"] = overhead
    return rows


def _profile_worker(spec: ProfileSpec) -> list[dict[str, Any]]:
    model = _build(spec.model)
    rows = time_model_layers(model, spec.repeats, spec.warmup, spec.batch)
    for r in rows:
        r["model"] = model.name
    return rows


def run_in_worker(fn: Callable[..., Any], arg: Any, threads: int) -> Any:
    """Run ``fn(arg)`` in a fresh spawned process whose TF uses ``threads`` (0 = all cores)."""
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn"),
                             initializer=_init_worker, initargs=(threads,)) as ex:
        return ex.submit(fn, arg).result()


def _provenance(side: str, backend: str, threads: int, repeats: int, warmup: int) -> dict[str, Any]:
    v = package_versions(("tensorflow", "tf_keras"))
    return {"side": side, "backend": backend, "threads": threads or os.cpu_count(),
            "repeats": repeats, "warmup": warmup, "host": platform.node(),
            "cpu": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "tensorflow": v.get("tensorflow"), "energy_source": "model"}


def profile_model(model: str, repeats: int = 5, warmup: int = 2, sides: Sequence[str] = SIDES,
                  power: PowerModel = PowerModel(), progress: bool = True) -> pd.DataFrame:
    """Tidy per-layer profile of ``model`` (builder name or .h5) on the TF device and cloud sides.

    Columns: model, side, backend, threads, layer, type, index, inputs, out_shape,
    out_bytes, params, ms (median), ms_all, model_ms, energy_mj (device side only), plus
    provenance (repeats, warmup, host, cpu, tensorflow, energy_source).
    """
    import pandas as pd
    from tqdm.auto import tqdm

    for s in sides:
        if s not in SIDES:
            raise InputError(f"unknown side {s!r}; choose from {', '.join(SIDES)}")
    if model not in MODELS and not Path(model).is_file():
        raise InputError(f"model {model!r} is neither {' nor '.join(MODELS)} nor an existing .h5 file")
    frames = []
    for side in tqdm(list(sides), desc=f"profile {Path(model).stem}", disable=not progress):
        threads = 1 if side == "device" else 0
        spec = ProfileSpec(model=str(model), threads=threads, repeats=repeats, warmup=warmup)
        rows = run_in_worker(_profile_worker, spec, threads)
        df = pd.DataFrame(rows)
        for k, v in _provenance(side, "tf-cpu", threads, repeats, warmup).items():
            df[k] = v
        df["energy_mj"] = df["ms"].map(power.energy_mj) if side == "device" else 0.0
        df["power_w"] = power.active_w if side == "device" else 0.0
        frames.append(df)
    return pd.concat(frames, ignore_index=True)


# ------------------------------------------------------------------------------ TF.js

PROFILE_JS = r"""
async ([name, repeats, warmup]) => {
  const model = await tf.loadLayersModel(`/model/${name}/model.json`);
  const layers = model.layers;
  const probe = tf.model({inputs: model.inputs, outputs: layers.map(l => l.output)});
  const shape = model.inputs[0].shape.map(d => d === null ? 1 : d);
  const x = tf.randomUniform(shape);
  const acts = probe.predict(x);
  const byName = {};
  layers.forEach((l, i) => { byName[l.name] = acts[i]; });
  const rows = [];
  for (const l of layers) {
    const inb = l.inboundNodes.length ? l.inboundNodes[0].inboundLayers.map(p => p.name) : [];
    if (l.getClassName() === 'InputLayer' || inb.length === 0) {
      rows.push({layer: l.name, ms: 0, ms_all: [0]}); continue;
    }
    const arg = inb.length === 1 ? byName[inb[0]] : inb.map(n => byName[n]);
    const once = () => { const y = l.apply(arg, {training: false}); y.dataSync(); y.dispose(); };
    // performance.now() is coarsened to 0.1 ms in a non-isolated page: time `inner` calls
    // per sample for layers faster than ~2 ms so the median is not quantised to 0 or 0.1
    const f0 = performance.now(); once(); const first = performance.now() - f0;
    const inner = Math.max(1, Math.min(20, Math.ceil(2 / Math.max(first, 0.05))));
    for (let i = 0; i < warmup; i++) once();
    const ts = [];
    for (let i = 0; i < repeats; i++) {
      const s = performance.now(); for (let j = 0; j < inner; j++) once();
      ts.push((performance.now() - s) / inner);
    }
    const sorted = ts.slice().sort((a, b) => a - b);
    const m = sorted.length % 2 ? sorted[(sorted.length - 1) / 2]
      : (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2;
    rows.push({layer: l.name, ms: m, ms_all: ts});
  }
  const t = []; for (let i = 0; i < warmup + repeats; i++) {
    const s = performance.now(); const y = model.predict(x); y.dataSync(); y.dispose();
    if (i >= warmup) t.push(performance.now() - s); }
  t.sort((a, b) => a - b);
  acts.forEach(a => a.dispose()); x.dispose();
  return {backend: tf.getBackend(), rows, model_ms: t[Math.floor(t.length / 2)]};
}
"""


def profile_tfjs(model: str | tf_keras.Model, repeats: int = 5, warmup: int = 2, backend: str = "wasm",
                 power: PowerModel = PowerModel(), workdir: str | Path | None = None) -> pd.DataFrame:
    """Per-layer latency of ``model`` in TF.js inside headless Chromium (device side).

    Exports the model as an fp32 TF.js layers model (:mod:`hybridlib.export`), loads it in
    the harness page and times ``layer.apply`` + ``dataSync`` per layer (median of
    ``repeats`` after ``warmup``). The backend actually used is recorded in every row.
    """
    import tempfile

    import pandas as pd

    from hybridlib import browser, export

    keras_model = _build(model) if isinstance(model, str) else model
    with tempfile.TemporaryDirectory(prefix="hl-prof-", dir=workdir) as td:
        out = Path(td) / "m"
        export.export_tfjs(keras_model, out)
        with browser.tfjs_session({"m": out}, backend=backend, timeout_s=300) as (page, _url):
            res = page.evaluate(PROFILE_JS, ["m", repeats, warmup])
    df = pd.DataFrame(res["rows"])
    df["model"] = keras_model.name
    df["model_ms"] = res["model_ms"]
    prov = _provenance("device", f"tfjs-{res['backend']}", 1, repeats, warmup)
    prov["chromium"] = browser.chromium_version()
    for k, v in prov.items():
        df[k] = v
    df["energy_mj"] = df["ms"].map(power.energy_mj)
    df["power_w"] = power.active_w
    return df


def _tfjs_worker(args: tuple[str, int, int]) -> pd.DataFrame:
    model, repeats, warmup = args
    return profile_tfjs(model, repeats=repeats, warmup=warmup)


# ------------------------------------------------------------------------------ graphs


def to_graph(table: pd.DataFrame, model: str | None = None, device: str = "tf-cpu",
             name: str | None = None, input_itemsize: int = 4) -> Graph:
    """A §5 partition graph from a tidy profile: layers → nodes, inbound links → edges.

    ``device`` picks the device-side backend rows (``tf-cpu`` or ``tfjs-wasm``); the cloud
    side is always TF with all cores. Every layer stays a node (identities such as Dropout
    too: they never change the optimum and keep layer names intact). ``input_itemsize``
    sets how the input travels: 4 = float32 as the model sees it (the §5 example), 1 =
    the camera's uint8 pixels (scaling to [0, 1] is outside the model, see
    :func:`hybridlib.models.preprocess`).
    """
    if input_itemsize not in (1, 2, 4):
        raise InputError(f"input_itemsize must be 1, 2 or 4 bytes, got {input_itemsize!r}")
    from hybridlib.partition.graph import Graph

    t = table if model is None else table[table["model"] == model]
    if t.empty:
        raise InputError(f"no profile rows for model {model!r}")
    dev = t[(t["side"] == "device") & (t["backend"] == device)]
    cl = t[t["side"] == "cloud"]
    if dev.empty or cl.empty:
        raise InputError(f"profile lacks {'device (' + device + ')' if dev.empty else 'cloud'} rows "
                         f"for model {model or t['model'].iloc[0]!r}")
    dev = dev.set_index("layer")
    cl = cl.set_index("layer")
    nodes, edges = [], []
    meta_src = cl.sort_values("index")
    for layer, r in meta_src.iterrows():
        d = dev.loc[layer]
        nodes.append({"id": layer, "device_ms": float(d["ms"]), "cloud_ms": float(r["ms"]),
                      "out_bytes": float(r["out_bytes"]), "device_mj": float(d["energy_mj"]),
                      "meta": {"type": r["type"], "out_shape": list(r["out_shape"])}})
        for src in r["inputs"]:
            edges.append([src, layer])
    first = meta_src.index[0]
    nodes[0]["out_bytes"] = nodes[0]["out_bytes"] / 4 * input_itemsize
    consumers = {e[0] for e in edges}
    outs = [n["id"] for n in nodes if n["id"] not in consumers]
    return Graph.from_dict({"nodes": nodes, "edges": edges, "input": first, "output": outs[-1],
                            "name": name or str(meta_src["model"].iloc[0])})


def keras_graph(model: tf_keras.Model, device_ms: Mapping[str, float] | None = None,
                cloud_ms: Mapping[str, float] | None = None, power: PowerModel = PowerModel()) -> Graph:
    """A §5 graph straight from a Keras model with given (e.g. predicted) per-layer costs."""
    import tf_keras as keras

    from hybridlib.partition.graph import Graph

    nodes, edges = [], []
    for l in model.layers:
        shape = l.output_shape[0] if isinstance(l.output_shape, list) else l.output_shape
        dms = float((device_ms or {}).get(l.name, 0.0))
        nodes.append({"id": l.name, "device_ms": dms, "cloud_ms": float((cloud_ms or {}).get(l.name, 0.0)),
                      "out_bytes": float(np.prod([d or 1 for d in shape[1:]]) * 4),
                      "device_mj": power.energy_mj(dms), "meta": {"type": type(l).__name__}})
        if not isinstance(l, keras.layers.InputLayer):
            edges += [[src, l.name] for src in _inbound(l)]
    return Graph.from_dict({"nodes": nodes, "edges": edges, "input": model.layers[0].name,
                            "output": model.layers[-1].name, "name": model.name})


def save_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a tidy table as parquet (lists kept) atomically; csv next to it for humans."""
    from hybridlib.utils import atomic_path

    path = Path(path)
    with atomic_path(path.with_suffix(".parquet")) as tmp:
        df.to_parquet(tmp, index=False)
    flat = df.copy()
    for c in flat.columns:
        if flat[c].map(lambda v: isinstance(v, (list, tuple, np.ndarray))).any():
            flat[c] = flat[c].map(lambda v: " ".join(map(str, v)) if isinstance(v, (list, tuple, np.ndarray)) else v)
    with atomic_path(path.with_suffix(".csv")) as tmp:
        flat.to_csv(tmp, index=False)
    return path.with_suffix(".parquet")


def load_table(path: str | Path) -> pd.DataFrame:
    import pandas as pd

    p = Path(path).with_suffix(".parquet")
    if not p.is_file():
        raise InputError(f"profile table {p} does not exist (run `hybridlib profile`)")
    df = pd.read_parquet(p)
    for c in ("inputs", "out_shape", "ms_all"):
        if c in df:
            df[c] = df[c].map(lambda v: list(v) if v is not None else [])
    return df


def spec_dict(spec: ProfileSpec) -> dict[str, Any]:
    return asdict(spec)


# ------------------------------------------------------------------------------ study helpers


def model_source(ctx: Any, model: str) -> str:
    """What to profile for ``model``: the trained emotion CNN if 01_train left a valid one,
    else a freshly initialised one (latency does not depend on the weights' values)."""
    if model != "emotion_cnn":
        return model
    try:
        from hybridlib.models import artifacts as train  # save/load moved to models.artifacts

        path = train.default_model_path(ctx)
        if train.is_valid(path, ctx.data_label):
            return str(path)
    except Exception as e:  # noqa: BLE001 - fall back to the builder, say why
        log.info("trained emotion CNN unavailable (%s); profiling fresh weights", e)
    return "emotion_cnn"


def ensure_profile(ctx: Any, model: str, browser: bool = False, refresh: bool = False,
                   progress: bool = True) -> pd.DataFrame:
    """The cached tidy profile of ``model`` for ``ctx``'s preset (``artifacts_dir``), made if missing.

    TF device and cloud rows always; TF.js (Chromium, wasm) device rows too when ``browser``
    is true and Chromium + the npm assets are there (otherwise logged and skipped).
    """
    import pandas as pd

    path = Path(ctx.artifacts_dir) / f"profile_{model}.parquet"
    df = None
    if path.is_file() and not refresh:
        df = load_table(path)
        if not browser or df["backend"].str.startswith("tfjs").any():
            return df
    reps = ctx.preset.profile_repeats
    if df is None:
        df = profile_model(model_source(ctx, model), repeats=reps, warmup=2, progress=progress)
        df["model"] = model
    if browser:
        try:
            from hybridlib import browser as br

            if br.have_chromium() and not br.missing_vendor_files():
                # own process: Playwright's sync API refuses to run inside a notebook's event loop
                js = run_in_worker(_tfjs_worker, (model_source(ctx, model), reps, 2), 0)
                js["model"] = model
                meta = df[df["side"] == "cloud"].set_index("layer")
                for c in ("type", "index", "inputs", "out_shape", "out_bytes", "params"):
                    js[c] = js["layer"].map(meta[c])
                js["side"] = "device"
                df = pd.concat([df, js], ignore_index=True)
            else:
                warnings.warn("TF.js profiling skipped: Chromium or npm assets missing", stacklevel=2)
        except Exception as e:  # noqa: BLE001 - the TF sides stand on their own; say so loudly
            warnings.warn(f"TF.js profiling failed ({type(e).__name__}: {e}); TF sides only", stacklevel=2)
    save_table(df, path)
    return df


def plot_layers(df: pd.DataFrame, model: str, title: str = "") -> Any:
    """Neurosurgeon's per-layer figure: latency per layer on each side (bars) and output size."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    t = df[df["model"] == model].copy()
    t["where"] = t["side"] + " (" + t["backend"] + ")"
    order = t[t["side"] == "cloud"].sort_values("index")["layer"].tolist()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(8, 0.22 * len(order) + 3), 7), sharex=True)
    sns.barplot(data=t, x="layer", y="ms", hue="where", order=order, ax=a1)
    a1.set_ylabel("latency per layer (ms, median)")
    a1.set_xlabel("")
    a1.set_title(title or f"{model}: per-layer latency and output size")
    sizes = t[t["side"] == "cloud"].set_index("layer").loc[order, "out_bytes"] / 1024
    a2.bar(range(len(order)), sizes.to_numpy(), color="0.5")
    a2.set_ylabel("output size (KiB, float32)")
    a2.set_xticks(range(len(order)))
    a2.set_xticklabels(order, rotation=90, fontsize=7)
    fig.tight_layout()
    return fig
