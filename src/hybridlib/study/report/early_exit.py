"""Rows for 06 (early exit): the BranchyNet branch, the converter's operating point
and its uplink savings, the exit executed in the page, and Edgent's plans executed — each beside
seed 004 only if alike (it never is here: the seed's models, data and phone differ, which every
row says). :func:`missing_parts` names the inputs an older result lacks, so the report skips
them with a reason instead of inventing a row."""
from __future__ import annotations

from typing import Any

from hybridlib.study.report.core import MEASURED, Comparison, Headline, result_data, fmt_value, fmt_pct, seed_fields, fmt_ratio


def early_exit_rows(res: dict[str, Any]) -> list[Comparison]:
    rows: list[Comparison] = []
    data, src = result_data(res), "results/early_exit.json"
    differs = ["the seed's ResNet/MobileNet converter on its image test set (Mate10 Pro); here a BranchyNet "
               f"branch after {res.get('branch_at')} of the emotion CNN"]
    if res.get("edge_exit_fraction") is not None:
        rows.append(Comparison(
            "early exit", "test inputs that exit at the edge branch (BranchyNet threshold alone, before the converter)",
            f"{fmt_pct(res['edge_exit_fraction'])} (overall accuracy {fmt_pct(res.get('overall_acc'))} vs final exit "
            f"{fmt_pct(res.get('final_acc'))})", f"threshold {fmt_value(res.get('threshold'))} chosen on validation "
            f"({res.get('threshold_rule', '')})", data, MEASURED, src,
            **seed_fields("004-exit", ([] if data == "FER-2013" else ["synthetic data"]) + differs)))
    return rows


#: what always differs from seed 004 here (its model, data and hardware), said on every 004 row
_DIFFERS_004 = ("004: ResNet/MobileNet on its image test set, a Mate10 Pro mobile GPU (TVM) and Huawei Cloud; "
                "here the emotion CNN's converter at {at}, Chromium/TF on this machine")


def _differs_004(res: dict[str, Any]) -> list[str]:
    """What differs from seed 004's conditions for a row of 06's result (never empty here: the
    seed's models, data and phone are not ours; synthetic data is named first when so)."""
    return ([] if result_data(res) == "FER-2013" else ["synthetic data"]) + \
        [_DIFFERS_004.format(at=res.get("branch_at", "?"))]


def _converter(res: dict[str, Any]) -> dict[str, Any] | None:
    """06's converter section when it has an operating point, else None."""
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


def _executed(cv: dict[str, Any]) -> dict[str, Any]:
    """The converter's ``executed`` section (06 run in Chromium), ``{}`` when it did not run."""
    return cv.get("executed") if isinstance(cv.get("executed"), dict) else {}


def _executed_part(res: dict[str, Any], key: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    """06's converter, its ``executed`` section and that section's ``key`` (None when 06 did
    not record it): what the executed rows start from."""
    cv = _converter(res) or {}
    ex = _executed(cv)
    return cv, ex, ex.get(key) if isinstance(ex.get(key), dict) else None


def converter_rows(res: dict[str, Any]) -> list[Comparison]:
    """The converter's operating point (06): C, T, exit share, accuracy change, bytes per
    input and the savings against shipping the picture, each beside seed 004's claim only if
    alike (it never is here: the seed's models, data and phone differ, which the row says)."""
    cv = _converter(res)
    if cv is None:
        return []
    rows: list[Comparison] = []
    data, src = result_data(res), "results/early_exit.json (converter)"
    w = _op_words(cv)
    cap = cv.get("max_exit")
    rule = (f"chosen on validation: fewest bytes per input with accuracy ≥ no-exit − {fmt_value(cv.get('budget'))}"
            + (f" and at most {fmt_pct(cap, 0)} exiting" if cap is not None else "") + "; reported on test")
    if cv.get("operating_rule"):  # 06 since the interval rule: its own words (no cap)
        rule = f"chosen on validation: {cv['operating_rule']}; reported on test"
    if cv.get("branch_alone_within_budget_val") and cap is not None:
        rule += ("; the branch alone was within the budget on validation (the bare rule would exit every input), "
                 f"the {fmt_pct(cap, 0)} cap keeps a converter path")
    if cap is not None and w["exit_val"] is not None and float(w["exit_val"]) >= float(cap) - 0.01:
        rule += f"; the exit share sits at the cap: {fmt_pct(cap, 0)} is 004's figure, set by the rule, not found"
    differs = _differs_004(res)
    at = f"operating point C = {w['C']}, T = {fmt_value(w['T'])} (chosen on validation), test split"
    rows.append(Comparison(
        "early exit (converter)", "operating point: C, T, test inputs exited at the edge, accuracy change vs the "
        "no-exit model (test; validation where chosen)",
        f"C = {w['C']} (uint8 + {w['codec']}), T = {fmt_value(w['T'])}: {fmt_pct(w['exit'])} exit at the edge, {w['pts_test']} "
        f"({fmt_pct(w['acc'])} vs {fmt_pct(w['ref'])}) on test; validation {fmt_pct(w['exit_val'])} exit, {w['pts_val']}",
        rule, data, MEASURED + " (accuracy after the uint8 wire decode)", src,
        **seed_fields("004-exit", differs + ["004 counts images correctly classified at the edge; here the share "
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
            ", ".join(f"{fmt_ratio(sav[k])} vs {k.removeprefix('crop ')} ({float(alts.get(k, 0)):.0f} B)" for k in crops),
            f"per input; {at}", data, MEASURED + " (encoded bodies, OpenCV PNG/JPEG)", src,
            **seed_fields("004-bandwidth", differs + ["004's baseline is the captured image; here the 48×48 "
                                                   "face crop"])))
    video = cv.get("video") if isinstance(cv.get("video"), dict) else None
    vkey = next((k for k in sav if k.startswith("cloud video")), None)
    if video and vkey:
        fs = video.get("frame_size") or ["?", "?"]
        rows.append(Comparison(
            "early exit (converter)", "uplink saving vs the cloud mode's video bytes per frame",
            ("nothing shipped at the operating point (no ratio)" if sav[vkey] is None else
             f"{fmt_ratio(sav[vkey])} ({float(video['bytes_per_frame']):.0f} B/frame vs {float(w['bpi']):.0f} B/input)"),
            f"cloud mode: whole {fs[0]}×{fs[1]} camera frame, VP8 over WebRTC at {fmt_value(video.get('fps'))} fps "
            f"({video.get('source', 'source not recorded')}); converter {at}", data, MEASURED, src,
            **seed_fields("004-bandwidth", differs + ["004 sends single images, not a video stream"])))
    return rows + decomposition_rows(res)


def _ci(e: dict[str, Any] | None, kind: str = "pct") -> str:
    """``value [lo, hi]`` of an estimate recorded by 06's decomposition (shares %, changes in points, ratios ×)."""
    if not isinstance(e, dict) or e.get("value") is None:
        return "n/a"
    f = {"pct": lambda v: f"{100 * v:.1f}%", "pts": lambda v: f"{100 * v:+.1f}", "x": lambda v: f"{v:.0f}×",
         "x1": lambda v: f"{v:.1f}×", "B": lambda v: f"{v:.1f} B"}[kind]
    g = lambda v: "∞" if v is None else f(v)
    return f"{g(e['value'])} [{g(e.get('lo'))}, {g(e.get('hi'))}]"


def _dec_words(d: dict[str, Any]) -> str:
    """A decomposition in one line: exit share, correct at the edge, exited/shipped accuracy, the
    paired change, bytes and the ratios vs the raw crop — each with its 95% interval."""
    raw = (d.get("ratios") or {}).get("crop raw") or {}
    res = d.get("resolvable_difference")
    return (f"exit {_ci(d.get('exit_share'))}, correct at the edge {_ci(d.get('correct_at_edge'))}, exited accuracy "
            f"{_ci(d.get('exited_acc'))}, shipped accuracy {_ci(d.get('shipped_acc'))}; change vs the full model "
            f"{_ci(d.get('acc_difference'), 'pts')} points (paired; resolves "
            f"{'n/a' if res is None else f'{100 * res:.1f}'} points); {_ci(d.get('bytes_per_shipped'), 'B')} per shipped "
            f"input, {_ci(d.get('bytes_per_input'), 'B')} per input; vs the raw crop "
            f"{_ci(raw.get('per_input'), 'x') if raw.get('per_input') else '∞ (none shipped)'} per input, "
            f"{_ci(raw.get('per_shipped'), 'x1')} per shipped input")


def decomposition_rows(res: dict[str, Any]) -> list[Comparison]:
    """06's operating point decomposed with 95% intervals (test, test + extra synthetic faces, the
    page) and the goal (≥ 40× vs the raw crop per input at ≤ 1 point loss) with its interval."""
    cv = _converter(res)
    dd = (cv or {}).get("decomposition")
    if not isinstance(dd, dict):
        return []
    data, src = result_data(res), "results/early_exit.json (converter.decomposition)"
    w = _op_words(cv)
    at = f"C = {w['C']}, T = {fmt_value(w['T'])} (chosen on validation: {cv.get('operating_rule', '?')})"
    rows = []
    ex = (dd.get("extra") or {})
    for key, label in (("test", "the test split"), ("enlarged", f"test + {ex.get('n', 0)} extra synthetic faces "
                                                                f"(generator seeds {ex.get('seeds')})")):
        d = dd.get(key)
        if isinstance(d, dict):
            rows.append(Comparison("early exit (decomposed)", f"operating point decomposed, 95% intervals, on {label} "
                                   f"(n = {d['n']})", _dec_words(d), at, data,
                                   MEASURED + " (Wilson / bootstrap / paired bootstrap)", src))
    g = dd.get("goal")
    page = ((_executed(cv).get("exit_page") or {}).get("decomposition"))
    for name, gg, n in (("Keras, largest set", g, (dd.get("enlarged") or dd.get("test") or {}).get("n")),
                        ("in the page", (page or {}).get("goal"), (page or {}).get("n"))):
        if isinstance(gg, dict):
            x = lambda v, d=0: "∞" if v is None else f"{v:.{d}f}×"
            rows.append(Comparison(
                "early exit (decomposed)", f"goal ≥ 40× vs the raw crop per input at ≤ 1 point loss ({name}, n = {n})",
                f"{'met' if gg.get('met') else 'NOT met'} on the point values, "
                f"{'met' if gg.get('met_with_interval') else 'not met'} with the intervals: "
                f"{x(gg.get('ratio_per_input'))} per input (lower bound {x(gg.get('ratio_per_input_lo'))}), "
                f"{'n/a' if gg.get('ratio_per_shipped') is None else x(gg['ratio_per_shipped'], 1)} per shipped input; "
                f"change {100 * gg['acc_difference']:+.1f} points [{100 * gg['acc_difference_lo']:+.1f}, "
                f"{100 * gg['acc_difference_hi']:+.1f}]", at, data, MEASURED, src))
    return rows


def exit_exec_rows(res: dict[str, Any]) -> list[Comparison]:
    """06's early exit executed in Chromium (``converter.executed.exit_page``): the share the
    page answered itself, bytes per input, and whether its decisions are Keras's."""
    cv, ex, page = _executed_part(res, "exit_page")
    if not page:
        return []
    rows: list[Comparison] = []
    data, src = result_data(res), "results/early_exit.json (converter.executed.exit_page)"
    T, C = page.get("threshold"), ex.get("channels", cv["operating_point"].get("channels"))
    for r in page.get("summary") or []:
        acc = f", accuracy {fmt_pct(r['accuracy'])}" if r.get("accuracy") is not None else ""
        rows.append(Comparison(
            "early exit executed", "in-page exit share and uplink bytes per input (TF.js edge model + real server)",
            f"{fmt_pct(r.get('exit_fraction'), 0)} answered in the page, {float(r.get('bytes_per_input', 0)):.0f} B/input"
            f"{acc}", f"{r.get('device')} class (DevTools CPU throttle), {r.get('network')} link, {r.get('n')} test "
            f"faces, T = {fmt_value(T)}, C = {fmt_value(C)}, {page.get('codec', '?')}", data,
            MEASURED + " (executed in Chromium)", src))
    vk = page.get("vs_keras") if isinstance(page.get("vs_keras"), dict) else None
    if vk and vk.get("decision_agreement") is not None:
        agree = float(vk["decision_agreement"])
        rows.append(Comparison(
            "early exit executed", "page's exit decisions identical to Keras on the same inputs",
            f"{'yes' if agree == 1.0 else 'NO'}: {fmt_pct(agree, 0)} of {vk.get('n')} agree; branch probabilities max "
            f"abs Δ {float(vk.get('branch_probs_max_abs', float('nan'))):.1e}, code max abs Δ "
            f"{float(vk.get('code_max_abs', float('nan'))):.1e}",
            f"first network's run ({(page.get('summary') or [{}])[0].get('network', '?')}) vs the Keras edge model, "
            f"T = {fmt_value(T)}", data, MEASURED + " (page vs Keras)", src))
    return rows


def edgent_exec_rows(res: dict[str, Any]) -> list[Comparison]:
    """Edgent's sampled plans executed in Chromium, per cost model: deadlines met over plans
    executed, and the median predicted ÷ measured latency."""
    _, ex, by = _executed_part(res, "edgent_by_cost_model")
    if not by:
        return []
    rows: list[Comparison] = []
    data, src = result_data(res), "results/early_exit.json (converter.executed.edgent_by_cost_model)"
    nets = "/".join(ex.get("networks") or []) or "?"
    dl = "/".join(fmt_value(d) for d in sorted({float(r["deadline_ms"]) for r in ex.get("edgent_sample") or []
                                            if isinstance(r, dict) and r.get("deadline_ms") is not None})) or "?"
    for cm, v in by.items():
        n, hit = int(v.get("executed") or 0), v.get("hit_rate")
        met = "none executed" if not n or hit is None else f"{round(hit * n)} of {n} met ({fmt_pct(hit, 0)})"
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
    converter, its in-page execution and Edgent's executed plans. An older
    ``early_exit.json`` lacks the newer sections; the report then says so instead of a row."""
    ee = results.get("early_exit")
    parts = ("08 converter operating point", "08 early exit executed in the page", "08 Edgent executed")
    if not isinstance(ee, dict):
        return [(p, "results/early_exit.json missing: 06_early_exit did not run") for p in parts]
    out: list[tuple[str, str]] = []
    cv = _converter(ee)
    if cv is None:
        return [(p, "results/early_exit.json has no converter operating point (06 ran before it had "
                    "the converter)") for p in parts]
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

def add_headline(results: dict[str, Any], out: Headline) -> None:
    """The headline's early-exit row: the converter operating point, else the branch alone."""
    ee = results.get("early_exit") or {}
    cv = _converter(ee) if isinstance(ee, dict) else None
    if cv is not None:
        w = _op_words(cv)
        sav = cv.get("savings") or {}
        vkey = next((k for k in sav if k.startswith("cloud video")), None)
        saving = ("nothing shipped" if sav.get("crop raw") is None and "crop raw" in sav else
                  f"{fmt_ratio(sav.get('crop raw'))} less than the raw 48×48 crop"
                  + (f", {fmt_ratio(sav[vkey])} less than cloud mode's video per frame" if vkey and sav.get(vkey) else ""))
        ex = _executed(cv)
        page = [r for r in (ex.get("exit_page") or {}).get("summary") or [] if isinstance(r, dict)]
        in_page = ("; in the page (phone): " + ", ".join(f"{r.get('network')} {fmt_pct(r.get('exit_fraction'), 0)} of "
                                                         f"{r.get('n')}" for r in page)) if page else ""
        pdec = (ex.get("exit_page") or {}).get("decomposition")
        if isinstance(pdec, dict):  # the page's own run is the headline: its answers, its bytes, 95% intervals
            g = pdec.get("goal") or {}
            out.row(f"early exit executed in the page (phone, {pdec['n']} distinct test faces, C = {w['C']}, "
                    f"T = {fmt_value(w['T'])})", _dec_words(pdec) + f"; goal ≥ 40× at ≤ 1 point: "
                    f"{'met' if g.get('met') else 'not met'} (point), "
                    f"{'met' if g.get('met_with_interval') else 'not met'} (interval)",
                    f"{MEASURED} in Chromium, {result_data(ee)}; 95% intervals (Wilson / bootstrap / paired bootstrap "
                    "vs the full model on the same faces); seed 004's 95% / 40× not like for like")
        out.row("early-exit share at the converter operating point (test inputs answered at the edge)",
                f"{fmt_pct(w['exit'])} at C = {w['C']}, T = {fmt_value(w['T'])}; accuracy {w['pts_test']} vs the no-exit model "
                f"(validation {w['pts_val']}); {float(w['bpi'] or 0):.0f} B/input, {saving}{in_page}",
                f"{MEASURED}, {result_data(ee)}; chosen on validation, reported on test; seed 004's 95% / 40× not like for "
                "like (its models, data and phone)")
    elif ee.get("edge_exit_fraction") is not None:
        out.row("early-exit share (test inputs answered at the edge branch; no converter in this result)",
                f"{fmt_pct(ee['edge_exit_fraction'])} (accuracy {fmt_pct(ee.get('overall_acc'))} vs "
                f"{fmt_pct(ee.get('final_acc'))} without exit)",
                f"{MEASURED}, {result_data(ee)}, threshold {fmt_value(ee.get('threshold'))}")
    else:
        out.row("early-exit share", "not measured", "06_early_exit did not run")
