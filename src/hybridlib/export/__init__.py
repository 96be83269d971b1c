"""Export: TF.js conversion, quantized variants, head/tail split sub-models and parity checks
(:mod:`.tfjs`).

``from hybridlib import export; export.export_tfjs(...)`` keeps working (names re-exported).
"""
from __future__ import annotations

from hybridlib.export.tfjs import (QUANTIZE, UINT8_PATTERNS, VARIANTS, quant_map, ExportResult, Split, atomic_dir,
                                   browser_chain, browser_predict, browser_timings, default_tfjs_dir,
                                   export_split, export_tfjs, export_variants, load_model, parity, pick_splits,
                                   plot_browser_ms, plot_sizes, plot_split_parity, resolve_layer, run_split,
                                   size_table, split_model, split_parity, split_points, variant_name,
                                   verify_manifest)

__all__ = ["quant_map", "QUANTIZE", "UINT8_PATTERNS", "VARIANTS", "ExportResult", "Split", "atomic_dir", "browser_chain",
           "browser_predict", "browser_timings", "default_tfjs_dir", "export_split", "export_tfjs",
           "export_variants", "load_model", "parity", "pick_splits", "plot_browser_ms", "plot_sizes",
           "plot_split_parity", "resolve_layer", "run_split", "size_table", "split_model", "split_parity",
           "split_points", "variant_name", "verify_manifest"]
