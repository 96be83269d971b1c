"""Export: TF.js conversion, quantized variants, head/tail split sub-models and parity checks
(:mod:`.tfjs`).

``from hybridlib import export; export.export_tfjs(...)`` keeps working (names re-exported).
"""
from __future__ import annotations

from hybridlib.export.tfjs import (QUANTIZE, UINT8_PATTERNS, VARIANTS, atomic_dir, browser_chain,
                                   browser_predict, browser_timings, default_tfjs_dir, export_split,
                                   export_tfjs, export_variants, ExportResult, load_model, parity,
                                   pick_splits, plot_browser_ms, plot_sizes, plot_split_parity, quant_map,
                                   quantize_of, resolve_layer, run_split, size_table, Split, split_model,
                                   split_parity, split_points, variant_name, verify_manifest, ensure_tfjs)

__all__ = ["QUANTIZE", "UINT8_PATTERNS", "VARIANTS", "atomic_dir", "browser_chain", "browser_predict",
           "browser_timings", "default_tfjs_dir", "export_split", "export_tfjs", "export_variants",
           "ExportResult", "load_model", "parity", "pick_splits", "plot_browser_ms", "plot_sizes",
           "plot_split_parity", "quant_map", "quantize_of", "ensure_tfjs", "resolve_layer", "run_split", "size_table",
           "Split", "split_model", "split_parity", "split_points", "variant_name", "verify_manifest"]
