"""Partition graphs (§5) from per-layer profiles: the bridge from measurement to decision.

:func:`to_graph` turns a tidy profile table (:mod:`.layers`, :mod:`.tfjs_layers`) into a
:class:`hybridlib.partition.graph.Graph` — layers → nodes with reconciled device/cloud costs
(:mod:`.reconcile`), inbound links → edges; :func:`keras_graph` builds the same graph straight
from a Keras model with given (e.g. predicted) per-layer costs.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from hybridlib.partition.graph import Graph
from hybridlib.profiling.layers import PowerModel, inbound_names
from hybridlib.profiling.reconcile import side_costs
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras


def to_graph(table: pd.DataFrame, model: str | None = None, device: str = "tf-cpu",
             name: str | None = None, input_itemsize: int = 4, cpu_throttle: float | None = None,
             reconciled: bool = True) -> Graph:
    """A §5 partition graph from a tidy profile: layers → nodes, inbound links → edges.

    ``device`` picks the device-side backend rows (``tf-cpu`` or ``tfjs-wasm``) and
    ``cpu_throttle`` the device class they were taken on (TF.js rows; required when the table
    holds several); the cloud side is always TF with all cores. Every layer stays a node
    (identities such as Dropout too: they never change the optimum and keep layer names
    intact). ``input_itemsize`` sets how the input travels: 4 = float32 as the model sees it
    (the §5 example), 1 = the camera's uint8 pixels (scaling to [0, 1] is outside the model,
    see :func:`hybridlib.models.preprocess`).

    ``reconciled`` (default): node costs are the reconciled per-layer costs and each side's
    per-inference fixed cost (:func:`reconcile`) is added to the *first compute layer*'s
    ``device_ms`` (a head pays it iff the device runs any layer) and to the *output layer*'s
    ``cloud_ms`` (a tail pays it iff the cloud runs any layer). Both are exact for
    ``schedule="single"`` plans of graphs whose every layer descends from the first compute
    layer (the study's models); a multi-switch plan would pay the fixed cost once per cloud
    segment and is under-charged. The node's ``meta`` records what was added.
    """
    if input_itemsize not in (1, 2, 4):
        raise InputError(f"input_itemsize must be 1, 2 or 4 bytes, got {input_itemsize!r}")

    t = table if model is None else table[table["model"] == model]
    if t.empty:
        raise InputError(f"no profile rows for model {model!r}")
    dev = t[(t["side"] == "device") & (t["backend"] == device)]
    if "cpu_throttle" in dev:
        rates = dev["cpu_throttle"].fillna(1.0)
        if cpu_throttle is not None:
            dev = dev[rates == float(cpu_throttle)]
        elif rates.nunique() > 1:
            raise InputError(f"profile holds {device} rows at several cpu_throttle rates "
                             f"({sorted(rates.unique())}): pass cpu_throttle")
    elif cpu_throttle not in (None, 1, 1.0):
        dev = dev.iloc[0:0]
    cl = t[t["side"] == "cloud"]
    if dev.empty or cl.empty:
        what = "device (" + device + (f" at cpu_throttle {cpu_throttle:g}" if cpu_throttle else "") + ")"
        raise InputError(f"profile lacks {what if dev.empty else 'cloud'} rows "
                         f"for model {model or t['model'].iloc[0]!r}")
    dev_ms, dev_fixed = side_costs(dev, reconciled)
    cl_ms, cl_fixed = side_costs(cl, reconciled)
    dev = dev.set_index("layer")
    meta_src = cl.sort_values("index").set_index("layer")
    order = list(meta_src.index)
    first_compute, last = order[1] if len(order) > 1 else order[0], order[-1]
    nodes, edges = [], []
    for layer, r in meta_src.iterrows():
        d = dev.loc[layer]
        power = float(d["power_w"]) if "power_w" in dev and np.isfinite(d["power_w"]) else \
            (float(d["energy_mj"]) / float(d["ms"]) if float(d["ms"]) > 0 else PowerModel().active_w)
        dms, cms, meta = dev_ms[layer], cl_ms[layer], {"type": r["type"], "out_shape": list(r["out_shape"])}
        if layer == first_compute and dev_fixed:
            dms += dev_fixed
            meta["fixed_device_ms"] = dev_fixed
        if layer == last and cl_fixed:
            cms += cl_fixed
            meta["fixed_cloud_ms"] = cl_fixed
        nodes.append({"id": layer, "device_ms": dms, "cloud_ms": cms,
                      "out_bytes": float(r["out_bytes"]), "device_mj": dms * power, "meta": meta})
        for src in r["inputs"]:
            edges.append([src, layer])
    nodes[0]["out_bytes"] = nodes[0]["out_bytes"] / 4 * input_itemsize
    consumers = {e[0] for e in edges}
    outs = [n["id"] for n in nodes if n["id"] not in consumers]
    return Graph.from_dict({"nodes": nodes, "edges": edges, "input": order[0], "output": outs[-1],
                            "name": name or str(meta_src["model"].iloc[0])})


def keras_graph(model: tf_keras.Model, device_ms: Mapping[str, float] | None = None,
                cloud_ms: Mapping[str, float] | None = None, power: PowerModel = PowerModel()) -> Graph:
    """A §5 graph straight from a Keras model with given (e.g. predicted) per-layer costs."""
    import tf_keras as keras

    nodes, edges = [], []
    for l in model.layers:
        shape = l.output_shape[0] if isinstance(l.output_shape, list) else l.output_shape
        dms = float((device_ms or {}).get(l.name, 0.0))
        nodes.append({"id": l.name, "device_ms": dms, "cloud_ms": float((cloud_ms or {}).get(l.name, 0.0)),
                      "out_bytes": float(np.prod([d or 1 for d in shape[1:]]) * 4),
                      "device_mj": power.energy_mj(dms), "meta": {"type": type(l).__name__}})
        if not isinstance(l, keras.layers.InputLayer):
            edges += [[src, l.name] for src in inbound_names(l)]
    return Graph.from_dict({"nodes": nodes, "edges": edges, "input": model.layers[0].name,
                            "output": model.layers[-1].name, "name": model.name})
