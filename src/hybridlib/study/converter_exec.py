"""Execute the converter split in Chromium with :mod:`hybridlib.study.split`'s machinery.

The converter is folded into one chain Keras model ``input → trunk → pool3 → conv_encC →
conv_decC → tail`` (:func:`chain_model`), saved as ``.h5``. Cutting it after ``conv_encC``
makes the page run the edge part (trunk + encoder) in TF.js on wasm under a device class's
CPU throttling and a shaped link, encode the 6×6×C code with the wire codec (uint8 + zlib:
what the page can produce), POST it to the real server's ``/split/conv_encC`` (which runs
restore + tail) and time every stage — bytes on the wire are the request body the page sent.

What is **not** executed here: the branch ``exit1`` in the page and the entropy decision
(the page always ships); in the app, an exited input costs the trunk + branch only.

:func:`hybridlib.study.split.execute_grid` takes a model *name* (``emotion_cnn``/``alexnet``) and
resolves it with :func:`hybridlib.study.split.model_h5`; :func:`execute` substitutes this model's
``.h5`` for that lookup for the duration of the call (a documented, scoped patch: the one
change split.py would need is a ``model_path`` argument).
"""
from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

log = logging.getLogger(__name__)


def chain_model(model: Any, conv: Any) -> Any:
    """One chain model with the converter's encoder and restore layers spliced in at ``conv.at``."""
    import tf_keras as keras

    from hybridlib.export.tfjs import _inputs_of, _key, _outputs_of, resolve_layer

    enc, dec = conv.encoder.layers[-1], conv.restore.layers[-1]
    i = resolve_layer(model, conv.at)
    at_t = model.get_layer(conv.at).output
    mapping = {_key(at_t): dec(enc(at_t))}
    for l in model.layers[: i + 1]:
        for t in _outputs_of(l):
            mapping.setdefault(_key(t), t)
    for l in model.layers[i + 1:]:
        ins = [mapping[_key(t)] for t in _inputs_of(l)]
        out = l(ins if isinstance(l.get_input_at(0), (list, tuple)) else ins[0])
        for t_old, t_new in zip(_outputs_of(l), out if isinstance(out, (list, tuple)) else [out]):
            mapping[_key(t_old)] = t_new
    return keras.Model(model.inputs, mapping[_key(model.outputs[0])], name=f"emotion_cnn_conv{conv.channels}")


def save_chain(model: Any, conv: Any, path: str | os.PathLike[str]) -> Path:
    """Save :func:`chain_model` as ``.h5`` (atomic) and return the path; reloaded models have
    single-use layers, so :func:`hybridlib.models.chain_cut_points` sees ``conv_encC`` as a cut."""
    from hybridlib.study.split import _save_h5

    return _save_h5(chain_model(model, conv), Path(path))


@contextlib.contextmanager
def _model_h5_is(h5: Path):
    from hybridlib.study import split

    orig = split.model_h5

    def model_h5(model: str, ctx: Any = None, cache_dir: Any = None) -> Path:
        if model != "emotion_cnn":
            return orig(model, ctx, cache_dir)
        return h5

    split.model_h5 = model_h5
    try:
        yield
    finally:
        split.model_h5 = orig


def execute(h5: str | os.PathLike[str], channels: int, *, devices: tuple[str, ...] = ("phone",),
            networks: tuple[str, ...] = ("lte",), repeats: int = 5, warmup: int = 2, codec: str = "zlib",
            cache_dir: str | os.PathLike[str] | None = None, extra_cuts: tuple[str, ...] = ("input",),
            readback: bool = True) -> pd.DataFrame:
    """Run the converter cut (``conv_enc{channels}``, uint8 + ``codec``) and ``extra_cuts`` in Chromium.

    Returns :func:`hybridlib.study.split.execute_grid`'s tidy frame (per-stage ms, ``up_bytes``).
    """
    from hybridlib.study import split

    h5 = Path(h5)
    if not h5.is_file():
        raise InputError(f"converter chain model {h5} does not exist (save_chain first)")
    cuts = [f"conv_enc{int(channels)}", *extra_cuts]
    with _model_h5_is(h5):
        df = split.execute_grid("emotion_cnn", cuts, devices=devices, networks=networks, repeats=repeats,
                                warmup=warmup, dtype="uint8", codec=codec, cache_dir=cache_dir or h5.parent,
                                readback=readback)
    df.attrs["converter_h5"] = str(h5)
    return df
