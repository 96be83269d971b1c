"""Head/tail splits of a tf_keras model: cut after a layer, run both halves.

A cut "after layer L" (position i in the model's topological layer order) sends every tensor
produced at or before i and consumed after i. In a chain that is one tensor; inside an
Inception module it is several (the *cut set*, :func:`hybridlib.models.cut_sets`).
:func:`split_model` builds the head (input → cut set) and the tail (cut set → softmax) as
tf_keras models sharing the original weights; :func:`hybridlib.models.split_points` lists every
boundary the graph allows.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridlib.models.artifacts import load_model
from hybridlib.models.networks import cut_tensors, layer_inputs, layer_outputs, split_points
from hybridlib.utils import InputError

if TYPE_CHECKING:  # pragma: no cover
    import tf_keras


def as_model(model: tf_keras.Model | str | os.PathLike[str]) -> tf_keras.Model:
    """A model object, loading a path (checked, with a message naming the file)."""
    return load_model(model) if isinstance(model, (str, os.PathLike)) else model


def independent_copy(model: tf_keras.Model) -> tf_keras.Model:
    """A weight-sharing-free copy, so building sub-models never adds nodes to ``model``."""
    import tf_keras as keras

    c = keras.models.clone_model(model)
    c.set_weights(model.get_weights())
    return c


@dataclass
class Split:
    """A cut after ``layer`` (index ``index`` in ``model.layers``)."""

    layer: str
    index: int
    head: Any  # tf_keras.Model: input → cut tensors (in ``cut`` order)
    tail: Any  # tf_keras.Model: cut tensors → output
    cut: list[str] = field(default_factory=list)  # producer layer of each cut tensor
    shapes: list[tuple[int, ...]] = field(default_factory=list)  # without batch

    @property
    def n_tensors(self) -> int:
        return len(self.cut)

    @property
    def cut_bytes(self) -> int:
        """fp32 bytes one sample sends across this cut."""
        return int(sum(4 * np.prod(s) for s in self.shapes))


def resolve_layer(model: tf_keras.Model, layer: str | int) -> int:
    """Index in ``model.layers`` of a layer given by name or index; errors list valid names."""
    names = [l.name for l in model.layers]
    if isinstance(layer, int) or (isinstance(layer, str) and layer.lstrip("-").isdigit()):
        i = int(layer)
        if not 0 <= i < len(names):
            raise InputError(f"split layer index {i} out of range 0..{len(names) - 1}")
        return i
    if layer not in names:
        pts = split_points(model)
        raise InputError(f"split layer {layer!r} is not in model {model.name!r}; valid: "
                         f"{', '.join(pts[:12])}{' …' if len(pts) > 12 else ''}")
    return names.index(layer)


def split_model(model: tf_keras.Model | str | os.PathLike[str], layer: str | int,
                copy: bool = True) -> Split:
    """Head (input → cut set) and tail (cut set → output) for a cut after ``layer``.

    The cut set is every tensor made at or before ``layer`` (in topological order) and used
    after it (:func:`hybridlib.models.cut_tensors`); its order is the order of the producers
    in ``model.layers``. The tail's
    inputs are named ``cut_<producer>``. With ``copy`` (default) both halves get their own
    copy of the weights; ``copy=False`` shares ``model``'s layers (cheap when cutting one
    model many times; it adds call nodes to ``model``'s layers, harmless for inference).
    """
    import tf_keras as keras

    model = as_model(model)
    if copy:
        model = independent_copy(model)
    layers = model.layers
    i = resolve_layer(model, layer)
    name = layers[i].name
    cuts = cut_tensors(model)
    if name not in cuts or isinstance(layers[i], keras.layers.InputLayer):
        raise InputError(f"cannot split after {name!r}: it is the model's input or output")
    order = cuts[name]
    head = keras.Model(model.inputs, [t for _, t in order] if len(order) > 1 else order[0][1],
                       name=f"head_{name}")
    mapping: dict[int, Any] = {}
    tail_inputs = []
    for j, t in order:
        inp = keras.Input(shape=tuple(t.shape[1:]), name=f"cut_{layers[j].name}")
        mapping[id(t)] = inp
        tail_inputs.append(inp)
    for l in layers[i + 1:]:
        ins = [mapping[id(t)] for t in layer_inputs(l)]
        out = l(ins if isinstance(l.get_input_at(0), (list, tuple)) else ins[0])
        for t_old, t_new in zip(layer_outputs(l), out if isinstance(out, (list, tuple)) else [out]):
            mapping[id(t_old)] = t_new
    tail = keras.Model(tail_inputs if len(tail_inputs) > 1 else tail_inputs[0],
                       [mapping[id(t)] for t in model.outputs] if len(model.outputs) > 1
                       else mapping[id(model.outputs[0])], name=f"tail_{name}")
    return Split(layer=name, index=i, head=head, tail=tail, cut=[layers[j].name for j, _ in order],
                 shapes=[tuple(int(d) for d in t.shape[1:]) for _, t in order])


def run_split(split: Split, x: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Head then tail in Keras (the reference the browser split must match)."""
    out = []
    for i in range(0, len(x), batch_size):  # eager calls: no tf.function tracing per sub-model
        h = split.head(x[i:i + batch_size], training=False)
        out.append(np.asarray(split.tail(h, training=False)))
    return np.concatenate(out)
