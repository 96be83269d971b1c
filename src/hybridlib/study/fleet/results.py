"""What the fleet study returns: one dataclass per experiment and one for the whole study."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ThroughputResult:
    """003's datacenter-throughput experiment: a step per (policy, users), the most users each
    policy served at the SLO, and load-aware ÷ cloud-only beside the seed's 1.5× / 6.7×."""

    steps: list[dict[str, Any]]
    served: dict[str, dict[str, Any]]
    ratio: dict[str, Any]
    slo: str
    settings: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AdaptationResult:
    """003's network- and server-load-variation experiments as one trace: the phases, every
    foreground query and plan over time, the server's load factor, per-policy latency, the
    adaptive planner's reaction after each change, and the Chromium pages' samples."""

    phases: list[dict[str, Any]]
    latency: list[dict[str, Any]]
    per_phase: list[dict[str, Any]]
    reactions: list[dict[str, Any]]
    queries: list[dict[str, Any]] = field(repr=False)
    plans: list[dict[str, Any]] = field(repr=False)
    load: list[dict[str, Any]] = field(repr=False)
    background: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, Any] = field(default_factory=dict)
    load_cleared_s: float = 0.0  # waited before the trace for the sweep's load to age out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FleetResult:
    """The whole study: sizes, the served model's cut table, both experiments, what differs
    from the seed's setting, and which numbers are measured and which modelled."""

    size: dict[str, Any]
    model: dict[str, Any]
    throughput: ThroughputResult
    adaptation: AdaptationResult
    differences: list[str]
    measured: list[str]
    modelled: list[str]
    machine: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"size": self.size, "model": self.model, "throughput": self.throughput.to_dict(),
                "adaptation": self.adaptation.to_dict(), "differences": self.differences,
                "measured": self.measured, "modelled": self.modelled, "machine": self.machine}
