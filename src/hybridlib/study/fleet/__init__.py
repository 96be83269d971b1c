"""Fleet: many split-mode phones against one real server — seed 003's (Neurosurgeon) datacenter
throughput, adaptation to the network and adaptation to server load, measured on loopback.

Lightweight clients (:mod:`.clients`) are simulated phones in one asyncio process: device-class
head time as a wait, computed link delays, the real ``POST /split`` on the real server; real
Chromium pages of the app run beside them (:mod:`.pages`). :mod:`.experiments` runs the
throughput sweep and the adaptation trace; :mod:`.analysis` summarises; :mod:`.figures` plots.
"""
from __future__ import annotations

from hybridlib.study.fleet.analysis import (
    SEED_THROUGHPUT,
    ladder_stopped,
    latency_by_policy,
    meets_slo,
    reaction_times,
    settled_cut,
    step_summary,
    throughput_ratio,
    users_served,
)
from hybridlib.study.fleet.clients import (
    ClientSpec,
    FleetRun,
    LinkTrace,
    arrivals,
    link_delay_ms,
    run_fleet,
    run_fleet_async,
)
from hybridlib.study.fleet.cuts import (
    CutTable,
    build_cut_table,
    device_model_ms,
    pick_fixed_cut,
)
from hybridlib.study.fleet.experiments import (
    adaptation_run,
    differences,
    run_study,
    throughput_sweep,
    warm_server,
)
from hybridlib.study.fleet.figures import plot_adaptation, plot_throughput
from hybridlib.study.fleet.pages import PageFleet
from hybridlib.study.fleet.presets import (
    ADAPTIVE,
    POLICIES,
    SIZES,
    SLO,
    FleetSize,
    Phase,
    fleet_size,
)
from hybridlib.study.fleet.results import (
    AdaptationResult,
    FleetResult,
    ThroughputResult,
)

__all__ = ["ADAPTIVE", "POLICIES", "SEED_THROUGHPUT", "SIZES", "SLO", "AdaptationResult", "ClientSpec", "CutTable",
           "FleetResult", "FleetRun", "FleetSize", "LinkTrace", "PageFleet", "Phase", "ThroughputResult",
           "adaptation_run", "arrivals", "build_cut_table", "device_model_ms", "differences", "fleet_size",
           "ladder_stopped", "latency_by_policy", "link_delay_ms", "meets_slo", "pick_fixed_cut", "plot_adaptation",
           "plot_throughput", "reaction_times", "run_fleet", "run_fleet_async", "run_study", "settled_cut",
           "step_summary", "throughput_ratio", "throughput_sweep", "users_served", "warm_server"]
