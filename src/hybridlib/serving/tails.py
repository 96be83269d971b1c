"""The server's tail models: the part of a network the cloud runs after a cut."""
from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from hybridlib import export
from hybridlib.utils import InputError


class TailRunner:
    """Loads the ``.h5`` once and caches the tail sub-model of every requested cut.

    Each single-tensor tail is compiled once into a ``tf.function`` (input signature
    ``None×shape`` float32, so any batch reuses one graph) and warmed up on zeros when the cut
    is first requested. Why: the partition engine's cloud costs are profiled as one compiled
    call of the whole model; an eager Keras call per request costs several times that on a
    small CNN (executed splits measured the cloud side slower than predicted), so an executed
    split would not match the profile it was planned on. ``compiled=False`` keeps the eager call (for the
    before/after measurement and as a fallback). ``model``: ``model_path`` already loaded.
    """

    def __init__(self, model_path: Path | None, compiled: bool = True, model: Any = None):
        self.model_path = model_path
        self.compiled = compiled
        self._model: Any = model
        self._tails: dict[str, Any] = {}
        self._fns: dict[str, Callable[[Any], Any]] = {}
        self._lock = threading.Lock()

    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                if self.model_path is None:
                    raise InputError("this server has no Keras model (start it with --model PATH.h5)")

                self._model = export.load_model(self.model_path)
            return self._model

    def split(self, layer: str) -> Any:
        m = self.model()
        idx = export.resolve_layer(m, layer)
        name = m.layers[idx].name
        with self._lock:
            sp = self._tails.get(name)
        if sp is None:
            if idx == 0 and type(m.layers[0]).__name__ == "InputLayer":
                # a cut "after the input" = cloud-only: the tail is the whole model
                sp = export.Split(layer=name, index=0, head=None, tail=m, cut=[name],
                                  shapes=[tuple(int(d) for d in m.input_shape[1:])])
            else:
                sp = export.split_model(m, name)
            fn = self._compile(sp) if self.compiled and sp.n_tensors == 1 else None
            with self._lock:
                self._tails[name] = sp
                if fn is not None:
                    self._fns[name] = fn
        return sp

    @staticmethod
    def _compile(sp: Any) -> Callable[[Any], Any]:
        """``sp.tail`` as one traced graph for ``None×shape`` float32, traced and run once now
        so the first timed request does not pay the tracing."""
        import tensorflow as tf

        spec = tf.TensorSpec([None, *sp.shapes[0]], tf.float32)
        tail = sp.tail
        fn = tf.function(lambda t: tail(t, training=False), input_signature=[spec], reduce_retracing=True)
        fn(tf.zeros([1, *sp.shapes[0]], tf.float32))
        return fn

    def run(self, layer: str, x: np.ndarray) -> tuple[np.ndarray, str]:
        sp = self.split(layer)
        fn = self._fns.get(sp.layer)
        if fn is not None:
            return np.asarray(fn(np.asarray(x, dtype=np.float32))), sp.layer
        return np.asarray(sp.tail(x, training=False)), sp.layer
