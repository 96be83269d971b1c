"""Rows for 05 (partition): the best single cut's speed-up and device-energy saving per network
and scenario — what-ifs as their own rows, never pooled with the measured scenario — beside
seed 003 (Neurosurgeon) only if alike."""
from __future__ import annotations

from typing import Any

from hybridlib.study.report.core import ENERGY_MODEL, PARTITION_MODEL, Comparison, Headline, result_data, seed_fields, fmt_ratio


def is_whatif(s: dict[str, Any]) -> bool:
    """Whether 05's scenario scales the measurements (device slowdown or server load ≠ 1)."""
    return float(s.get("device_slowdown", 1.0)) != 1.0 or float(s.get("load", 1.0)) != 1.0


def graph_per_network(choices: list[dict[str, Any]]) -> dict[str, str]:
    """Which partition graph stands for each neural network: the emotion CNN's TF.js graph
    (``emotion_cnn@tfjs``, the hybrid app's real device runtime) when 05 has it, else its
    Keras graph; every other network has one graph. Keyed by network, value = graph name."""
    graphs = sorted({str(r.get("model")) for r in choices if r.get("model")})
    out: dict[str, str] = {}
    for g in graphs:
        net = g.split("@", 1)[0]
        if net not in out or g.endswith("@tfjs"):
            out[net] = g
    return out


def _graph_label(network: str, graph: str, all_graphs: set[str]) -> str:
    if graph.endswith("@tfjs"):
        return f"{network}, TF.js wasm graph (its Keras graph not counted)"
    if network == "emotion_cnn" and f"{network}@tfjs" not in all_graphs:
        return f"{network}, Keras graph (no TF.js profile in this run)"
    return f"{network}, Keras graph"


def scenario_label(s: dict[str, Any]) -> str:
    """05's scenario knobs in words: "phone ×10, server ÷10" (device slowdown, server load)."""
    dev, load = float(s.get("device_slowdown", 1.0)), float(s.get("load", 1.0))
    parts = []
    if dev != 1.0:
        parts.append(f"device ×{dev:g}" if dev > 1 else f"device ÷{1 / dev:g}")
    if load != 1.0:
        parts.append(f"server ÷{1 / load:g}" if load < 1 else f"server ×{load:g} (busier)")
    return ", ".join(parts) or "as measured"


def partition_rows(res: dict[str, Any]) -> list[Comparison]:
    rows: list[Comparison] = []
    data, src = result_data(res), "results/partition.json"
    choices = [r for r in res.get("choices") or [] if r.get("schedule") == "single"]
    scen = res.get("scenarios") or {}
    chosen = graph_per_network(choices)
    all_graphs = {str(r.get("model")) for r in choices}
    hw = "here: the device is one core of this server CPU and the cloud this shared 2-core machine"
    for scenario in scen or sorted({r.get("scenario") for r in choices}):
        s = scen.get(scenario) or {}
        whatif = is_whatif(s)
        scen_txt = (f"what-if: {scenario_label(s)} (\"{scenario}\")" if whatif
                    else f"as measured (\"{scenario}\")")
        lat_basis = ("what-if: measured layer times scaled as stated + modelled transfers" if whatif
                     else PARTITION_MODEL)
        for net, graph in chosen.items():
            sel = [r for r in choices if r.get("scenario") == scenario and r.get("model") == graph]
            lat = [r["speedup_vs_cloud"] for r in sel if r.get("objective") == "latency"
                   and r.get("speedup_vs_cloud") is not None]
            en = [r["energy_saving_vs_cloud_pct"] for r in sel if r.get("objective") == "energy"
                  and r.get("energy_saving_vs_cloud_pct") is not None]
            nets = "/".join(sorted({str(r.get("network")) for r in sel}))
            label = _graph_label(net, graph, all_graphs)
            differs = [hw if not whatif else "a what-if on this machine's measurements, not a phone and a GPU server",
                       "Neurosurgeon measured 8 DNNs on real hardware"]
            if lat:
                rows.append(Comparison(
                    "partition", f"latency speed-up of the best single cut vs cloud-only, {label}, mean (max) "
                    f"over {nets}", f"{fmt_ratio(sum(lat) / len(lat))} ({fmt_ratio(max(lat))})", scen_txt, data, lat_basis, src,
                    **seed_fields("003-speedup", differs)))
            if en:
                rows.append(Comparison(
                    "partition", f"device-energy saving vs cloud-only (energy objective), {label}, mean (max) "
                    f"over {nets}", f"{sum(en) / len(en):.1f}% ({max(en):.1f}%)", scen_txt, data,
                    ENERGY_MODEL + ("; what-if scaled" if whatif else ""), src,
                    **seed_fields("003-energy", differs + ["energy here is a model, not a power measurement"])))
    return rows

def add_headline(results: dict[str, Any], out: Headline) -> None:
    """The headline's partition speed-up row: the measured scenario only, one graph per network."""
    pt = results.get("partition") or {}
    choices = [r for r in pt.get("choices") or [] if r.get("schedule") == "single" and r.get("objective") == "latency"]
    measured_scen = [k for k, s in (pt.get("scenarios") or {}).items() if not is_whatif(s)]
    if choices and measured_scen:
        parts = []
        for net, graph in graph_per_network(choices).items():
            sp = [r["speedup_vs_cloud"] for r in choices if r.get("model") == graph
                  and r.get("scenario") == measured_scen[0] and r.get("speedup_vs_cloud") is not None]
            if sp:
                parts.append(f"{net} ({'TF.js' if graph.endswith('@tfjs') else 'Keras'} graph) "
                             f"{fmt_ratio(sum(sp) / len(sp))} mean, {fmt_ratio(max(sp))} max")
        out.row("partition speed-up vs cloud-only, like for like", "; ".join(parts) or "n/a",
                f"{PARTITION_MODEL}; scenario as measured only (what-ifs in the table below, never pooled); "
                f"3G/LTE/Wi-Fi; {result_data(pt)}")
    else:
        out.row("partition speed-up vs cloud-only, like for like", "not measured", "05_partition did not run")
