"""What a lightweight phone needs to know about the served model: its cut points, the head
time of each cut on a device class, and the wire body of each cut's tensor (computed once).

Why the head is a wait, not a computation: the server's load depends only on which tensors
arrive, at which cut and at what rate — not on how the phone produced them. A head that
sleeps for its device-class time therefore loads the server exactly as a real phone sending
the same tensor at the same moment would, while leaving the 2 shared cores to the server
(real phones bring their own CPUs; simulating many of them here would steal the server's).

Head ms on a device class = that class's whole-model ms × the share of the served model's
cloud per-layer profile up to the cut (the same layer shares the server's ``/plan`` assumes,
so the planner's predictions and the simulated phones agree). The whole-model ms is
*measured* for the ``phone`` class when this preset has a TF.js profile of the model in a
4×-throttled Chromium page (notebook 04), other classes scaled by their DevTools throttle
ratio; without one it is *modelled* as the cloud's ms × the class's throttle (said in
``device_source``).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hybridlib import export, models, wire
from hybridlib.export import split_assets
from hybridlib.profiling import devices
from hybridlib.profiling.layers import time_model_layers
from hybridlib.profiling.tables import load_table
from hybridlib.serving.splitmode import collapse_to_cuts, parse_wire, rows_from_profile

log = logging.getLogger(__name__)


@dataclass
class CutTable:
    """The served model's runnable cuts (input first = cloud-only, output last = device-only)."""

    model: str
    cuts: list[str]
    cloud_ms: list[float]  # per chain node: ms of the layers up to it since the previous cut point
    out_bytes: list[float]  # float32 bytes of each cut's tensor
    device_model_ms: dict[str, float]  # whole model on each device class
    device_source: str
    wire: dict[str, str]
    bodies: dict[str, tuple[bytes, dict[str, str]]] = field(default_factory=dict, repr=False)
    fixed_cut: str = ""

    @property
    def cloud_only(self) -> str:
        return self.cuts[0]

    @property
    def device_only(self) -> str:
        return self.cuts[-1]

    def share(self, cut: str) -> float:
        """Fraction of the model's cloud ms up to and including ``cut``."""
        i = self.cuts.index(cut)
        total = sum(self.cloud_ms)
        return sum(self.cloud_ms[: i + 1]) / total if total > 0 else float(i == len(self.cuts) - 1)

    def head_ms(self, cut: str, device: str) -> float:
        return self.device_model_ms[device] * self.share(cut)

    def rows(self) -> list[dict[str, Any]]:
        """The chain as ``/plan``'s planner takes it (``{layer, ms, out_bytes}``)."""
        return [{"layer": c, "ms": m, "out_bytes": b} for c, m, b in zip(self.cuts, self.cloud_ms, self.out_bytes)]

    def summary(self) -> dict[str, Any]:
        return {"model": self.model, "cuts": len(self.cuts), "cut_names": list(self.cuts), "fixed_cut": self.fixed_cut,
                "cloud_model_ms": round(sum(self.cloud_ms), 3),
                "device_model_ms": {k: round(v, 2) for k, v in self.device_model_ms.items()},
                "device_source": self.device_source, "wire": self.wire["name"],
                "body_bytes": {c: len(b) for c, (b, _) in self.bodies.items()}}


def pick_fixed_cut(cuts: list[str], out_bytes: list[float]) -> str:
    """The 'fixed' policy's mid cut: the smallest tensor among the middle third of the interior
    cut points (ties → the earlier), so a fixed split ships no more than it must."""
    n = len(cuts)
    if n < 3:
        return cuts[-1]
    lo, hi = max(1, n // 3), max(n // 3 + 1, (2 * n) // 3)
    idx = min(range(lo, min(hi, n - 1)), key=lambda i: (out_bytes[i], i))
    return cuts[idx]


def device_model_ms(cloud_model_ms: float, tfjs_profile: Path | None) -> tuple[dict[str, float], str]:
    """Whole-model ms per device class and where it came from (see the module doc)."""
    classes = devices.DEVICES
    if tfjs_profile is not None and Path(tfjs_profile).is_file():
        t = load_table(tfjs_profile)
        if "model_ms" in t and len(t):
            phone = float(pd.to_numeric(t["model_ms"]).median())
            thr = float(pd.to_numeric(t.get("cpu_throttle", pd.Series([4.0]))).median())
            if phone > 0 and thr > 0:
                return ({k: phone * d.cpu_throttle / thr for k, d in classes.items()},
                        (f"measured: TF.js wasm whole model {phone:.1f} ms in a {thr:g}×-throttled page "
                        f"({Path(tfjs_profile).name}), other classes × their throttle ratio"))
    return ({k: cloud_model_ms * d.cpu_throttle for k, d in classes.items()},
            "modelled: the server's native-TF ms × the class's throttle (no TF.js profile here)")


def build_cut_table(model_path: str | Path, wire_name: str = "float32", profile_path: str | Path | None = None,
                    tfjs_profile: str | Path | None = None, seed: int = 0) -> CutTable:
    """Load the model once, profile (or read the cached profile of) its cut chain, and encode
    every cut's tensor for the example input (one forward pass for all cuts)."""
    import tf_keras as keras

    m = export.load_model(Path(model_path))
    names = [l.name for l in m.layers]
    rows = None
    if profile_path is not None and Path(profile_path).is_file():
        rows = rows_from_profile(load_table(profile_path), names)
    if rows is None:  # as the server does: a quick native profile of the served model
        df = pd.DataFrame(time_model_layers(m, repeats=5, warmup=2))
        df["side"] = "cloud"
        rows = rows_from_profile(df, names)
    chain = collapse_to_cuts(rows, models.chain_cut_points(m))
    cuts = [r["layer"] for r in chain]
    w = parse_wire(wire_name)
    x = split_assets.example_input(tuple(int(d) for d in m.input_shape[1:]), seed=seed)
    probe = keras.Model(m.inputs, [m.get_layer(c).output for c in cuts[1:-1]])
    outs = probe.predict(x, verbose=0) if len(cuts) > 2 else []
    outs = outs if isinstance(outs, list) else [outs]
    bodies = {cuts[0]: wire.encode(x, w["dtype"], w["codec"])}
    for c, y in zip(cuts[1:-1], outs):
        bodies[c] = wire.encode(np.asarray(y), w["dtype"], w["codec"])
    dev, source = device_model_ms(sum(r["ms"] for r in chain), Path(tfjs_profile) if tfjs_profile else None)
    out_bytes = [float(r["out_bytes"]) for r in chain]
    return CutTable(model=m.name, cuts=cuts, cloud_ms=[float(r["ms"]) for r in chain], out_bytes=out_bytes,
                    device_model_ms=dev, device_source=source, wire=w, bodies=bodies,
                    fixed_cut=pick_fixed_cut(cuts, out_bytes))
