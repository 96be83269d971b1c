"""Summaries of a study run: ``summary.json`` (everything) and ``summary.md`` (for people).

The numbers come only from ``results/*.json`` written by the notebooks during this run;
nothing is typed in except the seeds' own claims (:data:`SEED_CLAIMS`), which are quoted.

Why so much care about *which* numbers stand together: a reviewer reads a table row as a
comparison. So every comparison row here names

- its **scenario** (as measured, or a what-if such as "phone ×10, server ÷10" — what-ifs are
  never averaged with measured rows),
- its **data** (synthetic or FER-2013),
- its **basis**: *measured*, or *modelled* and how (device energy is a model: 2 W × ms),

and a seed's number is put beside ours only when the conditions match (same data, budget,
hardware class); otherwise the row says what differs and the seed's figure stays in the quoted
table of seed claims. Each neural network counts once: the emotion CNN's partition numbers
come from its TF.js graph when 04 profiled it (the hybrid app's real device runtime), else
from its Keras graph, and the row says which.
"""
from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hybridlib.config import PRESETS
from hybridlib.utils import to_jsonable, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

MEASURED = "measured"
#: device energy in 04/05 is ``PowerModel.active_w`` (2 W) × compute ms plus radio power × transfer ms
ENERGY_MODEL = "modelled: device energy = 2 W × compute ms + radio power × transfer ms (no power meter)"
PARTITION_MODEL = "modelled: measured layer times + transfer time from the network preset's bandwidth/RTT"


def load_results(results_dir: Path) -> dict[str, Any]:
    """Every ``results/<name>.json`` of the run, by name (bookkeeping files ``_*.json`` excluded)."""
    out: dict[str, Any] = {}
    for p in sorted(Path(results_dir).glob("*.json")):
        if p.name.startswith("_"):  # bookkeeping (e.g. _skipped.json), not a result
            continue
        try:
            out[p.stem] = json.loads(p.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            log.warning("skipping unreadable result %s: %s", p, e)
    return out


# --------------------------------------------------------------------------- formatting


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _pct(x: float | None, digits: int = 1) -> str:
    """A share in percent; tiny non-zero shares keep two significant digits (never "0.00%")."""
    if x is None:
        return "n/a"
    if x != 0 and abs(100 * x) < 10 ** -digits:
        return f"{100 * x:.2g}%"
    return f"{100 * x:.{digits}f}%"


def _span(values: list[float]) -> str:
    """``a–b`` over several measurements, one number when they agree to the shown digit."""
    lo, hi = f"{min(values):.1f}", f"{max(values):.1f}"
    return lo if lo == hi else f"{lo}–{hi}"


def _x(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}×" if x < 10 else f"{x:.1f}×"


def _data(res: dict[str, Any] | None) -> str:
    """The data a result was computed on, as every row names it."""
    if not isinstance(res, dict) or "synthetic" not in res:
        return "unknown"
    return "synthetic" if res["synthetic"] else "FER-2013"


def relativize(obj: Any, root: Path) -> Any:
    """Absolute paths → repo-relative (or just the file name when outside the checkout), so
    a report names no machine's directories and reads the same on every clone."""
    root = Path(root)
    if isinstance(obj, dict):
        return {k: relativize(v, root) for k, v in obj.items()}
    if isinstance(obj, list):
        return [relativize(v, root) for v in obj]
    if isinstance(obj, str) and obj.startswith(os.sep) and "\n" not in obj and len(obj) < 4096:
        p = Path(obj)
        try:
            return str(p.relative_to(root))
        except ValueError:
            pass
        try:
            if p.exists():
                return f"…/{p.name}"
        except OSError:
            pass
    return obj


# --------------------------------------------------------------------------- seed claims

#: What the seeds report, quoted from ../shared/seeds (docs/ARCHITECTURE.md, Seed numbers), with the conditions they
#: were obtained under. None of our figures is computed from these.
SEED_CLAIMS: tuple[dict[str, str], ...] = (
    {"id": "000-params", "seed": "000", "claim": "emotion CNN parameters", "value": "~3M",
     "conditions": "9 conv / 5 max-pool / 3 dense"},
    {"id": "000-before", "seed": "000", "claim": "validation accuracy before tuning", "value": "61.24%",
     "conditions": "FER-2013, 25 epochs on the full training set, default hyper-parameters"},
    {"id": "000-after", "seed": "000", "claim": "validation accuracy after tuning", "value": "63.39%",
     "conditions": "FER-2013, 25 epochs on the full training set, tuned hyper-parameters"},
    {"id": "000-cloud-users", "seed": "000", "claim": "cloud mode users before overload", "value": "5 (crashed at 6)",
     "conditions": "its server: 4 cores / 8 threads, 2.4 GHz, 16 GB; its clients on other machines; "
                   "CPU 40% at 1 user, 82% at 5"},
    {"id": "000-hybrid", "seed": "000", "claim": "hybrid mode server CPU and bandwidth", "value": "flat up to 10 users",
     "conditions": "its server and clients; no figure per user given"},
    {"id": "001-alexnet", "seed": "001", "claim": "AlexNet parameters", "value": "62,378,344",
     "conditions": "AlexNet, 1000 classes"},
    {"id": "003-speedup", "seed": "003", "claim": "latency speed-up of the chosen partition vs cloud-only",
     "value": "3.1× mean (up to 40.7×)",
     "conditions": "Neurosurgeon: Jetson TK1 mobile vs Titan X server, 8 DNNs, 3G/LTE/Wi-Fi, measured on hardware"},
    {"id": "003-energy", "seed": "003", "claim": "mobile energy saving vs cloud-only (energy objective)",
     "value": "59.5% mean (up to 94.7%)",
     "conditions": "Neurosurgeon: power measured on the Jetson TK1 board, 8 DNNs, 3G/LTE/Wi-Fi"},
    {"id": "004-exit", "seed": "004", "claim": "test images correctly classified at the edge (early exit)",
     "value": "up to 95%",
     "conditions": "ResNet/MobileNet with a converter branch (C channels), its image-classification test set; "
                   "Huawei Mate10 Pro mobile GPU (TVM-compiled) with Huawei Cloud"},
    {"id": "004-bandwidth", "seed": "004", "claim": "bandwidth saving of early exit + converter (baseline, as we "
     "read it: the status quo of sending captured images to the cloud)", "value": "up to 40×",
     "conditions": "as above"},
)
_CLAIM = {c["id"]: c for c in SEED_CLAIMS}


def seed_claims() -> Any:
    """The quoted seed claims as a table (seed, claim, value, conditions)."""
    import pandas as pd

    return pd.DataFrame([{k: c[k] for k in ("seed", "claim", "value", "conditions")} for c in SEED_CLAIMS])


# --------------------------------------------------------------------------- comparison rows


@dataclass
class Comparison:
    """One row of the report: our number, under which conditions, and the seed's only if alike."""

    topic: str
    quantity: str
    this_run: str
    scenario: str
    data: str
    basis: str  # "measured" or "modelled: how" / "what-if: how"
    source: str
    seed: str = ""  # which seed speaks to this quantity ("" = none)
    seed_value: str = ""  # the seed's number: filled ONLY when like for like
    like_for_like: str = ""  # "yes", "no — <what differs>", or "" when no seed speaks to it

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


def _vs_seed(claim_id: str, differs: list[str]) -> dict[str, str]:
    """Seed fields of a row: the seed's value only when nothing differs."""
    c = _CLAIM[claim_id]
    if differs:
        return {"seed": c["seed"], "seed_value": "", "like_for_like": "no — " + "; ".join(differs)}
    return {"seed": c["seed"], "seed_value": c["value"], "like_for_like": "yes"}


def _train_rows(res: dict[str, Any]) -> list[Comparison]:

    rows: list[Comparison] = []
    data, src = _data(res), "results/train.json"
    fer = data == "FER-2013"
    if res.get("params") is not None:
        rows.append(Comparison("model", "emotion CNN parameters", f"{res['params']:,}", "as built", "any (architecture)",
                               MEASURED + " (counted from the model)", src, **_vs_seed("000-params", [])))
    if res.get("alexnet_params") is not None:
        rows.append(Comparison("model", "AlexNet parameters", f"{res['alexnet_params']:,}", "as built",
                               "any (architecture)", MEASURED + " (counted from the model)", src,
                               **_vs_seed("001-alexnet", [])))
    preset = PRESETS.get(str(res.get("preset")))
    before = next((r for r in res.get("comparison") or [] if "before tuning" in str(r.get("model", ""))), None)
    if before is not None and before.get("val_accuracy") is not None:
        budget = str(before.get("budget") or "?")
        differs = [] if fer else ["synthetic data, not FER-2013"]
        full = preset is not None and preset.sweep_epochs >= 25 and not preset.sweep_max_train
        if not full:
            differs.append(f"a short sweep run ({budget}), not 25 epochs on the full training set")
        rows.append(Comparison("accuracy", "CNN validation accuracy, default config (before tuning)",
                               _pct(before["val_accuracy"]), f"hyper-parameter sweep ({budget})", data, MEASURED,
                               src, **_vs_seed("000-before", differs)))
    cnn = res.get("cnn") or {}
    if cnn.get("val_accuracy") is not None:
        epochs = (res.get("config") or {}).get("epochs")
        differs = [] if fer else ["synthetic data, not FER-2013"]
        if not epochs or epochs < 25:
            differs.append(f"{epochs} epoch(s), not 25")
        max_train = (res.get("config") or {}).get("max_train")
        if max_train:
            differs.append(f"at most {max_train} training images")
        rows.append(Comparison("accuracy", "CNN validation accuracy, tuned config (after tuning)",
                               _pct(cnn["val_accuracy"]), f"final training ({epochs} epochs)", data, MEASURED, src,
                               **_vs_seed("000-after", differs)))
    base = res.get("baseline") or {}
    if cnn.get("test_accuracy") is not None:
        rows.append(Comparison("accuracy", "CNN test accuracy", _pct(cnn["test_accuracy"]), "final model, test split",
                               data, MEASURED, src))
    if base.get("accuracy") is not None:
        rows.append(Comparison("accuracy", "logistic-regression baseline test accuracy", _pct(base["accuracy"]),
                               f"baseline ({base.get('features', 'pixels')}), test split", data, MEASURED, src))
    return rows


def cloud_ratio(res: dict[str, Any]) -> dict[str, Any] | None:
    """The cloud efficiency ratio (ours ÷ seed pipeline, answered frames per server CPU-s),
    like for like when 07 recorded it per equal user count (``cloud_ratio``: the minimum over
    counts is the headline); an older result's single ratio is returned flagged as not alike."""
    cr = res.get("cloud_ratio")
    if isinstance(cr, dict) and cr.get("rows") is not None:
        per = {int(r["users"]): r.get("ratio") for r in cr["rows"] if r.get("ratio") is not None}
        return {"value": cr.get("min_ratio"), "at_users": cr.get("min_at_users"), "per_users": per,
                "like_for_like": cr.get("min_ratio") is not None}
    e = res.get("answered_per_cpu_s")
    if isinstance(e, dict) and e.get("ratio") is not None:
        plan = res.get("plan") or {}
        return {"value": e["ratio"], "at_users": None, "per_users": {}, "like_for_like": False,
                "differs": f"median over unequal user counts (ours {plan.get('users')}, "
                           f"seed pipeline {plan.get('seed_users')})"}
    return None


def _load_rows(res: dict[str, Any]) -> list[Comparison]:
    rows: list[Comparison] = []
    data, src = _data(res), "results/07_load.json"
    plan = res.get("plan") or {}
    size = plan.get("size") or ["?", "?"]
    cpus = res.get("cpu_count")
    where = f"loopback, {size[0]}×{size[1]} @ {plan.get('fps')} fps, {cpus} CPUs shared with the load clients"
    cr = cloud_ratio(res)
    if cr is not None:
        if cr["like_for_like"]:
            per = ", ".join(f"{u} user{'s' if u > 1 else ''}: {_x(v)}" for u, v in sorted(cr["per_users"].items()))
            rows.append(Comparison("cloud", "efficiency ratio ours ÷ seed pipeline (answered frames per server "
                                   "CPU-s), minimum over equal user counts", _x(cr["value"]) + f" ({per})",
                                   f"cloud mode, both pipelines at the same user counts; {where}", data, MEASURED,
                                   src))
        else:
            rows.append(Comparison("cloud", "efficiency ratio ours ÷ seed pipeline (answered frames per server "
                                   "CPU-s)", _x(cr["value"]) + " — NOT like for like: " + cr["differs"],
                                   f"cloud mode; {where}", data, MEASURED, src))
    sat = res.get("saturation_users") or {}
    hw_differs = [f"server here: {cpus} CPUs shared with the load clients on one machine, "
                  "seed: 4 cores / 8 threads with clients elsewhere",
                  f"camera here {size[0]}×{size[1]} @ {plan.get('fps')} fps"]
    for key, label in (("ours", "ours"), ("seed", "seed pipeline (000's server design, rebuilt here)")):
        if key in sat:
            v = sat[key]
            tried = [int(u) for u in (plan.get("users") if key == "ours" else plan.get("seed_users")) or []]
            rows.append(Comparison("cloud", f"cloud mode users served at ≥80% fps and p95 ≤ 250 ms, {label}",
                                   "none (over target at 1 user)" if v is None else
                                   f"≥{v} (the most users tried)" if tried and int(v) >= max(tried) else
                                   f"{v} (next count tried: {min(u for u in tried if u > int(v))})"
                                   if tried and any(u > int(v) for u in tried) else str(v),
                                   f"cloud mode, users {plan.get('users') if key == 'ours' else plan.get('seed_users')}"
                                   f"; {where}", data, MEASURED, src, **_vs_seed("000-cloud-users", hw_differs)))
    ratio = res.get("hybrid_vs_cloud_cpu_ratio")
    if ratio is not None:
        claim = res.get("hybrid_claim") or {}
        pages = bool(claim) or bool(res.get("hybrid_browser"))
        how = ("hybrid users are Chromium pages running the app" if claim else
               "hybrid users fetch the page and model, then idle (no page runs the app)")
        rows.append(Comparison("hybrid", "hybrid ÷ cloud (ours) server CPU per user-minute", _pct(ratio, 2),
                               f"{how}; {where}", data, MEASURED, src,
                               **_vs_seed("000-hybrid", ["the seed gives no per-user figure, only 'flat'"]
                                          + ([] if pages else ["no client work measured here"]))))
    client = [h.get("client_ms_per_frame") for h in res.get("hybrid") or []
              if isinstance(h, dict) and h.get("client_ms_per_frame") is not None]
    if client:
        rows.append(Comparison("hybrid", "client (browser page) CPU per frame, hybrid mode",
                               " / ".join(f"{c:.1f} ms" for c in client), "hybrid users as Chromium pages (DevTools "
                               "Performance.getMetrics TaskDuration)", data, MEASURED, src))
    return rows


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


def _partition_rows(res: dict[str, Any]) -> list[Comparison]:
    rows: list[Comparison] = []
    data, src = _data(res), "results/partition.json"
    choices = [r for r in res.get("choices") or [] if r.get("schedule") == "single"]
    scen = res.get("scenarios") or {}
    chosen = graph_per_network(choices)
    all_graphs = {str(r.get("model")) for r in choices}
    hw = "here: the device is one core of this server CPU and the cloud this shared 2-core machine"
    for scenario in scen or sorted({r.get("scenario") for r in choices}):
        s = scen.get(scenario) or {}
        whatif = float(s.get("device_slowdown", 1.0)) != 1.0 or float(s.get("load", 1.0)) != 1.0
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
                    f"over {nets}", f"{_x(sum(lat) / len(lat))} ({_x(max(lat))})", scen_txt, data, lat_basis, src,
                    **_vs_seed("003-speedup", differs)))
            if en:
                rows.append(Comparison(
                    "partition", f"device-energy saving vs cloud-only (energy objective), {label}, mean (max) "
                    f"over {nets}", f"{sum(en) / len(en):.1f}% ({max(en):.1f}%)", scen_txt, data,
                    ENERGY_MODEL + ("; what-if scaled" if whatif else ""), src,
                    **_vs_seed("003-energy", differs + ["energy here is a model, not a power measurement"])))
    return rows


def _early_exit_rows(res: dict[str, Any]) -> list[Comparison]:
    rows: list[Comparison] = []
    data, src = _data(res), "results/early_exit.json"
    differs = ["the seed's ResNet/MobileNet converter on its image test set (Mate10 Pro); here a BranchyNet "
               f"branch after {res.get('branch_at')} of the emotion CNN"]
    if res.get("edge_exit_fraction") is not None:
        rows.append(Comparison(
            "early exit", "test inputs that exit at the edge branch (BranchyNet threshold alone, before the converter)",
            f"{_pct(res['edge_exit_fraction'])} (overall accuracy {_pct(res.get('overall_acc'))} vs final exit "
            f"{_pct(res.get('final_acc'))})", f"threshold {_fmt(res.get('threshold'))} chosen on validation "
            f"({res.get('threshold_rule', '')})", data, MEASURED, src,
            **_vs_seed("004-exit", ([] if data == "FER-2013" else ["synthetic data"]) + differs)))
    return rows


#: what always differs from seed 004 here (its model, data and hardware), said on every 004 row
_DIFFERS_004 = ("004: ResNet/MobileNet on its image test set, a Mate10 Pro mobile GPU (TVM) and Huawei Cloud; "
                "here the emotion CNN's converter at {at}, Chromium/TF on this machine")


def _differs_004(res: dict[str, Any]) -> list[str]:
    """What differs from seed 004's conditions for a row of 06's result (never empty here: the
    seed's models, data and phone are not ours; synthetic data is named first when so)."""
    return ([] if _data(res) == "FER-2013" else ["synthetic data"]) + \
        [_DIFFERS_004.format(at=res.get("branch_at", "?"))]


def _converter(res: dict[str, Any]) -> dict[str, Any] | None:
    """06's converter section (issue 14) when it has an operating point, else None."""
    cv = res.get("converter")
    return cv if isinstance(cv, dict) and isinstance(cv.get("operating_point"), dict) else None


def _op_words(cv: dict[str, Any]) -> dict[str, Any]:
    """The converter operating point in the words every row uses: C, codec, T, exit share and
    the accuracy change against the no-exit model (test, and validation where it was chosen)."""
    op, opv = cv["operating_point"], cv.get("operating_point_val") or {}
    ref_t, ref_v = cv.get("reference_acc_test"), cv.get("reference_acc_val")
    d_t = None if ref_t is None or op.get("overall_acc") is None else float(op["overall_acc"]) - float(ref_t)
    d_v = None if ref_v is None or opv.get("overall_acc") is None else float(opv["overall_acc"]) - float(ref_v)
    pts = lambda d: "n/a" if d is None else f"{100 * d:+.1f} points"  # noqa: E731
    return {"C": int(op.get("channels", 0)), "codec": op.get("codec", "?"), "T": op.get("threshold"),
            "exit": op.get("exit_fraction"), "exit_val": opv.get("exit_fraction"), "d_test": d_t, "d_val": d_v,
            "pts_test": pts(d_t), "pts_val": pts(d_v), "acc": op.get("overall_acc"), "ref": ref_t,
            "bpi": op.get("bytes_per_input"), "shipped": op.get("bytes_shipped")}


def _converter_rows(res: dict[str, Any]) -> list[Comparison]:
    """Issue 14's converter operating point (06): C, T, exit share, accuracy change, bytes per
    input and the savings against shipping the picture, each beside seed 004's claim only if
    alike (it never is here: the seed's models, data and phone differ, which the row says)."""
    cv = _converter(res)
    if cv is None:
        return []
    rows: list[Comparison] = []
    data, src = _data(res), "results/early_exit.json (converter)"
    w = _op_words(cv)
    cap = cv.get("max_exit")
    rule = (f"chosen on validation: fewest bytes per input with accuracy ≥ no-exit − {_fmt(cv.get('budget'))}"
            + (f" and at most {_pct(cap, 0)} exiting" if cap is not None else "") + "; reported on test")
    if cv.get("branch_alone_within_budget_val"):
        rule += ("; the branch alone was within the budget on validation (the bare rule would exit every input), "
                 f"the {_pct(cap, 0)} cap keeps a converter path")
    if cap is not None and w["exit_val"] is not None and float(w["exit_val"]) >= float(cap) - 0.01:
        rule += f"; the exit share sits at the cap: {_pct(cap, 0)} is 004's figure, set by the rule, not found"
    differs = _differs_004(res)
    at = f"operating point C = {w['C']}, T = {_fmt(w['T'])} (chosen on validation), test split"
    rows.append(Comparison(
        "early exit (converter)", "operating point: C, T, test inputs exited at the edge, accuracy change vs the "
        "no-exit model (test; validation where chosen)",
        f"C = {w['C']} (uint8 + {w['codec']}), T = {_fmt(w['T'])}: {_pct(w['exit'])} exit at the edge, {w['pts_test']} "
        f"({_pct(w['acc'])} vs {_pct(w['ref'])}) on test; validation {_pct(w['exit_val'])} exit, {w['pts_val']}",
        rule, data, MEASURED + " (accuracy after the uint8 wire decode)", src,
        **_vs_seed("004-exit", differs + ["004 counts images correctly classified at the edge; here the share "
                                          "exiting (right or wrong)"])))
    if w["bpi"] is not None:
        shipped = w["shipped"]
        rows.append(Comparison(
            "early exit (converter)", "uplink bytes per input at the operating point (exited inputs send nothing)",
            f"{float(w['bpi']):.0f} B/input"
            + (f" ({float(shipped):.0f} B per shipped input)" if isinstance(shipped, (int, float))
               and shipped == shipped else " (none shipped)"),
            f"C = {w['C']} code, uint8 + {w['codec']}, body + header values; {at}", data, MEASURED, src))
    sav, alts = cv.get("savings") or {}, cv.get("alternatives_bytes") or {}
    crops = [k for k in sav if k.startswith("crop")]
    if crops:
        none = all(sav[k] is None for k in crops)
        rows.append(Comparison(
            "early exit (converter)", "uplink saving vs shipping the 48×48 crop (raw / PNG / JPEG q90)",
            "nothing shipped at the operating point (every input exits; no ratio)" if none else
            ", ".join(f"{_x(sav[k])} vs {k.removeprefix('crop ')} ({float(alts.get(k, 0)):.0f} B)" for k in crops),
            f"per input; {at}", data, MEASURED + " (encoded bodies, OpenCV PNG/JPEG)", src,
            **_vs_seed("004-bandwidth", differs + ["004's baseline is the captured image; here the 48×48 "
                                                   "face crop"])))
    video = cv.get("video") if isinstance(cv.get("video"), dict) else None
    vkey = next((k for k in sav if k.startswith("cloud video")), None)
    if video and vkey:
        fs = video.get("frame_size") or ["?", "?"]
        rows.append(Comparison(
            "early exit (converter)", "uplink saving vs the cloud mode's video bytes per frame",
            ("nothing shipped at the operating point (no ratio)" if sav[vkey] is None else
             f"{_x(sav[vkey])} ({float(video['bytes_per_frame']):.0f} B/frame vs {float(w['bpi']):.0f} B/input)"),
            f"cloud mode: whole {fs[0]}×{fs[1]} camera frame, VP8 over WebRTC at {_fmt(video.get('fps'))} fps "
            f"({video.get('source', 'source not recorded')}); converter {at}", data, MEASURED, src,
            **_vs_seed("004-bandwidth", differs + ["004 sends single images, not a video stream"])))
    return rows


def _exit_exec_rows(res: dict[str, Any]) -> list[Comparison]:
    """06's early exit executed in Chromium (``converter.executed.exit_page``): the share the
    page answered itself, bytes per input, and whether its decisions are Keras's."""
    cv = _converter(res) or {}
    ex = cv.get("executed") if isinstance(cv.get("executed"), dict) else {}
    page = ex.get("exit_page") if isinstance(ex.get("exit_page"), dict) else None
    if not page:
        return []
    rows: list[Comparison] = []
    data, src = _data(res), "results/early_exit.json (converter.executed.exit_page)"
    T, C = page.get("threshold"), ex.get("channels", cv["operating_point"].get("channels"))
    for r in page.get("summary") or []:
        acc = f", accuracy {_pct(r['accuracy'])}" if r.get("accuracy") is not None else ""
        rows.append(Comparison(
            "early exit executed", "in-page exit share and uplink bytes per input (TF.js edge model + real server)",
            f"{_pct(r.get('exit_fraction'), 0)} answered in the page, {float(r.get('bytes_per_input', 0)):.0f} B/input"
            f"{acc}", f"{r.get('device')} class (DevTools CPU throttle), {r.get('network')} link, {r.get('n')} test "
            f"faces, T = {_fmt(T)}, C = {_fmt(C)}, {page.get('codec', '?')}", data,
            MEASURED + " (executed in Chromium)", src))
    vk = page.get("vs_keras") if isinstance(page.get("vs_keras"), dict) else None
    if vk and vk.get("decision_agreement") is not None:
        agree = float(vk["decision_agreement"])
        rows.append(Comparison(
            "early exit executed", "page's exit decisions identical to Keras on the same inputs",
            f"{'yes' if agree == 1.0 else 'NO'}: {_pct(agree, 0)} of {vk.get('n')} agree; branch probabilities max "
            f"abs Δ {float(vk.get('branch_probs_max_abs', float('nan'))):.1e}, code max abs Δ "
            f"{float(vk.get('code_max_abs', float('nan'))):.1e}",
            f"first network's run ({(page.get('summary') or [{}])[0].get('network', '?')}) vs the Keras edge model, "
            f"T = {_fmt(T)}", data, MEASURED + " (page vs Keras)", src))
    return rows


def _edgent_exec_rows(res: dict[str, Any]) -> list[Comparison]:
    """Edgent's sampled plans executed in Chromium, per cost model: deadlines met over plans
    executed, and the median predicted ÷ measured latency."""
    cv = _converter(res) or {}
    ex = cv.get("executed") if isinstance(cv.get("executed"), dict) else {}
    by = ex.get("edgent_by_cost_model") if isinstance(ex.get("edgent_by_cost_model"), dict) else None
    if not by:
        return []
    rows: list[Comparison] = []
    data, src = _data(res), "results/early_exit.json (converter.executed.edgent_by_cost_model)"
    nets = "/".join(ex.get("networks") or []) or "?"
    dl = "/".join(_fmt(d) for d in sorted({float(r["deadline_ms"]) for r in ex.get("edgent_sample") or []
                                            if isinstance(r, dict) and r.get("deadline_ms") is not None})) or "?"
    for cm, v in by.items():
        n, hit = int(v.get("executed") or 0), v.get("hit_rate")
        met = "none executed" if not n or hit is None else f"{round(hit * n)} of {n} met ({_pct(hit, 0)})"
        pom = v.get("pred_over_meas_median")
        rows.append(Comparison(
            "Edgent executed", f"plans meeting their deadline when executed; predicted ÷ measured (median), "
            f"cost model \"{cm}\"",
            f"{met}; predicted ÷ measured {'n/a' if pom is None else f'{float(pom):.2f}'}; "
            f"{v.get('infeasible', 0)} of {v.get('plans', '?')} plans infeasible",
            f"{ex.get('device', 'phone')} class, {nets}, deadlines {dl} ms; worst-case latency checked"
            + ("; the cost model of 06's table" if cm == ex.get("edgent_cost_model") else ""),
            data, MEASURED + f" (executed in Chromium) vs modelled ({cm})", src))
    return rows


def missing_parts(results: dict[str, Any]) -> list[tuple[str, str]]:
    """Report parts whose input is missing, as ``(part, reason)`` for ``ctx.skip``: 06's
    converter, its in-page execution and Edgent's executed plans (issue 14). An older
    ``early_exit.json`` lacks the newer sections; the report then says so instead of a row."""
    ee = results.get("early_exit")
    parts = ("08 converter operating point", "08 early exit executed in the page", "08 Edgent executed")
    if not isinstance(ee, dict):
        return [(p, "results/early_exit.json missing: 06_early_exit did not run") for p in parts]
    out: list[tuple[str, str]] = []
    cv = _converter(ee)
    if cv is None:
        return [(p, "results/early_exit.json has no converter operating point (06 ran without issue 14's "
                    "converter)") for p in parts]
    if not cv.get("savings"):
        out.append((parts[0] + " savings", "early_exit.json converter has no savings"))
    elif not cv.get("video"):
        out.append(("08 converter vs cloud video bytes", "06 recorded no cloud video bytes per frame (its "
                    "short stream failed, see 06's skip record, or the result predates it)"))
    ex = cv.get("executed")
    if not isinstance(ex, dict):
        return out + [(p, "06's executed part did not run (see its own skip record)") for p in parts[1:]]
    if not isinstance(ex.get("exit_page"), dict):
        out.append((parts[1], "early_exit.json converter.executed has no exit_page (06 before the in-page exit)"))
    if not isinstance(ex.get("edgent_by_cost_model"), dict):
        out.append((parts[2], "early_exit.json converter.executed has no edgent_by_cost_model"))
    return out


def _claim_value(c: dict[str, Any]) -> str:
    """Our figure for a 09 seed claim: ``2.30×`` for speed-ups, ``31%`` for a reduction — and a
    negative reduction said as what it is (slower than the best single platform), not "−12% less"."""
    unit, v = c.get("unit", ""), float(c["ours"])
    if unit == "×":
        return f"{v:.2f}×"
    if unit == "%" and v < 0:
        return f"{v:.0f}% (slower than the best single platform)"
    return f"{v:.0f}{unit}"


def _matched_models(c: dict[str, Any]) -> list[str]:
    """The networks behind a 09 seed claim's number (first word of each matched case), so a
    row pooling the emotion CNN and AlexNet says so."""
    return sorted({str(m).split(" ", 1)[0] for m in c.get("matched") or [] if str(m).strip()})


def _split_rows(res: dict[str, Any]) -> list[Comparison]:
    """09's executed split: the engine's choice checked against measured cuts, and the
    seeds' speed-ups beside ours where the device class and links are the seeds' kind."""
    rows: list[Comparison] = []
    data, src = _data(res), "results/09_split.json"
    if res.get("hit_rate") is not None:
        rows.append(Comparison(
            "executed split", "engine's cut within 10% of the measured best (hit rate); median / worst regret",
            f"{_pct(res['hit_rate'])} of {res.get('cases')} cases; {_pct(res.get('median_regret'))} / "
            f"{_pct(res.get('worst_regret'))}", "every cut executed: head in throttled Chromium (TF.js wasm), "
            "tail on this server, DevTools-shaped links", data, MEASURED + " (prediction from per-layer profiles)",
            src))
    for c in res.get("like_for_like") or []:
        if c.get("ours") is None:
            continue
        unit = c.get("unit", "")
        ours = _claim_value(c)
        # like for like as issue 12 defines it: the same device class and links as the seed's kind
        # of comparison (mobile-class device vs server, 3G/LTE/Wi-Fi); what still differs is said
        models = [m for m in _matched_models(c) if m not in str(c.get("conditions"))]
        scenario = (f"{c.get('cases')} executed case(s): {c.get('conditions')}"
                    + (f" (models: {', '.join(models)})" if models else "") + "; "
                    f"the seed: {c.get('seed_conditions')}")
        if c.get("differs"):
            scenario += "; still differs: " + "; ".join(c["differs"])
        alike = bool(c.get("like_for_like"))
        rows.append(Comparison(
            "executed split", f"{c.get('claim')} (measured ÷ measured)", ours, scenario, data, MEASURED, src,
            seed=str(c.get("seed", "")), seed_value=(f"{c.get('seed_value')}{unit}" if alike else ""),
            like_for_like=("yes" if alike else
                           f"no — not the seed's conditions ({c.get('conditions')} vs {c.get('seed_conditions')})")))
    return rows


#: recorded measurements (committed files, not this run) the report may quote, with provenance
MEASUREMENTS_DIR = Path("docs") / "measurements"


def _recorded(path: Path) -> dict[str, Any] | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        log.warning("skipping unreadable recorded measurement %s: %s", path, e)
        return None
    return obj if isinstance(obj, dict) else None


def _command(r: dict[str, Any]) -> str:
    """A recorded command line with absolute paths cut to their file names (no machine's directories)."""
    import re

    return re.sub(r"(?<!\S)/\S*/([^/\s]+)", r"…/\1", str(r.get("command", "?")))


def recorded_rows(root: Path) -> list[Comparison]:
    """"Scale-out (recorded)" rows from the committed Ray measurements (issue 16,
    ``docs/measurements/bench_ray_*.json`` and ``demo_ray_cluster_*.json``): NOT this run, so
    every row names its file, the command that made it and the note recorded with it. The
    load clients stream a looped synthetic face clip, so the data is "synthetic"."""
    rows: list[Comparison] = []
    d = Path(root) / MEASUREMENTS_DIR
    for p in sorted(d.glob("bench_ray_*.json")):
        r = _recorded(p)
        steps = [x for x in ((r or {}).get("ratio") or {}).get("rows") or [] if isinstance(x, dict)]
        if not steps or any(x.get("ratio") is None for x in steps):
            continue
        src = str(MEASUREMENTS_DIR / p.name)
        first = next((x for x in r.get("inprocess") or [] if isinstance(x, dict)), {})
        us = "/".join(str(x.get("users")) for x in steps)
        rows.append(Comparison(
            "scale-out (recorded)", "answered frames per server CPU-s, Ray Serve backend ÷ in-process (cloud mode, "
            "Ray processes included)",
            ", ".join(f"{_fmt(float(x['ratio']))}× at {x.get('users')} user{'s' if x.get('users') != 1 else ''}"
                      for x in steps)
            + f" (ray {' / '.join(_fmt(x.get('ray_answered_per_cpu_s')) for x in steps)} vs in-process "
            f"{' / '.join(_fmt(x.get('inprocess_answered_per_cpu_s')) for x in steps)})",
            f"cloud mode, users {us}, {first.get('width', '?')}×{first.get('height', '?')} @ {first.get('fps', '?')} "
            f"fps (looped synthetic face clip), loopback, {r.get('cpus', '?')} CPUs shared with the clients; "
            f"recorded, not this run: {r.get('note', 'no note')}", "synthetic",
            f"{MEASURED} (recorded file, not this run): `{_command(r)}`", src))
    for p in sorted(d.glob("demo_ray_cluster_*.json")):
        r = _recorded(p)
        users = [u for u in (r or {}).get("users") or [] if isinstance(u, dict)]
        m = (r or {}).get("metrics") or {}
        if not users or not isinstance(m, dict):
            continue
        adm = [u for u in users if u.get("admitted")]
        nodes = {w.get("node") for w in m.get("workers") or [] if isinstance(w, dict)}
        rows.append(Comparison(
            "scale-out (recorded)", "sessions spread over a local Ray cluster (admission at max_sessions)",
            f"{len(adm)} of {len(users)} users admitted over {len(m.get('workers') or [])} workers on {len(nodes)} "
            f"node(s), {len(users) - len(adm)} refused (max_sessions {m.get('max_sessions', '?')}); "
            f"{sum(int(u.get('answered') or 0) for u in adm)} of {sum(int(u.get('frames_sent') or 0) for u in adm)} "
            "frames answered",
            f"backend {m.get('backend', '?')}, cloud mode, loopback; recorded, not this run: "
            f"{r.get('note', 'no note')}",
            "synthetic", f"{MEASURED} (recorded file, not this run): `{_command(r)}`",
            str(MEASUREMENTS_DIR / p.name)))
    return rows


def comparisons(results: dict[str, Any], root: Path | None = None) -> list[Comparison]:
    """Every comparison row this run's results support (none invented for missing results);
    with ``root``, the recorded scale-out rows of :func:`recorded_rows` follow, marked as such."""
    rows: list[Comparison] = []
    for name, fn in (("train", _train_rows), ("07_load", _load_rows), ("partition", _partition_rows),
                     ("early_exit", _early_exit_rows), ("early_exit", _converter_rows), ("early_exit", _exit_exec_rows),
                     ("early_exit", _edgent_exec_rows), ("09_split", _split_rows)):
        if isinstance(results.get(name), dict):
            rows += fn(results[name])
    if root is not None:
        rows += recorded_rows(root)
    return rows


def seed_comparison(results: dict[str, Any], root: Path | None = None) -> Any:
    """The comparison rows as a table (what 08 shows and saves as ``08_seed_comparison.csv``);
    ``root``: also the recorded scale-out rows (see :func:`comparisons`)."""
    import pandas as pd

    cols = [f.name for f in Comparison.__dataclass_fields__.values()]  # type: ignore[attr-defined]
    return pd.DataFrame([r.to_dict() for r in comparisons(results, root)], columns=cols)


# --------------------------------------------------------------------------- headline


def headline(results: dict[str, Any], skipped: list[dict[str, Any]] | None = None) -> list[dict[str, str]]:
    """The few numbers a reviewer wants first, each with what it is measured on.

    Rows: data; model accuracy vs baseline; cloud efficiency ratio; hybrid vs cloud server
    CPU; partition speed-up like for like (as measured, one graph per network: no what-if);
    early-exit share; parts skipped. A row whose notebook did not run says so.
    """
    out: list[dict[str, str]] = []

    def row(what: str, value: str, basis: str) -> None:
        out.append({"what": what, "this run": value, "basis": basis})

    d = results.get("data") or {}
    tr = results.get("train") or {}
    if d:
        kind, n = _data(d), d.get("rows")
        row("data", ("synthetic FER-format faces" if kind == "synthetic" else kind)
            + (f", {n:,} rows" if isinstance(n, int) else ""),
            "generated by `hybridlib data synth`: accuracies are NOT comparable with FER-2013's"
            if kind == "synthetic" else f"file {Path(str(d.get('source') or '?')).name}")
    else:
        row("data", "not recorded", "00_data did not run")
    cnn, base = (tr.get("cnn") or {}), (tr.get("baseline") or {})
    if cnn.get("test_accuracy") is not None and base.get("accuracy") is not None:
        margin = cnn["test_accuracy"] - base["accuracy"]
        row("emotion CNN vs baseline (test accuracy)",
            f"CNN {_pct(cnn['test_accuracy'])} vs logistic baseline {_pct(base['accuracy'])} "
            f"({'+' if margin >= 0 else ''}{100 * margin:.1f} points)",
            f"{MEASURED}, {_data(tr)}, {(tr.get('config') or {}).get('epochs')} epoch(s)")
    else:
        row("emotion CNN vs baseline (test accuracy)", "not measured", "01_train did not run")
    ld = results.get("07_load") or {}
    cr = cloud_ratio(ld) if ld else None
    if cr is None:
        row("cloud efficiency ratio (ours ÷ seed pipeline)", "not measured", "07_load did not run")
    elif cr["like_for_like"]:
        row("cloud efficiency ratio (ours ÷ seed pipeline)",
            f"{_x(cr['value'])} (lowest of {len(cr['per_users'])} equal user counts, at {cr['at_users']})",
            f"{MEASURED}: answered frames per server CPU-s, same user counts")
    else:
        row("cloud efficiency ratio (ours ÷ seed pipeline)", f"{_x(cr['value'])} (not like for like)",
            f"{MEASURED}; {cr['differs']}")
    ratio = ld.get("hybrid_vs_cloud_cpu_ratio") if ld else None
    if ratio is not None:
        client = [h.get("client_ms_per_frame") for h in ld.get("hybrid") or []
                  if isinstance(h, dict) and h.get("client_ms_per_frame") is not None]
        row("hybrid vs cloud server CPU (per user-minute)",
            f"{_pct(ratio, 2)} of cloud's" + (f"; client pays {_span(client)} ms CPU per frame" if client else ""),
            MEASURED + ("; hybrid users = Chromium pages running the app" if ld.get("hybrid_claim")
                        else "; hybrid users fetch the app then idle (client cost not measured)"))
    else:
        row("hybrid vs cloud server CPU (per user-minute)", "not measured", "07_load did not run or had no hybrid run")
    pt = results.get("partition") or {}
    choices = [r for r in pt.get("choices") or [] if r.get("schedule") == "single" and r.get("objective") == "latency"]
    measured_scen = [k for k, s in (pt.get("scenarios") or {}).items()
                     if float(s.get("device_slowdown", 1)) == 1.0 and float(s.get("load", 1)) == 1.0]
    if choices and measured_scen:
        parts = []
        for net, graph in graph_per_network(choices).items():
            sp = [r["speedup_vs_cloud"] for r in choices if r.get("model") == graph
                  and r.get("scenario") == measured_scen[0] and r.get("speedup_vs_cloud") is not None]
            if sp:
                parts.append(f"{net} ({'TF.js' if graph.endswith('@tfjs') else 'Keras'} graph) "
                             f"{_x(sum(sp) / len(sp))} mean, {_x(max(sp))} max")
        row("partition speed-up vs cloud-only, like for like", "; ".join(parts) or "n/a",
            f"{PARTITION_MODEL}; scenario as measured only (what-ifs in the table below, never pooled); "
            f"3G/LTE/Wi-Fi; {_data(pt)}")
    else:
        row("partition speed-up vs cloud-only, like for like", "not measured", "05_partition did not run")
    ee = results.get("early_exit") or {}
    cv = _converter(ee) if isinstance(ee, dict) else None
    if cv is not None:
        w = _op_words(cv)
        sav = cv.get("savings") or {}
        vkey = next((k for k in sav if k.startswith("cloud video")), None)
        saving = ("nothing shipped" if sav.get("crop raw") is None and "crop raw" in sav else
                  f"{_x(sav.get('crop raw'))} less than the raw 48×48 crop"
                  + (f", {_x(sav[vkey])} less than cloud mode's video per frame" if vkey and sav.get(vkey) else ""))
        ex = cv.get("executed") if isinstance(cv.get("executed"), dict) else {}
        page = [r for r in (ex.get("exit_page") or {}).get("summary") or [] if isinstance(r, dict)]
        in_page = ("; in the page (phone): " + ", ".join(f"{r.get('network')} {_pct(r.get('exit_fraction'), 0)} of "
                                                         f"{r.get('n')}" for r in page)) if page else ""
        row("early-exit share at the converter operating point (test inputs answered at the edge)",
            f"{_pct(w['exit'])} at C = {w['C']}, T = {_fmt(w['T'])}; accuracy {w['pts_test']} vs the no-exit model "
            f"(validation {w['pts_val']}); {float(w['bpi'] or 0):.0f} B/input, {saving}{in_page}",
            f"{MEASURED}, {_data(ee)}; chosen on validation, reported on test; seed 004's 95% / 40× not like for "
            "like (its models, data and phone)")
    elif ee.get("edge_exit_fraction") is not None:
        row("early-exit share (test inputs answered at the edge branch; no converter in this result)",
            f"{_pct(ee['edge_exit_fraction'])} (accuracy {_pct(ee.get('overall_acc'))} vs "
            f"{_pct(ee.get('final_acc'))} without exit)", f"{MEASURED}, {_data(ee)}, threshold {_fmt(ee.get('threshold'))}")
    else:
        row("early-exit share", "not measured", "06_early_exit did not run")
    sp = results.get("09_split") or {}
    if sp.get("hit_rate") is not None:
        vc = sp.get("speedup_vs_cloud") or {}
        row("executed split: engine's cut vs the measured best",
            f"{_pct(sp['hit_rate'])} hits over {sp.get('cases')} cases, worst regret {_pct(sp.get('worst_regret'))}"
            + (f"; chosen cut {_x(vc.get('mean'))} mean ({_x(vc.get('max'))} max) faster than cloud-only"
               if vc.get("mean") is not None else ""),
            f"{MEASURED}: every cut run head-in-browser / tail-on-server; {_data(sp)}")
        claims = [c for c in sp.get("like_for_like") or [] if isinstance(c, dict)]
        if claims:
            parts, differs = [], []
            for c in claims:
                unit = c.get("unit", "")
                seed = f"{c.get('seed')} {c.get('short') or c.get('claim')}"
                if c.get("ours") is None:  # no executed case under the seed's conditions: no seed number
                    parts.append(f"{seed}: no case like the seed's ({c.get('conditions')})")
                    continue
                ours = _claim_value(c)
                if not c.get("like_for_like"):  # the one rule: no seed number beside other conditions
                    parts.append(f"{seed}: {ours} over {c.get('cases')} case(s), not like for like "
                                 f"({c.get('conditions')} vs {c.get('seed_conditions')})")
                    continue
                models = [m for m in _matched_models(c) if m not in str(c.get("conditions"))]
                parts.append(f"{seed}: {ours} over {c.get('cases')} case(s) ({c.get('conditions')}"
                             + (f"; models {', '.join(models)}" if models else "") + "; "
                             f"seed {c.get('seed_value')}{unit})")
                differs += [d for d in c.get("differs") or [] if d not in differs]
            row("executed split vs the seeds, like for like (device class, links, model)", "; ".join(parts),
                f"{MEASURED} ÷ {MEASURED}" + ("; still differs: " + "; ".join(differs) if differs else ""))
    else:
        row("executed split", "not measured", "09_split did not run")
    if skipped:
        req = [s for s in skipped if s.get("required")]
        row("parts that did not run", f"{len(skipped)} ({len(req)} required)",
            "; ".join(s["part"] for s in skipped))
    return out


# --------------------------------------------------------------------------- summary files


def _scalars(d: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten the scalar leaves of a result (first two levels) for the markdown table."""
    rows: list[tuple[str, Any]] = []
    if isinstance(d, dict):
        for k, v in d.items():
            key = f"{prefix}{k}"
            if isinstance(v, (int, float, str, bool)) or v is None:
                rows.append((key, v))
            elif isinstance(v, dict) and prefix.count(".") < 1:
                rows.extend(_scalars(v, key + "."))
    return rows


def _cell(v: Any) -> str:
    return _fmt(v).replace("|", "/").replace("\n", " ")


def md_table(rows: list[dict[str, Any]], cols: list[str] | None = None) -> list[str]:
    """A GitHub-markdown table (pipes in cells escaped)."""
    if not rows:
        return []
    cols = cols or list(rows[0])
    return (["| " + " | ".join(c.replace("_", " ") for c in cols) + " |", "|" + "---|" * len(cols)]
            + ["| " + " | ".join(_cell(r.get(c, "")) for c in cols) + " |" for r in rows])


def _skipped_lines(skipped: list[dict[str, Any]]) -> list[str]:
    """The ``skipped: <reason>`` rows: parts a notebook could not run (``ctx.skip``)."""
    if not skipped:
        return []
    out = ["", "## Parts that did not run", "", "| part | notebook | required | status |", "|---|---|---|---|"]
    for s in skipped:
        out.append(f"| {s['part']} | {s.get('notebook') or '?'} | {'yes' if s.get('required') else 'no'} "
                   f"| {s['status'].replace('|', '/')} |")
    return out


def write_summary(ctx, result) -> tuple[Path, Path]:
    """Write ``summary.json`` and ``summary.md`` under ``ctx.reports_dir``.

    ``summary.md`` opens with the headline table, then the like-for-like comparison rows,
    the quoted seed claims, the notebooks and skipped parts, and every result's scalars.
    Paths are repo-relative (see :func:`relativize`)."""
    root = Path(ctx.root)
    results = relativize(load_results(ctx.results_dir), root)
    figures = sorted(str(p.relative_to(ctx.reports_dir)) for p in ctx.figures_dir.glob("*.png"))
    skipped = [{**s, "status": f"skipped: {s['reason']}"} for s in getattr(result, "skipped", [])]
    head = headline(results, skipped)
    rows = [r.to_dict() for r in comparisons(results, root)]
    summary = {"preset": ctx.preset.name, "synthetic": ctx.synthetic, "data": ctx.data_label,
               "headline": head, "comparisons": rows, "seed_claims": list(SEED_CLAIMS),
               "pipeline": relativize(result.to_dict(), root), "skipped": skipped, "figures": figures,
               "results": results}
    jpath = write_json_atomic(ctx.reports_dir / "summary.json", to_jsonable(summary))
    lines = [f"# hybridlib study — preset `{ctx.preset.name}`", "",
             f"Data: **{ctx.data_label}**" + (" — every number below is computed on SYNTHETIC faces, not FER-2013."
                                              if ctx.synthetic else ""),
             "", "## Headline", ""]
    lines += md_table(head)
    lines += ["", "## Comparisons, like for like", "",
              "Each row names its scenario, its data and whether it is measured or modelled. A seed's number "
              "appears in *seed value* only when the conditions match; otherwise *like for like* says what "
              "differs (the seed's figure is in the quoted table below). What-if scenarios are separate rows, "
              "never averaged with measured ones; each network counts once.", ""]
    lines += md_table(rows, ["topic", "quantity", "this_run", "scenario", "data", "basis", "seed", "seed_value",
                             "like_for_like"])
    lines += ["", "## What the seeds report (quoted, their conditions)", ""]
    lines += md_table([{k: c[k] for k in ("seed", "claim", "value", "conditions")} for c in SEED_CLAIMS])
    lines += ["", "## Notebooks", "", "| notebook | status | seconds |", "|---|---|---|"]
    for r in result.runs:
        lines.append(f"| {r.name} | {r.status}{' — ' + _cell(r.error) if r.error else ''} | {r.seconds:.1f} |")
    lines += _skipped_lines(skipped)
    for name, res in results.items():
        kv = [(k, v) for k, v in _scalars(res) if k not in ("preset",)]
        if not kv:
            continue
        lines += ["", f"## {name}", "", "| key | value |", "|---|---|"]
        lines += [f"| {k} | {_cell(v)} |" for k, v in kv[:40]]
    if figures:
        lines += ["", "## Figures", ""] + [f"- ![{Path(f).stem}]({f})" for f in figures]
    mpath = write_text_atomic(ctx.reports_dir / "summary.md", "\n".join(lines) + "\n")
    return jpath, mpath
