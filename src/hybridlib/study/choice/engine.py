"""The engine's side: profiles per (network, device class), an unscored calibration probe, the picks.

* **Profiles** (what Neurosurgeon stores on the phone, taken in advance): the device side is
  TF.js in a Chromium page throttled to the class (:mod:`hybridlib.study.split.profiles`), the
  cloud side this machine's native TF on all cores — for the emotion CNN and AlexNet 04's cached
  profile, for the other networks timed here, in this process (no worker start-up).
* **Calibration probe** (:func:`probe_server`): a *separate* server session per (network,
  load), before the scored execution, timing the whole model on the server (``/split/<input>``)
  with a **held-out input** (seed :data:`PROBE_SEED`; the scored run uses seed 0). Its rows are
  never scored; :func:`check_disjoint` says so for every run.
* **Two engines**: *uncalibrated* (profiles only: cloud factor 1 at every load, load-blind)
  — the headline — and *probe-calibrated* (cloud compute × the probe's server ms ÷ the profiled
  cloud ms, per network and load: Neurosurgeon's load factor, measured out of sample).
* **Offload overhead** (:mod:`hybridlib.study.choice.overhead`): the page-side cost of one
  offload round trip per device class (pooled over the networks), profiled before the scored run on the
  held-out input over an unshaped link; both engines price it on every cut that offloads
  (unpriced, the low-end class picked cloud-only where device-only was 3–6× faster).
* **Picks**: the latency objective (:func:`hybridlib.partition.solve`, one cut) and the energy
  objective as a *model* (assumed device and radio powers — "modelled: no power meter"; the
  page overhead is CPU time, not radio time, so the energy pick uses the link alone).
"""
from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from hybridlib import browser, partition
from hybridlib.export import split_assets
from hybridlib.profiling import layers, tables
from hybridlib.study.choice.overhead import Overhead
from hybridlib.study.split import predict, profiles
from hybridlib.study.split import server as split_server
from hybridlib.utils import InputError

PROBE_SEED = 1
ENGINES = ("uncalibrated", "calibrated")
ENERGY_LABEL = "modelled: no power meter"
CaseKey = tuple[str, str, str, str]  # model, device, network, load


def ensure_cloud_profile(ctx: Any, model: str, repeats: int = 5, warmup: int = 2) -> pd.DataFrame:
    """The cloud-side (native TF, all cores) per-layer profile of ``model``, cached where
    :func:`hybridlib.profiling.tables.ensure_profile` keeps it (``profile_<model>.parquet``)."""
    path = Path(ctx.artifacts_dir) / f"profile_{model}.parquet"
    if path.is_file():
        return tables.load_table(path)
    if model in layers.MODELS:
        return tables.ensure_profile(ctx, model, progress=False)
    km = split_assets.load_h5(split_assets.model_h5(model, ctx))
    df = pd.DataFrame(layers.time_model_layers(km, repeats, warmup))
    for k, v in layers.provenance("cloud", "tf-cpu", 0, repeats, warmup).items():
        df[k] = v
    df["model"], df["energy_mj"], df["power_w"] = model, 0.0, 0.0
    tables.save_table(df, path)
    return df


def profile_graphs(ctx: Any, pairs: Iterable[tuple[str, str]], repeats: int = 5) -> dict[tuple[str, str], Any]:
    """The engine's graph per (model, device class): cached TF.js profile on that class + cloud profile."""
    out = {}
    for m, d in pairs:
        ensure_cloud_profile(ctx, m, repeats)
        profiles.ensure_device_profile(ctx, m, d, repeats=repeats)
        out[(m, d)] = profiles.device_graph(ctx, m, d)
    return out


def cloud_ms(graph: Any) -> float:
    """The profiled whole-model cloud time the engine charges (Σ nodes' ``cloud_ms``)."""
    return float(sum(n.cloud_ms for n in partition.as_graph(graph).nodes))


def probe_server(ctx: Any, model: str, load: str, reps: int = 5, seed: int = PROBE_SEED,
                 load_users: int = 2) -> pd.DataFrame:
    """The calibration probe: its own server session (and background users when ``loaded``),
    ``reps`` whole-model ``/split/<input>`` calls on the held-out input after one untimed call.
    One row per rep: ``role`` probe, ``run_id``, ``model``, ``load``, ``input_seed``, ``rep``, ``server_ms``."""
    return browser.run_sync(_probe, ctx, model, load, reps, seed, load_users)


def _probe(ctx: Any, model: str, load: str, reps: int, seed: int, load_users: int) -> pd.DataFrame:
    h5 = split_assets.model_h5(model, ctx)
    km = split_assets.load_h5(h5)
    x = split_assets.example_input(tuple(int(d) for d in km.input_shape[1:]), seed)
    layer = km.layers[0].name
    cloud = split_assets.model_h5("emotion_cnn", ctx) if load == "loaded" else None
    with split_server.split_server(h5, split_assets.cache_root(ctx) / "heads", load=load, cloud_model=cloud,
                                   model=km) as (url, _app):
        bg = split_server.BackgroundLoad(url, users=load_users) if load == "loaded" else None
        try:
            if bg is not None:
                bg.ensure()
            ms = split_server.probe_tail_ms(url, layer, x, reps)["ms_all"]
        finally:
            if bg is not None:
                bg.stop()
    return pd.DataFrame({"role": "probe", "run_id": f"probe:{model}:{load}", "model": model, "load": load,
                         "input_seed": seed, "cut": "input", "rep": range(len(ms)), "server_ms": ms})


@dataclass
class Calibration:
    """The probe rows and the factors taken from them alone (per (model, load))."""

    rows: pd.DataFrame
    factors: dict[tuple[str, str], float]


def calibrate(rows: pd.DataFrame, graphs: Mapping[tuple[str, str], Any]) -> Calibration:
    """Per (model, load): median probe ``server_ms`` ÷ the profiled cloud whole-model ms. Reads
    only ``rows`` with ``role == "probe"`` (never an executed, scored record)."""
    if rows.empty or set(rows["role"]) != {"probe"}:
        raise InputError("calibrate: give the probe's rows only (role == 'probe')")
    cloud = {m: cloud_ms(g) for (m, _d), g in graphs.items()}
    factors = {}
    for (m, load), r in rows.groupby(["model", "load"], sort=False):
        if cloud.get(m, 0) <= 0:
            raise InputError(f"calibrate: no profiled cloud time for {m}")
        factors[(m, load)] = statistics.median(r["server_ms"]) / cloud[m]
    return Calibration(rows, factors)


def check_disjoint(cal: Calibration, records: pd.DataFrame, overhead: pd.DataFrame | None = None) -> dict[str, Any]:
    """Raise unless the calibration rows (and the offload-overhead profile's rows, when given)
    and the scored records share no run and no input; returns the evidence (run ids and input
    seeds on each side) for the result file."""
    rec_runs, rec_seeds = set(records["run_id"]), set(records["input_seed"])
    extra = {}
    for name, rows in (("calibration", cal.rows), ("overhead", overhead)):
        if rows is None or rows.empty:
            continue
        runs, seeds = set(rows["run_id"]), set(rows["input_seed"])
        if runs & rec_runs or seeds & rec_seeds:
            raise InputError(f"{name} and scored rows overlap: runs {sorted(runs & rec_runs)}, "
                             f"input seeds {sorted(seeds & rec_seeds)}")
        if name == "overhead":
            extra = {"overhead_rows": len(rows), "overhead_runs": sorted(runs),
                     "overhead_input_seeds": sorted(map(int, seeds))}
    cal_runs, cal_seeds = set(cal.rows["run_id"]), set(cal.rows["input_seed"])
    return extra | {"calibration_rows": len(cal.rows), "scored_rows": len(records),
            "calibration_runs": sorted(cal_runs), "scored_runs": sorted(rec_runs),
            "calibration_input_seeds": sorted(map(int, cal_seeds)), "scored_input_seeds": sorted(map(int, rec_seeds)),
            "disjoint": True}


def factor(engine: str, model: str, load: str, factors: Mapping[tuple[str, str], float] | None) -> float:
    """The cloud factor ``engine`` uses: 1 uncalibrated (profiles only), the probe's when calibrated."""
    if engine == "uncalibrated":
        return 1.0
    if not factors or (model, load) not in factors:
        raise InputError(f"no calibration for {model} at load {load}")
    return float(factors[(model, load)])


def picks(graphs: Mapping[tuple[str, str], Any], cases: Sequence[CaseKey],
          factors: Mapping[tuple[str, str], float] | None = None,
          engines: Sequence[str] = ENGINES, overhead: Overhead | None = None) -> pd.DataFrame:
    """Per case × engine: the latency pick (the offload overhead priced, :class:`Overhead`) and
    the (modelled) energy pick (link only), with the factor used."""
    ov = overhead or Overhead()
    rows = []
    for m, d, net, load in cases:
        g = graphs[(m, d)]
        for eng in engines:
            f = factor(eng, m, load, factors)
            lat = predict.predict_cuts(g, ov.network(net, d, m), load=f)
            en = partition.solve(g, net, objective="energy", schedule="single", load=f)
            rows.append({"model": m, "device": d, "network": net, "load": load, "engine": eng, "factor": f,
                         "latency_pick": lat.attrs["chosen"], "predicted_ms": float(lat.attrs["chosen_ms"]),
                         "energy_pick": predict.plan_cut(en, g), "energy_source": ENERGY_LABEL,
                         "overhead_fixed_ms": ov.offload_ms(d, m)})
    return pd.DataFrame(rows)


def predictions(graphs: Mapping[tuple[str, str], Any], cases: Sequence[CaseKey], cuts: Mapping[str, Sequence[str]],
                engine: str, factors: Mapping[tuple[str, str], float] | None = None,
                overhead: Overhead | None = None) -> pd.DataFrame:
    """The engine's prediction of every executed cut, per case, for ``engine`` (the columns of
    :func:`hybridlib.study.split.predict.predict_case`), the offload overhead priced as in :func:`picks`."""
    ov = overhead or Overhead()
    frames = []
    for m, d, net, load in cases:
        f = factor(engine, m, load, factors)
        df = predict.predict_cuts(graphs[(m, d)], ov.network(net, d, m), load=f, cuts=list(cuts[m]))
        frames.append(df.assign(model=m, device=d, network=net, load=load, load_factor=f,
                                engine_choice=df.attrs["chosen"]))
    return pd.concat(frames, ignore_index=True).assign(engine=engine)
