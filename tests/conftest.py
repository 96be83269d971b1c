"""Shared test set-up: legacy Keras, quiet TF, and the project root on every test.

Tiers (tests/README.md): `pytest -m "not slow"` (`make test-fast`) is the inner loop. The
integration and notebooks conftests mark their slow tests."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT
