"""Data: FER2013 loading and validation (:mod:`.fer`) and the labelled synthetic stand-in
(:mod:`.synth`).

``from hybridlib import data; data.load(...)`` is the public entry point; the names below are
re-exported from the module that defines them.
"""
from __future__ import annotations

from hybridlib.data.fer import (
                                CLASS_NAMES,
                                COLUMNS,
                                FER2013_COUNTS,
                                IMAGE_EXTS,
                                IMG,
                                N_PIXELS,
                                SPLITS,
                                SYNTH_SCALE,
                                USAGES,
                                DataError,
                                Dataset,
                                augment,
                                describe,
                                find_fer2013,
                                load,
                                load_csv,
                                load_folder,
                                samples_per_class,
)
from hybridlib.data.synth import ensure_synthetic, generate_synthetic, split_counts, write_csv, write_synthetic

__all__ = ["CLASS_NAMES", "COLUMNS", "FER2013_COUNTS", "IMAGE_EXTS", "IMG", "N_PIXELS", "SPLITS",
           "SYNTH_SCALE", "USAGES", "Dataset", "DataError", "augment", "describe", "ensure_synthetic",
           "find_fer2013", "generate_synthetic", "load", "load_csv", "load_folder", "samples_per_class",
           "split_counts", "write_csv", "write_synthetic"]
