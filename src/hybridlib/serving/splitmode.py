"""The app's split mode: the page runs the head of the CNN, the server the tail, at a cut the
partition engine picks for the link the page measured (docs/ARCHITECTURE.md, Serving contract).

Routes added to :func:`hybridlib.serving.app.make_app` in ``mode="split"``:

* ``POST /probe/upload``, ``GET /probe/download?bytes=N`` — the link probes of
  :func:`hybridlib.serving.probe.add_probe_routes` (the page times them);
* ``POST /plan`` — body ``{"uplink_mbps", "downlink_mbps", "rtt_ms"[, "device_model_ms"]}``
  → ``{"cut", "kind", "predicted": {head_ms, upload_ms, tail_ms, download_ms, total_ms}, "cuts",
  "wire": {"dtype", "codec"}}`` — the page encodes the cut tensor as ``wire`` says
  from :func:`plan_cut` (``solve(schedule="single")``) on this server's profiled graph;
* ``GET /head/<layer>/<file>`` — the TF.js head of that cut, exported once on first request
  (:func:`hybridlib.export.split_assets.ensure_head`); ``output`` = the whole model;
* ``GET /split-counts`` — ``{layer: n}`` of answered ``/split`` requests (which cut the page uses);
* ``GET /load`` — the load factor the planner uses (:class:`hybridlib.serving.load_signal.LoadSignal`:
  median recent tail ms over the profiled idle tail ms); ``POST /plan?planner=static`` plans as
  if the server were idle (the baseline), the default ``load-aware`` multiplies the server's
  costs by that factor and says so in the answer's ``load``.

Why a measured profile and a measured device speed: the cut depends on the ratio of device to
cloud compute, so the server takes its per-layer costs from the cached profile when it is of the
served architecture, else times its own layers once (native TF, a few repeats: cheap for the
emotion CNN), and the page reports how long the whole model takes in it (``device_model_ms``);
device per-layer costs are the cloud's scaled to that sum (same layer shares on both sides —
an approximation, stated in the answer as ``device_costs``).
"""
from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from aiohttp import web

from hybridlib import models
from hybridlib.export import split_assets
from hybridlib.partition import DEVICE, Network, chain_graph, solve
from hybridlib.partition.cost import check_load
from hybridlib.partition.graph import Graph
from hybridlib.profiling.layers import time_model_layers
from hybridlib.profiling.reconcile import side_costs
from hybridlib.profiling.tables import load_table
from hybridlib.serving.http import json_error, safe_file
from hybridlib.serving.load_signal import LOAD_MARGIN, LoadAwarePlanner, LoadSignal
from hybridlib.serving.probe import add_probe_routes
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

#: link fields /plan needs, each a finite number (rates > 0, rtt ≥ 0)
LINK_FIELDS = ("uplink_mbps", "downlink_mbps", "rtt_ms")
OPTIONAL_FIELDS = ("device_model_ms",)
#: the largest value each field may take: a link faster than 1 Tbit/s, a round trip over a minute or a
#: model taking over 1,000 s is a malformed body, not a measurement
FIELD_MAX = {"uplink_mbps": 1e6, "downlink_mbps": 1e6, "rtt_ms": 60_000.0, "device_model_ms": 1e6}
#: re-plan when a measured link figure moves by more than this fraction (the page applies it)
REPLAN_MARGIN = 0.25
#: ``POST /plan?planner=…``: Neurosurgeon's load-aware choice (default) or the load-blind baseline
PLANNERS = ("load-aware", "static")
#: how the page may encode the cut tensor (the /split wire: dtype, optional lossless zlib);
#: the server's operator picks one (``serve --split-wire``), /plan plans with it and tells the page
WIRES = ("float32", "float32+zlib", "uint8", "uint8+zlib")
_ITEMSIZE = {"float32": 4, "uint8": 1}


def parse_wire(wire: str) -> dict[str, str]:
    """``"uint8+zlib"`` → ``{"name", "dtype": "uint8", "codec": "zlib"}``; InputError naming the
    choices otherwise. uint8 is lossy (affine per tensor, ≤ 1/255 of the range); zlib is not."""
    if wire not in WIRES:
        raise InputError(f"split wire must be one of {', '.join(WIRES)}; got {wire!r}")
    dtype, _, codec = wire.partition("+")
    return {"name": wire, "dtype": dtype, "codec": codec or "none"}


def check_plan_body(body: Any) -> dict[str, float]:
    """The /plan body as floats, or :class:`InputError` naming the bad field."""
    if not isinstance(body, Mapping):
        raise InputError("body must be a JSON object with uplink_mbps, downlink_mbps, rtt_ms")
    unknown = sorted(set(body) - set(LINK_FIELDS) - set(OPTIONAL_FIELDS))
    if unknown:
        raise InputError(f"unknown field(s): {', '.join(unknown)}")
    out: dict[str, float] = {}
    for f in LINK_FIELDS + OPTIONAL_FIELDS:
        if f not in body:
            if f in LINK_FIELDS:
                raise InputError(f"{f} is missing")
            continue
        v = body[f]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise InputError(f"{f} must be a finite number, got {v!r}")
        if f == "rtt_ms" and v < 0 or f != "rtt_ms" and v <= 0:
            raise InputError(f"{f} must be {'≥ 0' if f == 'rtt_ms' else '> 0'}, got {v!r}")
        if v > FIELD_MAX[f]:
            raise InputError(f"{f} must be ≤ {FIELD_MAX[f]:g}, got {v!r}")
        out[f] = float(v)
    return out


def profile_graph(layers: list[dict[str, Any]], device_model_ms: float | None = None) -> Graph:
    """A chain graph from per-layer rows ``{layer, ms, out_bytes}`` (cloud = the server's
    measured ms); device ms = cloud ms scaled so their sum is ``device_model_ms`` (same as the
    cloud when None)."""
    total = sum(float(r["ms"]) for r in layers)
    k = (device_model_ms / total) if device_model_ms and total > 0 else 1.0
    return chain_graph([{"id": r["layer"], "device_ms": float(r["ms"]) * k, "cloud_ms": float(r["ms"]),
                         "out_bytes": float(r["out_bytes"])} for r in layers], name="served")


def plan_cut(layers: list[dict[str, Any]], body: Any, wire: str = "float32", load: float = 1.0) -> dict[str, Any]:
    """The single cut minimising predicted latency for the measured link (pure; no I/O).

    ``layers``: the served model's chain, input first, ``{layer, ms, out_bytes}`` (float32
    bytes). ``wire``: how the page encodes the shipped tensor (:data:`WIRES`): the upload is
    planned at that dtype's size; zlib's ratio depends on the tensor and is not modelled (the
    prediction is the uncompressed size: an upper bound). Returns the cut layer (the last layer
    on the device: the input = cloud-only, the output = device-only), the predicted per-stage
    ms from the cost model and ``wire`` (``{"name", "dtype", "codec"}``) for the page to use.
    ``load`` multiplies the server's per-layer ms (1 = idle; Neurosurgeon's server load).
    """
    link = check_plan_body(body)
    w = parse_wire(wire)
    k = _ITEMSIZE[w["dtype"]] / 4.0  # every tensor that can go up; the answer (last) comes back as JSON
    layers = [{**r, "out_bytes": float(r["out_bytes"]) * (k if i < len(layers) - 1 else 1.0)}
              for i, r in enumerate(layers)]
    g = profile_graph(layers, link.get("device_model_ms"))
    net = Network(uplink_mbps=link["uplink_mbps"], downlink_mbps=link["downlink_mbps"],
                  rtt_ms=link["rtt_ms"], name="measured")
    load = check_load(load)  # the engine's own check: a bad load is named before any solving
    plan = solve(g, net, objective="latency", schedule="single", load=load)
    order = [r["layer"] for r in layers]
    dev = [n for n in order if plan.placement[n] == DEVICE]
    cut = dev[-1]
    i = order.index(cut)
    nodes = {n.id: n for n in g.nodes}
    head = sum(nodes[n].device_ms for n in order[: i + 1])
    tail = sum(nodes[n].cloud_ms for n in order[i + 1:]) * load
    last = i == len(order) - 1
    up = 0.0 if last else net.up_ms(nodes[cut].out_bytes)
    down = 0.0 if last else net.down_ms(nodes[order[-1]].out_bytes)
    kind = "device-only" if last else "cloud-only" if i == 0 else "split"
    return {"cut": cut, "kind": kind, "link": link, "latency_ms": plan.latency_ms,
            "predicted": {"head_ms": head, "upload_ms": up, "tail_ms": tail, "download_ms": down,
                          "total_ms": head + up + tail + down},
            "cuts": order, "device_costs": "cloud per-layer ms scaled to device_model_ms", "wire": w,
            "up_bytes": 0.0 if last else nodes[cut].out_bytes}


def tail_ms_by_cut(layers: list[dict[str, Any]]) -> dict[str, float]:
    """Idle cloud ms of the tail after each cut of the collapsed chain (what ``/split`` at that
    cut should take on an idle server): the load signal's denominator."""
    out, acc = {}, 0.0
    for r in reversed(layers):
        out[r["layer"]] = acc
        acc += float(r["ms"])
    return out


def collapse_to_cuts(rows: list[dict[str, Any]], cut_points: list[str]) -> list[dict[str, Any]]:
    """The model's layers (execution order) as a chain of its single-tensor cut points.

    ``/split`` takes one tensor, so only cuts where one tensor crosses (plus the input =
    cloud-only and the output = device-only) can run; each chain node carries the summed ms of
    the layers between the previous cut point and it, and the cut point's output size. Over
    this chain, ``solve(schedule="single")`` is exact among the runnable cuts (a DAG solve
    could pick a cut inside a residual block that ``/split`` cannot carry).
    """
    points = set(cut_points) | {rows[0]["layer"], rows[-1]["layer"]}
    out, acc = [], 0.0
    for r in rows:
        acc += float(r["ms"])
        if r["layer"] in points:
            out.append({"layer": r["layer"], "ms": acc, "out_bytes": float(r["out_bytes"])})
            acc = 0.0
    return out


# ----------------------------------------------------------------------------- server side


def rows_from_profile(table: Any, names: list[str]) -> list[dict[str, Any]] | None:
    """``{layer, ms, out_bytes}`` in ``names`` order from a tidy profile's cloud rows
    (:func:`hybridlib.profiling.reconcile.side_costs`, reconciled; the per-inference fixed cost
    goes on the output layer, which the tail runs iff the cloud runs anything), or None when
    the profile is of another architecture (its layer names differ)."""

    cl = table[table["side"] == "cloud"] if "side" in table else table
    if "model" in cl and cl["model"].nunique() > 1:
        return None
    if sorted(map(str, cl["layer"])) != sorted(names):
        return None
    ms, fixed = side_costs(cl)
    ob = {str(k): float(v) for k, v in zip(cl["layer"], cl["out_bytes"])}
    rows = [{"layer": n, "ms": ms[n], "out_bytes": ob[n]} for n in names]
    rows[-1]["ms"] += fixed
    return rows


def _served_rows(model: Any, profile_path: Path | None) -> list[dict[str, Any]]:
    """The served model's per-layer cloud ms: the cached profile when it matches the
    architecture (latency does not depend on weight values), else a quick native-TF profile
    in this process (5 repeats; a second or two for the emotion CNN)."""

    names = [l.name for l in model.layers]
    if profile_path is not None and Path(profile_path).is_file():
        rows = rows_from_profile(load_table(profile_path), names)
        if rows is not None:
            log.info("split mode: layer costs from the cached profile %s", profile_path)
            return rows
        log.info("split mode: cached profile %s is of another model; profiling the served one", profile_path)
    df = pd.DataFrame(time_model_layers(model, repeats=5, warmup=2))
    df["side"] = "cloud"
    rows = rows_from_profile(df, names)
    assert rows is not None  # same model, same names
    return rows


def setup_split(app: web.Application, heads_dir: str | Path | None = None,
                profile_path: str | Path | None = None, wire: str = "float32") -> None:
    """Add the split-mode routes (module doc) to ``app`` (needs ``model_path``).

    ``profile_path``: a cached tidy profile (``profile_<model>.parquet``) used when its layers
    are the served model's; ``heads_dir``: where the TF.js heads are exported (cached);
    ``wire``: the cut tensor's encoding every plan carries (:data:`WIRES`)."""

    if app["model_path"] is None:
        raise InputError("split mode needs --model PATH.h5 (the tails run on the server)")
    parse_wire(wire)
    app["split_wire"] = wire
    add_probe_routes(app)
    hd = Path(heads_dir) if heads_dir else split_assets.cache_root() / "heads"
    app["split_heads_dir"] = hd
    lock = threading.Lock()
    cache: dict[str, Any] = {}
    signal = LoadSignal()
    app["split_load_signal"] = signal
    app.setdefault("split_observers", []).append(signal.observe)
    planners = {"load-aware": LoadAwarePlanner(plan_cut, signal.factor),
                "static": LoadAwarePlanner(plan_cut, signal.factor, aware=False)}

    def layers() -> list[dict[str, Any]]:
        with lock:
            if "layers" not in cache:
                m = app["tail_runner"].model()
                cache["layers"] = collapse_to_cuts(_served_rows(m, Path(profile_path) if profile_path else None),
                                                   models.chain_cut_points(m))
                signal.set_profile(tail_ms_by_cut(cache["layers"]))
            return cache["layers"]

    async def plan_handler(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError, ValueError):
            raise InputError("body must be JSON: {uplink_mbps, downlink_mbps, rtt_ms}") from None
        check_plan_body(body)  # 400 before any profiling
        planner = request.query.get("planner", "load-aware")
        if planner not in PLANNERS:
            raise InputError(f"planner must be one of {', '.join(PLANNERS)}; got {planner!r}")
        # once profiled, the chain is read without the one-thread tail executor: a /plan queued
        # behind every waiting tail would answer late exactly when the load it plans for is high
        rows = cache.get("layers")
        if rows is None:
            rows = await asyncio.get_running_loop().run_in_executor(app["executor"], layers)
        return web.json_response(planners[planner].plan(rows, body, app["split_wire"]))

    async def load_handler(request: web.Request) -> web.Response:
        return web.json_response({**signal.snapshot(), "margin": LOAD_MARGIN})

    def export_head(layer: str) -> Path:
        with lock:
            if layer in cache.get("heads", {}):
                return cache["heads"][layer]
        m = app["tail_runner"].model()
        if layer == "output":  # alias: the whole model (device-only), what the page times first
            layer = m.layers[-1].name
        if layer not in [l.name for l in m.layers]:
            raise InputError(f"cut {layer!r} is not a layer of {m.name}")
        cut = split_assets.resolve_cuts(m, [layer])[0]
        if cut.mode == "cloud":
            raise InputError(f"cut {layer!r} is the input: cloud-only has no head")
        info = split_assets.ensure_head(m, Path(app["model_path"]), cut, hd)
        with lock:
            cache.setdefault("heads", {})[layer] = Path(info["dir"])
        return Path(info["dir"])

    async def head_file(request: web.Request) -> web.StreamResponse:
        layer, name = request.match_info["layer"], request.match_info["name"]
        d = await asyncio.get_running_loop().run_in_executor(app["executor"], export_head, layer)
        p = safe_file(d, name)
        if p is None or name == "manifest.json":
            raise json_error(404, f"no head file {name!r} for cut {layer!r}")
        return web.FileResponse(p, headers={"Cache-Control": "no-store"})

    async def split_counts(request: web.Request) -> web.Response:
        return web.json_response(dict(app["stats"]["split_layers"]))

    app.router.add_post("/plan", plan_handler)
    app.router.add_get("/load", load_handler)
    app.router.add_get("/head/{layer}/{name}", head_file)
    app.router.add_get("/split-counts", split_counts)
