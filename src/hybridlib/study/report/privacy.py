"""Rows for 12 (privacy of what is shipped): how much of the face the strongest inversion rebuilds
from each shipped tensor, and how much emotion and linkability survive, beside the raw crop.

The seeds (000, 002, 004) say "features, not faces, leave the phone" in words, with no number, so
no seed value is ever set beside ours: the rows say so."""
from __future__ import annotations

from typing import Any

from hybridlib.study.report.core import MEASURED, Comparison, Headline, fmt_pct, result_data

SRC = "results/privacy.json"
_NO_SEED_NUMBER = "no — 000/002/004 state it in words; no measurement to compare"


def _ci(r: dict[str, Any], k: str, pct: bool) -> str:
    f = (lambda v: fmt_pct(v)) if pct else (lambda v: f"{v:.3f}")
    return f"{f(r[k])} [{f(r[k + '_lo'])}, {f(r[k + '_hi'])}]"


def _float_best(res: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in res.get("best") or [] if isinstance(r, dict) and r.get("wire") == "float32"]


def privacy_rows(res: dict[str, Any]) -> list[Comparison]:
    """One row per shipped tensor (float32 wire; the uint8 rows are in the result): SSIM, PSNR,
    emotion read from the reconstruction and self-match, each with its 95% interval."""
    raw = res.get("raw_crop_emotion_acc") or {}
    rows = []
    for r in _float_best(res):
        rows.append(Comparison(
            "privacy of what is shipped", f"{r['shipped']}: face rebuilt (SSIM, PSNR), emotion read from it, self-match",
            f"SSIM {_ci(r, 'ssim', False)}, {r['psnr_db']:.1f} dB; emotion {_ci(r, 'emotion_acc', True)} "
            f"(raw crop {fmt_pct(raw.get('value'))}); self-match {fmt_pct(r['self_match'])}",
            f"{r['attacker']} inversion trained on {res.get('n_train')} attacker faces, {r.get('n_test')} held-out "
            f"faces; {r['bytes']} bytes/face on the wire; classifier: the emotion CNN (raw crops)",
            result_data(res), MEASURED, SRC, seed="000, 002, 004", like_for_like=_NO_SEED_NUMBER))
    return rows


def add_headline(results: dict[str, Any], out: Headline) -> None:
    """The headline's privacy row: SSIM and emotion recovered per cut, beside the raw crop."""
    res = results.get("privacy") or {}
    best = _float_best(res)
    if not best:  # no row when 12 did not run: its skip record is in the "parts that did not run" row
        return
    raw = (res.get("raw_crop_emotion_acc") or {}).get("value")
    parts = [f"{r['role']} SSIM {r['ssim']:.2f} / emotion {fmt_pct(r['emotion_acc'])}" for r in best]
    out.row("privacy: face rebuilt from the shipped tensor (best inversion, float32)",
            "; ".join(parts) + f" (raw crop emotion {fmt_pct(raw)}, majority class {fmt_pct(res.get('chance_emotion_acc'))})",
            f"{MEASURED}: inversion on held-out faces; {result_data(res)}")
