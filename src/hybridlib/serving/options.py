"""The serving options every entry point shares — the server, ``hybridlib serve``, ``hybridlib
load`` and the cloud service — defined and checked once. Imports nothing heavy, so the CLI can
use them for ``--help``.
"""
from __future__ import annotations

from hybridlib.utils import InputError

#: ``hybrid``: the browser runs the model; ``cloud``: the browser streams its camera over WebRTC;
#: ``split``: the browser runs a head, the server the tail, at a planned cut;
#: ``exit``: the browser runs the early-exit edge model and ships only unconfident inputs' codes.
MODES = ("hybrid", "cloud", "split", "exit")
#: cloud-mode pipelines: our batched one, the same with each stage cut and seed 000's
#: per-frame one (see :mod:`.cloud`).
PIPELINES = ("ours", "fast", "seed")
#: cloud-mode model backends: the classifier in this process, or a Ray Serve deployment
#: (:mod:`.backends`).
BACKENDS = ("inprocess", "ray")
#: admitted WebRTC peers when nobody says otherwise; the next ``/offer`` gets 503.
DEFAULT_MAX_SESSIONS = 4
#: 90 kHz RTP video clock: the ``pts`` we report is in these units, relative to the first frame.
VIDEO_CLOCK = 90_000


def check_max_sessions(n: int, name: str = "max_sessions") -> int:
    """``n`` as a positive session cap, or :class:`InputError` naming ``name``."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"{name} must be an integer ≥ 1, got {n!r}")
    return n


def check_pipeline(pipeline: str) -> str:
    """``pipeline`` if it is one of :data:`PIPELINES`, else :class:`InputError`."""
    if pipeline not in PIPELINES:
        raise InputError(f"pipeline {pipeline!r}: choose one of {', '.join(PIPELINES)}")
    return pipeline


def check_backend(backend: str) -> str:
    """``backend`` if it is one of :data:`BACKENDS`, else :class:`InputError`."""
    if backend not in BACKENDS:
        raise InputError(f"backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend
