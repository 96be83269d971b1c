"""Export: TF.js conversion (:mod:`.tfjs`), variants — quantisation vocabulary and manifests
(:mod:`.variants`), head/tail split sub-models (:mod:`.splits`), parity and speed in Chromium
(:mod:`.parity`) and the export figures (:mod:`.figures`).

``from hybridlib import export; export.export_tfjs(...)`` keeps working (names re-exported).
"""
from __future__ import annotations

from hybridlib.export.figures import plot_browser_ms, plot_sizes, plot_split_parity
from hybridlib.export.parity import browser_chain, browser_predict, browser_timings, parity, pick_splits, split_parity
from hybridlib.export.splits import Split, resolve_layer, run_split, split_model
from hybridlib.export.tfjs import (
                                   ExportResult,
                                   atomic_dir,
                                   default_tfjs_dir,
                                   ensure_tfjs,
                                   export_split,
                                   export_tfjs,
                                   export_variants,
                                   size_table,
)
from hybridlib.export.variants import (
                                   QUANTIZE,
                                   UINT8_PATTERNS,
                                   VARIANTS,
                                   quant_map,
                                   quantize_of,
                                   variant_name,
                                   verify_manifest,
)
from hybridlib.models.artifacts import load_model
from hybridlib.models.networks import split_points

__all__ = ["QUANTIZE", "UINT8_PATTERNS", "VARIANTS", "atomic_dir", "browser_chain", "browser_predict",
           "browser_timings", "default_tfjs_dir", "export_split", "export_tfjs", "export_variants",
           "ExportResult", "load_model", "parity", "pick_splits", "plot_browser_ms", "plot_sizes",
           "plot_split_parity", "quant_map", "quantize_of", "ensure_tfjs", "resolve_layer", "run_split", "size_table",
           "Split", "split_model", "split_parity", "split_points", "variant_name", "verify_manifest"]
