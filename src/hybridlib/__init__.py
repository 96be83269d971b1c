"""hybridlib: a reproducible study of hybrid device/cloud inference for deep networks.

The library follows the data: ``data → models → train → export → serve / profile →
partition → early_exit → load → report``. Heavy dependencies (TensorFlow, aiortc,
Playwright) are imported inside the modules that need them, so ``import hybridlib`` and
``hybridlib --help`` stay fast.
"""
from __future__ import annotations

import logging

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
