"""Execute the converter split in Chromium with :mod:`hybridlib.study.split.execute`'s machinery.

The converter is folded into one chain Keras model ``input → trunk → pool3 → conv_encC →
conv_decC → tail`` (:func:`chain_model`), saved as ``.h5``. Cutting it after ``conv_encC``
makes the page run the edge part (trunk + encoder) in TF.js on wasm under a device class's
CPU throttling and a shaped link, encode the 6×6×C code with the wire codec (uint8 + zlib:
what the page can produce), POST it to the real server's ``/split/conv_encC`` (which runs
restore + tail) and time every stage — bytes on the wire are the request body the page sent.

What is **not** executed here: the branch ``exit1`` in the page and the entropy decision
(the page always ships); in the app, an exited input costs the trunk + branch only.

:func:`execute` runs the chain ``.h5`` through :func:`hybridlib.study.split.execute.execute_grid`'s
``model_path`` argument (the rows are labelled ``emotion_cnn``).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from hybridlib import export
from hybridlib.export.split_assets import example_input
from hybridlib.models.train import save_h5
from hybridlib.export.splits import resolve_layer
from hybridlib.models.networks import layer_inputs, layer_outputs
from hybridlib.study.split import execute as split
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)


def chain_model(model: Any, conv: Any) -> Any:
    """One chain model with the converter's encoder and restore layers spliced in at ``conv.at``."""
    import tf_keras as keras


    enc, dec = conv.encoder.layers[-1], conv.restore.layers[-1]
    i = resolve_layer(model, conv.at)
    at_t = model.get_layer(conv.at).output
    mapping = {id(at_t): dec(enc(at_t))}
    for l in model.layers[: i + 1]:
        for t in layer_outputs(l):
            mapping.setdefault(id(t), t)
    for l in model.layers[i + 1:]:
        ins = [mapping[id(t)] for t in layer_inputs(l)]
        out = l(ins if isinstance(l.get_input_at(0), (list, tuple)) else ins[0])
        for t_old, t_new in zip(layer_outputs(l), out if isinstance(out, (list, tuple)) else [out]):
            mapping[id(t_old)] = t_new
    return keras.Model(model.inputs, mapping[id(model.outputs[0])], name=f"emotion_cnn_conv{conv.channels}")


def save_chain(model: Any, conv: Any, path: str | os.PathLike[str]) -> Path:
    """Save :func:`chain_model` as ``.h5`` (atomic) and return the path; reloaded models have
    single-use layers, so :func:`hybridlib.models.chain_cut_points` sees ``conv_encC`` as a cut."""

    return save_h5(chain_model(model, conv), Path(path))


def execute(h5: str | os.PathLike[str], channels: int, *, devices: tuple[str, ...] = ("phone",),
            networks: tuple[str, ...] = ("lte",), repeats: int = 5, warmup: int = 2, codec: str = "zlib",
            cache_dir: str | os.PathLike[str] | None = None, extra_cuts: tuple[str, ...] = ("input",),
            readback: bool = True) -> pd.DataFrame:
    """Run the converter cut (``conv_enc{channels}``, uint8 + ``codec``) and ``extra_cuts`` in Chromium.

    Returns :func:`hybridlib.study.split.execute.execute_grid`'s tidy frame (per-stage ms, ``up_bytes``).
    """

    h5 = Path(h5)
    if not h5.is_file():
        raise InputError(f"converter chain model {h5} does not exist (save_chain first)")
    cuts = [f"conv_enc{int(channels)}", *extra_cuts]
    df = split.execute_grid("emotion_cnn", cuts, devices=devices, networks=networks, repeats=repeats,
                            warmup=warmup, dtype="uint8", codec=codec, cache_dir=cache_dir or h5.parent,
                            readback=readback, model_path=h5)
    df.attrs["converter_h5"] = str(h5)
    return df


def plan_cut(name: str | None, out_layer: str, channels: int) -> str | None:
    """The chain model's cut that executes an Edgent option named ``name`` (see 06's option names).

    ``device-only`` → the output layer; ``cloud-only …`` → ``input`` (the page uploads the crop);
    ``cut @<layer>`` → that layer; ``exit1 + converter …`` → ``conv_enc{channels}``. ``None`` for
    what cannot run on the chain model (``exit1 only``: the page has no branch) and for
    ``infeasible``/missing plans.
    """
    if not name or name == "infeasible":
        return None
    if name == "device-only":
        return out_layer
    if name.startswith("cloud-only"):
        return "input"
    if name.startswith("cut @"):
        return name[len("cut @"):]
    if name.startswith("exit1 + converter"):
        return f"conv_enc{int(channels)}"
    return None


#: the per-stage medians kept per (cut, network)
STAGE_COLUMNS = ("head_ms", "encode_ms", "upload_ms", "tail_ms", "download_ms", "total_ms", "up_bytes")


def stage_medians(df: pd.DataFrame) -> pd.DataFrame:
    """Median of each stage (:data:`STAGE_COLUMNS`) per (cut, network) of :func:`execute`'s frame."""
    return df.groupby(["cut", "network"])[list(STAGE_COLUMNS)].median().reset_index()


def executed_sample(sample: pd.DataFrame, medians: pd.DataFrame) -> tuple[pd.DataFrame, float | None]:
    """Attach the measured median total to each sampled Edgent plan and say whether it met its deadline.

    ``sample``: rows with ``cut``, ``network``, ``deadline_ms``; ``medians``: :func:`stage_medians`.
    Adds ``measured_ms`` (NaN where the cut was not executed) and ``met`` (``measured_ms <=
    deadline_ms``, None where not measured). Returns the frame and the hit rate over the measured
    rows (None when none was measured).
    """

    for col in ("cut", "network", "deadline_ms"):
        if col not in sample.columns:
            raise InputError(f"sample has no {col!r} column")
    out = sample.merge(medians[["cut", "network", "total_ms"]].rename(columns={"total_ms": "measured_ms"}),
                       on=["cut", "network"], how="left")
    measured = out.measured_ms.notna()
    out["met"] = pd.Series([bool(m <= d) if ok else None for m, d, ok in
                            zip(out.measured_ms, out.deadline_ms, measured)], index=out.index, dtype=object)
    hit = float(out.met[measured].astype(float).mean()) if measured.any() else None
    return out, hit


def executed_result(df: pd.DataFrame, channels: int, networks: Sequence[str], repeats: int, run_s: float,
                    sample: pd.DataFrame, hit_rate: float | None,
                    probs_vs_keras_max_abs: float | None = None) -> dict[str, Any]:
    """The ``converter.executed`` entry of 06's result: stage medians (all cuts and the converter
    cut's own), the Edgent sample with met/missed, the hit rate and the page's read-backs."""
    med = stage_medians(df)
    return {"channels": int(channels), "device": "phone", "networks": list(networks), "repeats": int(repeats),
            "wire": "uint8+zlib", "run_s": float(run_s),
            "converter_stages_median": med[med.cut == f"conv_enc{int(channels)}"].to_dict("records"),
            "stages_median": med.to_dict("records"),
            "edgent_sample": sample.to_dict("records"),
            "edgent_hit_rate": hit_rate,
            "browser_probs_vs_keras_max_abs": probs_vs_keras_max_abs,
            "device_readback": df.attrs.get("device"), "link_readback": df.attrs.get("link")}


def probs_vs_keras(df: pd.DataFrame, h5: str | os.PathLike[str], channels: int, seed: int = 0) -> float:
    """max |browser − Keras| of the converter cut's probabilities on the seeded example input
    (the same input the page ran; uint8 on the wire, so the gap includes quantisation)."""


    km = export.load_model(h5)
    x = example_input(tuple(int(d) for d in km.input_shape[1:]), seed)
    ref = km.predict(x, verbose=0)[0]
    pb = np.asarray(df.attrs["probs"][f"conv_enc{int(channels)}"], dtype=float)
    return float(np.abs(pb - ref).max())
