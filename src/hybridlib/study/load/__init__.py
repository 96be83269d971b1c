"""Load generator: synthetic users against a real server process, on loopback only.

Why real parts: seed 000's load curve (CPU 40% at 1 user → 82% at 5, crash at 6) is about what
a WebRTC server spends per user — decoding, detecting, classifying, encoding, SRTP — so the users
here are real aiortc peers streaming a real face clip (webcam size and rate), spread over worker
processes, against ``hybridlib serve`` started as its own process so its CPU can be measured
alone (psutil, children included). Hybrid users in the study are real Chromium pages running
the app (camera → face detection → CNN in the page) for the whole step: the server's cost after
the download is what is left, and the client's cost per frame (DevTools ``Performance`` metrics)
is the other half of the seed's argument. (``hybrid_user`` — download over HTTP, then idle — is
kept for the CLI's cheap many-user check of the download cost.)

Every run is bounded (users ≤ :data:`MAX_USERS`, duration ≤ :data:`MAX_DURATION_S`) and the
target is always 127.0.0.1.
"""
from __future__ import annotations

from hybridlib.study.load.analysis import (
                                         OVERLOAD_FACTOR,
                                         SEED_REPORTED,
                                         StudyPlan,
                                         cloud_ratio_table,
                                         hybrid_claim,
                                         overload_verdict,
                                         per_user_minute,
                                         run_study,
                                         steps_frame,
                                         summarize_study,
)
from hybridlib.study.load.figures import plot_costs, plot_cpu_bandwidth, plot_latency
from hybridlib.study.load.limits import HOST, MAX_DURATION_S, MAX_USERS, MODES, USERS_PER_WORKER, check_args, check_url
from hybridlib.study.load.results import StepResult, UserResult, summarize_step
from hybridlib.study.load.server_process import ServerProcess, server
from hybridlib.study.load.sweep import parse_size, parse_users, run_load, saturation_point
from hybridlib.study.load.users import cloud_user, hybrid_user, make_clip, run_browser_users, run_users, user_worker

__all__ = ["HOST", "MAX_DURATION_S", "MAX_USERS", "MODES", "OVERLOAD_FACTOR", "SEED_REPORTED",
           "ServerProcess", "StepResult", "StudyPlan", "USERS_PER_WORKER", "UserResult", 
           "check_args", "check_url", "cloud_ratio_table", "cloud_user", "hybrid_claim", "hybrid_user",
           "make_clip", "overload_verdict", "parse_size", "parse_users", "per_user_minute", "plot_costs",
           "plot_cpu_bandwidth", "plot_latency", "run_browser_users", "run_load", "run_study", "run_users",
           "saturation_point", "server", "steps_frame", "summarize_step", "summarize_study", "user_worker"]
