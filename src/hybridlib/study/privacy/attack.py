"""12's steps: the tensors that leave the phone, an attacker's inversions of them, and the scores.

Threat model: an honest-but-curious server (or anyone on the link) sees every tensor the phone
ships and owns faces of its own from the same distribution. It trains inversion models on its own
(tensor, face) pairs (here: the Training split) and rebuilds the held-out faces (the PrivateTest
split) from their tensors. Its classifier is the emotion CNN itself — trained on raw crops, never
on reconstructions — so "emotion recovered" is what an off-the-shelf classifier reads from the
rebuilt face, compared with what it reads from the raw crop.

What is shipped, per cut: the emotion CNN's cut tensor at an early, a middle and a late cut point
(:data:`CUTS`), the early-exit converter's code (``conv_encC`` of 06's bundle, when 06 saved one),
each as float32 and as the uint8 wire tensor; the identity cut (raw pixels) and a constant tensor
bracket them.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from hybridlib import models, stats, wire
from hybridlib.export import exit_bundle, split_assets
from hybridlib.study.privacy import invert, metrics
from hybridlib.utils import InputError

log = logging.getLogger(__name__)

#: (role, layer) of the emotion CNN's cut tensors attacked: after the first pooling (24×24×32),
#: after the middle Inception block's pooling (6×6×192), the last hidden dense layer (512)
CUTS: tuple[tuple[str, str], ...] = (("early", "pool1"), ("middle", "pool3"), ("late", "dense2"))
IDENTITY, CONSTANT, CONVERTER = "identity", "constant", "converter"
WIRES = ("float32", "uint8")


@dataclass(frozen=True)
class Sizes:
    """How many faces the attacker trains on and is scored on, and the conv decoder's epochs
    (0: ridge only)."""

    n_train: int
    n_test: int
    epochs: int
    width: int = 16
    n_examples: int = 8

    def __post_init__(self) -> None:
        if self.n_train < 2 or self.n_test < 2 or self.epochs < 0 or self.n_examples < 1:
            raise InputError(f"privacy sizes must be positive (≥ 2 faces per split): {self}")


def sizes_for(preset: Any) -> Sizes:
    """The preset's privacy sizes (``Preset.privacy_*`` fields)."""
    return Sizes(int(preset.privacy_train), int(preset.privacy_test), int(preset.privacy_epochs))


@dataclass
class Shipped:
    """One thing that leaves the phone: its tensors for the train and test faces."""

    name: str      # e.g. "early (pool1)"
    role: str      # identity | early | middle | late | converter | constant
    layer: str
    train: np.ndarray
    test: np.ndarray


@dataclass
class Result:
    """Rows (one per shipped thing × wire × attacker), the reference accuracies, examples for the figure."""

    rows: pd.DataFrame
    raw_accuracy: dict[str, Any]
    chance: float
    examples: dict[str, np.ndarray] = field(default_factory=dict)  # name → n_examples×48×48 (best attacker, float32)
    seconds: dict[str, float] = field(default_factory=dict)


def check_cuts(model: Any, cuts: tuple[tuple[str, str], ...] = CUTS) -> list[tuple[str, str]]:
    """``cuts`` whose layers are one-tensor cut points of ``model`` (else an error naming them)."""
    chain = set(models.chain_cut_points(model))
    bad = [layer for _, layer in cuts if layer not in chain]
    if bad:
        raise InputError(f"cut(s) {', '.join(bad)} are not one-tensor cut points of {model.name}; "
                         f"choose from {', '.join(models.chain_cut_points(model))}")
    return list(cuts)


def cut_tensors(model: Any, x: np.ndarray, layers: list[str], batch_size: int = 256) -> list[np.ndarray]:
    """The tensors the split heads at ``layers`` would ship for inputs ``x`` (N×48×48×1 in [0, 1]).
    One multi-output model so the trunk runs once; each output is exactly the head of
    :func:`hybridlib.export.split_model` at that one-tensor cut."""
    import tf_keras as keras

    head = keras.Model(model.inputs, [model.get_layer(n).output for n in layers], name="privacy_heads")
    parts = [_eager(head, x[i:i + batch_size]) for i in range(0, len(x), batch_size)]
    return [np.concatenate([p[k] for p in parts]).astype(np.float32) for k in range(len(layers))]


def _eager(model: Any, x: np.ndarray) -> list[np.ndarray]:
    """``model`` called eagerly on one batch, outputs as a list. Why not ``predict``: every new
    batch size retraces its tf.function (seconds each on this box), and 12 calls it a dozen times."""
    out = model(x, training=False)
    return [np.asarray(o) for o in (out if isinstance(out, (list, tuple)) else [out])]


def converter_tensors(bundle_dir: str | Path, x: np.ndarray) -> tuple[str, np.ndarray, dict[str, Any]]:
    """The early-exit converter's code for ``x``: the ``conv_encC`` output of 06's bundle chain
    model (what the exit page posts for an input that does not exit). Raises InputError when the
    bundle is missing or incomplete."""
    meta = exit_bundle.read_bundle(bundle_dir)
    chain = split_assets.load_h5(meta["chain_h5"])
    (code,) = cut_tensors(chain, x, [meta["cut"]])
    return meta["cut"], code, meta


def shipped_set(model: Any, xtr: np.ndarray, xte: np.ndarray, cuts: list[tuple[str, str]],
                converter_dir: str | Path | None = None) -> tuple[list[Shipped], str | None]:
    """Everything attacked: identity, the cuts, the converter code (if its bundle reads; else the
    reason it was left out is returned), a constant tensor."""
    layers = [layer for _, layer in cuts]
    tr, te = cut_tensors(model, xtr, layers), cut_tensors(model, xte, layers)
    out = [Shipped("identity (raw pixels)", IDENTITY, "input", xtr, xte)]
    out += [Shipped(f"{role} ({layer})", role, layer, a, b) for (role, layer), a, b in zip(cuts, tr, te)]
    why_not = None
    if converter_dir is not None:
        try:
            cut, ctr, meta = converter_tensors(converter_dir, xtr)
            _, cte, _ = converter_tensors(converter_dir, xte)
            out.append(Shipped(f"converter ({cut}, at {meta.get('at')})", CONVERTER, cut, ctr, cte))
        except (InputError, OSError) as e:
            why_not = str(e)
    else:
        why_not = "no converter bundle given"
    out.append(Shipped("constant tensor", CONSTANT, "-", np.zeros((len(xtr), 8), np.float32),
                       np.zeros((len(xte), 8), np.float32)))
    return out, why_not


def classify_with(model: Any, batch_size: int = 256) -> Callable[[np.ndarray], np.ndarray]:
    """The attacker's classifier: ``model``'s arg-max class for N×48×48×1 faces in [0, 1]."""
    def classify(faces: np.ndarray) -> np.ndarray:
        probs = [_eager(model, faces[i:i + batch_size])[0] for i in range(0, len(faces), batch_size)]
        return np.concatenate(probs).argmax(axis=1)
    return classify


def score(recon: np.ndarray, faces: np.ndarray, labels: np.ndarray,
          classify: Callable[[np.ndarray], np.ndarray]) -> dict[str, Any]:
    """SSIM and PSNR (mean, bootstrap 95% interval), the classifier's accuracy on the
    reconstructions (Wilson 95%) and the self-match share (Wilson 95%, chance 1/N)."""
    s, p = metrics.ssim(recon, faces), metrics.psnr(recon, faces)
    pred = classify(recon)
    hit = pred == np.asarray(labels)
    match = metrics.self_match(recon, faces)
    est = {"ssim": stats.bootstrap(s), "psnr_db": stats.bootstrap(p), "emotion_acc": stats.share(hit),
           "self_match": stats.share(match)}
    out: dict[str, Any] = {}
    for k, e in est.items():
        out[k], out[f"{k}_lo"], out[f"{k}_hi"] = e.value, e.lo, e.hi
    out["n_test"] = int(len(faces))
    out["pred_classes"] = int(len(np.unique(pred)))
    return out


def _wire_bytes(t: np.ndarray, dtype: str) -> int:
    return wire.wire_bytes(t, dtype=dtype, codec="none")


def run(model: Any, xtr: np.ndarray, xte: np.ndarray, yte: np.ndarray, sizes: Sizes,
        cuts: tuple[tuple[str, str], ...] = CUTS, converter_dir: str | Path | None = None,
        conv_roles: tuple[str, ...] = ("late",)) -> tuple[Result, str | None]:
    """All of 12: tensors, both attackers on float32 and uint8 tensors, scores; ``xtr``/``xte`` are
    preprocessed faces (N×48×48×1 in [0, 1]). The conv decoder is trained once per cut on float32
    tensors and scored on both (the uint8 rows' ridge is refitted on dequantised uint8 tensors);
    it runs for ``conv_roles`` only (on the identity ridge is exact given more faces than pixels, on a
    constant it is the mean face: nothing for a decoder to add)."""
    t0 = time.perf_counter()
    cuts_ok = check_cuts(model, cuts)
    shipped, why_not = shipped_set(model, xtr, xte, cuts_ok, converter_dir)
    classify = classify_with(model)
    sec = {"tensors": time.perf_counter() - t0}
    raw_pred = classify(xte)
    raw = stats.share(raw_pred == yte)
    chance = float(np.bincount(yte).max() / len(yte))
    rows, examples = [], {}
    ex = slice(0, min(sizes.n_examples, len(xte)))
    t1 = time.perf_counter()
    for s in shipped:
        conv = None
        if s.role in conv_roles and sizes.epochs > 0:
            conv = invert.fit_conv_decoder(s.train, xtr, epochs=sizes.epochs, width=sizes.width)
        best: tuple[float, np.ndarray] | None = None
        for w in (("float32",) if s.role == CONSTANT else WIRES):
            tr = s.train if w == "float32" else invert.uint8_roundtrip(s.train)
            te = s.test if w == "float32" else invert.uint8_roundtrip(s.test)
            base = {"shipped": s.name, "role": s.role, "layer": s.layer, "wire": w,
                    "values": int(np.prod(s.test.shape[1:])),
                    "bytes": _wire_bytes(s.test[:1], w) if s.role != CONSTANT else 0}
            attackers = [("ridge", invert.RidgeInverter().fit(tr, xtr))]
            if conv is not None:
                attackers.append(("conv decoder (trained on float32)", conv))
            for name, inv in attackers:
                rec = inv.predict(te)
                sc = score(rec, xte, yte, classify)
                rows.append({**base, "attacker": name, **sc})
                if w == "float32" and (best is None or sc["ssim"] > best[0]):
                    best = (sc["ssim"], rec[ex, ..., 0])
        if best is not None:
            examples[s.name] = best[1]
    sec["attacks"] = time.perf_counter() - t1
    df = pd.DataFrame(rows)
    res = Result(df, {"value": raw.value, "lo": raw.lo, "hi": raw.hi, "n": raw.n}, chance,
                 {"original": xte[ex, ..., 0], **examples}, sec)
    return res, why_not


def best_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Per shipped thing × wire, the attacker with the highest SSIM (the privacy-relevant one)."""
    idx = df.groupby(["shipped", "wire"], sort=False)["ssim"].idxmax()
    return df.loc[idx].reset_index(drop=True)


def to_json(res: Result, why_not: str | None, sizes: Sizes) -> dict[str, Any]:
    """results/privacy.json: every row, the best attacker per cut, the references, what was left out."""
    best = best_rows(res.rows)
    return {"rows": res.rows.to_dict("records"), "best": best.to_dict("records"),
            "raw_crop_emotion_acc": res.raw_accuracy, "chance_emotion_acc": res.chance,
            "self_match_chance": 1.0 / sizes.n_test if sizes.n_test else None,
            "n_train": sizes.n_train, "n_test": sizes.n_test, "epochs": sizes.epochs,
            "converter_left_out": why_not,
            "identity_note": "the synthetic faces have no persons (each face is an independent draw of skin, "
                             "hair, pose and expression), so face identity cannot be attacked; self_match "
                             "(a reconstruction's nearest test face is its own source) stands in for it",
            "attacker_classifier": "the emotion CNN (trained on raw crops, never on reconstructions)",
            "seconds": res.seconds}
