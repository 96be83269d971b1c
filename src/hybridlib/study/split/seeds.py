"""The seeds' headline split results beside ours, only like for like (DESIGN.md §9).

A seed claim (003 Neurosurgeon, 001 CollabDNN) is compared with our *measured* speed-ups only
over executed cases that match its device class, network(s) and model(s); ``differs`` names
what still differs even then, said beside the number, never hidden.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

#: The seeds' headline split results and the conditions they were measured under, so our
#: speed-ups are compared only like for like (DESIGN.md §9; seeds 003 and 001). A claim is
#: "like for like" when executed cases match its device class, network(s) and model(s);
#: ``differs`` names what still differs even then (said beside the number, never hidden).
SEED_CLAIMS: tuple[dict[str, Any], ...] = (
    {"seed": "003", "claim": "Neurosurgeon: mean latency speed-up over cloud-only", "short": "mean × vs cloud-only",
     "value": 3.1,
     "unit": "×", "stat": "mean", "baseline": "cloud-only", "device": "phone", "networks": ("3g", "lte", "wifi"),
     "models": None, "conditions": "Jetson TK1 mobile CPU vs server; Wi-Fi/LTE/3G; 8 DNNs",
     "differs": ("003: a Jetson TK1 board and a GPU server, 8 DNNs; ours: Chromium TF.js wasm at phone-class "
                 "CPU throttling and this machine's TF, the models executed here",)},
    {"seed": "003", "claim": "Neurosurgeon: max latency speed-up over cloud-only", "short": "max × vs cloud-only",
     "value": 40.7,
     "unit": "×", "stat": "max", "baseline": "cloud-only", "device": "phone", "networks": ("3g", "lte", "wifi"),
     "models": None, "conditions": "Jetson TK1 mobile CPU vs server; Wi-Fi/LTE/3G; 8 DNNs",
     "differs": ("003: a Jetson TK1 board and a GPU server, 8 DNNs; ours: Chromium TF.js wasm at phone-class "
                 "CPU throttling and this machine's TF, the models executed here",)},
    # 001 §VII: "the best case of single platform, mobile-only or cloud-only" against the joint
    # platform, AlexNet inference; latency-optimal splits arise on Wi-Fi (on 3G/4G mobile-only
    # wins, its Fig. 11); transfers losslessly compressed (abstract); per-layer latencies
    # from regression models and a shortest-path schedule (its §IV), not an executed split.
    {"seed": "001", "claim": "CollabDNN: up to 73% lower latency than the best single platform",
     "short": "max % less than best single", "value": 73.0,
     "unit": "%", "stat": "max", "baseline": "best-single", "device": "phone", "networks": ("wifi",),
     "models": ("alexnet",),
     "conditions": "AlexNet inference, mobile vs cloud, Wi-Fi (its best case); joint plan vs the better of "
                   "mobile-only/cloud-only",
     "differs": ("001's latencies are modelled (per-layer regression + shortest path), ours executed end to end",
                 "001: a phone and a cloud data centre; ours: Chromium TF.js wasm at phone-class CPU throttling "
                 "(uint8-stored AlexNet weights, fp32 compute) and this machine's TF")},
)

#: what differs from 001 when our wire does not compress (001 compresses transfers losslessly)
NO_LOSSLESS = "001 compresses shipped tensors losslessly; ours {dtype}, codec {codec}"


def _as_set(v: Any) -> set[Any]:
    return set(v) if isinstance(v, (list, tuple, set, frozenset)) else {v}


def seed_applies(seed: Mapping[str, Any], ours: Mapping[str, Any]) -> tuple[bool, list[str]]:
    """The one rule for a "seed value" column: may the seed's number sit beside ours?

    Both sides give any of ``device`` (device class), ``networks`` (links), ``models`` (the
    network set) and ``basis`` (what the number is: e.g. ``"latency pick"``, ``"measured ÷
    measured"``), each a value or a collection; a key the seed leaves out or None does not
    restrict. Device and basis must be equal; our links and networks must lie within the
    seed's — and our network set must *equal* the seed's when the seed's number is a statistic
    over its networks (``seed["over_models"]`` true: 003's mean over 8 DNNs), so a 2-network
    mean never sits beside an 8-network mean; any key named in ``seed["exact"]`` must be equal
    too (e.g. the links a mean was taken over). Returns ``(applies, what differs)``."""
    why = []
    for key in ("device", "networks", "models", "basis"):
        want = seed.get(key)
        if want is None:
            continue
        have = ours.get(key)
        w, h = _as_set(want), _as_set(have) if have is not None else set()
        exact = (key in ("device", "basis") or key in seed.get("exact", ())
                 or (key == "models" and seed.get("over_models")))
        if not h or (h != w if exact else not h <= w):
            why.append(f"{key}: ours {', '.join(map(str, sorted(h, key=str))) or 'none'} vs the seed's "
                       f"{', '.join(map(str, sorted(w, key=str)))}")
    return not why, why


def like_for_like(comp: pd.DataFrame, wire: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """Each seed claim beside our measured number over the cases that match its conditions
    (device class, networks, models); ``ours`` is None where no executed case matches, so a
    number is never put next to a claim made under other conditions. ``differs`` lists what
    still differs where it does match (the seed's platform, modelled vs executed, and — for
    001 — a wire without lossless compression: ``wire`` = the executed dtype/codec); ``case``
    names the matching case(s) and their chosen cut."""
    out = []
    w = {"dtype": "float32", "codec": "none", **(wire or {})}
    for c in SEED_CLAIMS:
        ok = [seed_applies(c, {"device": d, "networks": n, "models": m})[0]
              for d, n, m in zip(comp["device"], comp["network"], comp["model"])]
        sel = comp[pd.Series(ok, index=comp.index, dtype=bool)] if len(comp) else comp
        if c["baseline"] == "cloud-only":
            vals = sel["speedup_vs_cloud"].dropna()
        else:
            vals = sel["reduction_vs_best_single_pct"].dropna()
        ours = None if vals.empty else float(vals.mean() if c["stat"] == "mean" else vals.max())
        differs = list(c.get("differs", ()))
        if c["seed"] == "001" and w["codec"] == "none":
            differs.append(NO_LOSSLESS.format(**w))
        at = sel.loc[vals.index]
        cases = [f"{r['model']} {r['device']} {r['network']} {r['load']}: {r['chosen']} "
                 f"({r['measured_chosen_ms']:.0f} ms vs device-only {r['measured_device_only_ms']:.0f}, "
                 f"cloud-only {r['measured_cloud_only_ms']:.0f})" for _, r in at.iterrows()]
        out.append({"seed": c["seed"], "claim": c["claim"], "short": c["short"], "seed_value": c["value"],
                    "unit": c["unit"],
                    "ours": ours, "cases": int(len(vals)), "like_for_like": bool(len(vals)),
                    "conditions": f"{c['device']}, {'/'.join(c['networks'])}"
                                  + (f", {'/'.join(c['models'])}" if c["models"] else ""),
                    "seed_conditions": c["conditions"], "differs": differs if len(vals) else [],
                    "matched": cases})
    return out
