"""Models: the networks (:mod:`.networks`), Neurosurgeon's eight benchmark networks
(:mod:`.neurosurgeon`, untrained), training/sweep/evaluation (:mod:`.train`) and the
published reference model (:mod:`.reference`).

``from hybridlib import models; models.emotion_cnn()`` keeps working: the network builders are
re-exported here. Training lives in ``hybridlib.models.train`` (imports TensorFlow lazily).
"""
from __future__ import annotations

from hybridlib.models.networks import (
                                       BN_MOMENTUM,
                                       CONV_LAYERS,
                                       DENSE_LAYERS,
                                       EMOTION_INPUT_SHAPE,
                                       N_CLASSES,
                                       POOL_LAYERS,
                                       alexnet,
                                       chain_cut_points,
                                       cut_sets,
                                       cut_tensors,
                                       emotion_cnn,
                                       layer_counts,
                                       layer_inputs,
                                       layer_outputs,
                                       preprocess,
                                       split_points,
                                       summary_table,
)
from hybridlib.models.neurosurgeon import (
                                       NEUROSURGEON,
                                       deepface,
                                       kaldi_dnn,
                                       lenet,
                                       senna,
                                       vgg,
)

__all__ = ["BN_MOMENTUM", "CONV_LAYERS", "DENSE_LAYERS", "EMOTION_INPUT_SHAPE", "NEUROSURGEON", "N_CLASSES",
           "POOL_LAYERS", "alexnet", "chain_cut_points", "cut_sets", "cut_tensors", "deepface", "emotion_cnn",
           "kaldi_dnn", "layer_counts", "layer_inputs", "layer_outputs", "lenet", "preprocess", "senna",
           "split_points", "summary_table", "vgg"]
