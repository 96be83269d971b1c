"""Per-layer latency, output size and device energy of a Keras model, on both sides: the entry point.

Neurosurgeon profiles each layer once on the device and in the cloud, then decides on the
cached costs (never re-run the model for every candidate cut). The parts, one module each:

* :mod:`.layers` — native TensorFlow: device = one thread, cloud = all cores, each side in its
  own process (:func:`profile_model`, :func:`time_model_layers`, :class:`PowerModel`);
* :mod:`.tfjs_layers` — TF.js in headless Chromium, optionally CPU-throttled to a device class
  (:func:`profile_tfjs`; its page code in ``serving/web/profiling/``);
* :mod:`.reconcile` — profiles that add up: the residual between Σ isolated layers and the whole
  model split into per-layer dispatch and per-inference fixed costs (:func:`reconcile`);
* :mod:`.graphs` — profiles → §5 partition graphs (:func:`to_graph`, :func:`keras_graph`);
* :mod:`.tables` — tables on disk and the study's cached profile (:func:`ensure_profile`);
* :mod:`.timing` — the timing primitives every measurement here shares (:func:`round_robin`,
  :func:`time_model_calls`, :func:`run_in_worker`);
* :mod:`.figures` — the per-layer figure (:func:`hybridlib.profiling.figures.plot_layers`).

Results are tidy tables (one row per model × side × layer) that carry their provenance
(backend, threads, repeats, host, versions). This module re-exports the names the notebooks,
the CLI and the study call, so they need one import for the whole profile.
"""
from __future__ import annotations

from hybridlib.profiling.devices import set_cpu_throttle
from hybridlib.profiling.graphs import keras_graph, to_graph
from hybridlib.profiling.layers import (
    MODELS,
    SIDES,
    PowerModel,
    ProfileSpec,
    build_model,
    inbound_names,
    profile_model,
    provenance,
    time_model_layers,
)
from hybridlib.profiling.reconcile import (
    Reconciliation,
    apply_reconciliation,
    probe_cuts,
    reconcile,
    reconciliation_table,
    side_costs,
    single_cuts,
)
from hybridlib.profiling.tables import ensure_profile, load_table, model_source, save_table
from hybridlib.profiling.tfjs_layers import LOAD_JS, PROFILE_JS, RETRY_FETCH_JS, profile_tfjs, tfjs_worker
from hybridlib.profiling.timing import (
    REFERENCE_KERNEL,
    keras_call,
    round_robin,
    round_robin_autorange,
    run_in_worker,
    time_model_calls,
    time_on_sides,
)

__all__ = [
    "LOAD_JS", "MODELS", "PROFILE_JS", "REFERENCE_KERNEL", "RETRY_FETCH_JS", "SIDES", "PowerModel",
    "ProfileSpec", "Reconciliation", "apply_reconciliation", "build_model", "ensure_profile",
    "inbound_names", "keras_call", "keras_graph", "load_table", "model_source", "probe_cuts",
    "profile_model", "profile_tfjs", "provenance", "reconcile", "reconciliation_table",
    "round_robin", "round_robin_autorange", "run_in_worker", "save_table", "set_cpu_throttle",
    "side_costs", "single_cuts", "tfjs_worker", "time_model_calls", "time_model_layers",
    "time_on_sides", "to_graph",
]
