"""hybridlib: a reproducible study of hybrid device/cloud inference for deep networks.

The library follows the data, in layers that import only downward (docs/ARCHITECTURE.md,
checked by ``lint-imports``): ``utils`` → ``browser``/``plots``/``wire`` → ``partition`` (the pure
engine) → ``data`` → ``config`` → ``models`` → ``export`` → ``profiling`` → ``serving`` →
``study`` → ``pipeline``/``widgets`` → ``commands`` → ``cli``. The heavy third-party packages
(TensorFlow, tensorflowjs, aiortc, Playwright, Ray, plotting and fitting) are imported inside
the functions that need them — :data:`hybridlib.utils.LAZY_IMPORTS` lists them — so
``import hybridlib`` and ``hybridlib --help`` stay fast.
"""
from __future__ import annotations

import logging
import os

# tensorflowjs 4.22 and our .h5 models need Keras 2 (tf_keras), not Keras 3 (docs/ARCHITECTURE.md, Pitfalls).
# Set before anything imports TensorFlow; every hybridlib module imports this package first.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
