"""Network presets (bandwidth, RTT, radio power) the cost model prices transfers with.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from hybridlib.partition.base import is_finite_number
from hybridlib.utils import InputError


@dataclass(frozen=True)
class Network:
    """A wireless link as the cost model sees it.

    ``p_tx_w``/``p_rx_w`` are the device's power while sending/receiving, ``p_idle_w`` its
    power while it waits for the cloud (radio kept connected). Powers in W, so W·ms = mJ.
    """

    uplink_mbps: float
    downlink_mbps: float
    rtt_ms: float
    p_tx_w: float = 0.0
    p_rx_w: float = 0.0
    p_idle_w: float = 0.0
    name: str = "custom"

    def __post_init__(self) -> None:
        for f in ("uplink_mbps", "downlink_mbps"):
            v = getattr(self, f)
            if not is_finite_number(v) or v <= 0:
                raise InputError(f"network {self.name!r}: {f} must be a positive number, got {v!r}")
        for f in ("rtt_ms", "p_tx_w", "p_rx_w", "p_idle_w"):
            v = getattr(self, f)
            if not is_finite_number(v) or v < 0:
                raise InputError(f"network {self.name!r}: {f} must be a number ≥ 0, got {v!r}")

    def up_ms(self, nbytes: float) -> float:
        """Uplink time of one tensor: serialisation at the link rate + half a round trip."""
        return nbytes * 8.0 / (self.uplink_mbps * 1000.0) + self.rtt_ms / 2.0

    def down_ms(self, nbytes: float) -> float:
        return nbytes * 8.0 / (self.downlink_mbps * 1000.0) + self.rtt_ms / 2.0

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "uplink_mbps": self.uplink_mbps, "downlink_mbps": self.downlink_mbps,
                "rtt_ms": self.rtt_ms, "p_tx_w": self.p_tx_w, "p_rx_w": self.p_rx_w,
                "p_idle_w": self.p_idle_w}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], name: str | None = None) -> Network:
        keys = ("uplink_mbps", "downlink_mbps", "rtt_ms", "p_tx_w", "p_rx_w", "p_idle_w")
        missing = [k for k in keys[:3] if k not in d]
        if missing:
            raise InputError(f"network {name or d.get('name', '?')!r} lacks {', '.join(missing)}")
        unknown = set(d) - set(keys) - {"name", "source"}
        if unknown:
            raise InputError(f"network: unknown field(s) {', '.join(sorted(unknown))}")
        try:
            vals = {k: float(d[k]) for k in keys if k in d}
        except (TypeError, ValueError) as e:
            raise InputError(f"network {name or d.get('name', '?')!r}: non-numeric field ({e})") from None
        return cls(**vals, name=str(name or d.get("name", "custom")))


def _huang_power(alpha_mw_per_mbps: float, beta_mw: float, mbps: float) -> float:
    """Huang et al.'s radio power model P = α·throughput + β, in W."""
    return (alpha_mw_per_mbps * mbps + beta_mw) / 1000.0


#: Network presets. Bandwidths: the average *uplink* rates Neurosurgeon (Kang et al.,
#: ASPLOS'17, §3/§6) used for 3G, LTE and Wi-Fi — 1.1, 5.85 and 18.88 Mbps, taken from
#: Huang et al., "A Close Examination of Performance and Power Characteristics of 4G LTE
#: Networks", MobiSys'12 (4GTest). Downlinks and RTTs are representative medians of the same
#: measurement study (LTE ≈ 12.7 Mbps down, ≈ 70 ms RTT; 3G ≈ 2 Mbps, ≈ 150 ms; Wi-Fi ≈
#: 30 Mbps, ≈ 20 ms). Radio powers follow Huang et al.'s model P = α·Mbps + β with their
#: fitted α_u, α_d, β (3G: 868.98, 122.12, 817.88 mW; LTE: 438.39, 51.97, 1288.04 mW;
#: Wi-Fi: 283.17, 137.01, 132.86 mW) evaluated at the preset rates; ``p_idle_w`` is the
#: radio's connected/tail base power β (the device waits with the radio up). These figures
#: are recalled from the papers, not re-measured here; set ``p_idle_w=0`` to reproduce
#: Neurosurgeon's energy objective (mobile compute + uplink only).
NETWORK_SOURCES = {
    "3g": "Kang et al. ASPLOS'17 (Neurosurgeon) uplink 1.1 Mbps; Huang et al. MobiSys'12 power model",
    "lte": "Kang et al. ASPLOS'17 (Neurosurgeon) uplink 5.85 Mbps; Huang et al. MobiSys'12 power model",
    "wifi": "Kang et al. ASPLOS'17 (Neurosurgeon) uplink 18.88 Mbps; Huang et al. MobiSys'12 power model",
}
NETWORKS: dict[str, Network] = {
    "3g": Network(uplink_mbps=1.1, downlink_mbps=2.0, rtt_ms=150.0,
                  p_tx_w=_huang_power(868.98, 817.88, 1.1), p_rx_w=_huang_power(122.12, 817.88, 2.0),
                  p_idle_w=0.81788, name="3g"),
    "lte": Network(uplink_mbps=5.85, downlink_mbps=12.74, rtt_ms=70.0,
                   p_tx_w=_huang_power(438.39, 1288.04, 5.85), p_rx_w=_huang_power(51.97, 1288.04, 12.74),
                   p_idle_w=1.28804, name="lte"),
    "wifi": Network(uplink_mbps=18.88, downlink_mbps=30.0, rtt_ms=20.0,
                    p_tx_w=_huang_power(283.17, 132.86, 18.88), p_rx_w=_huang_power(137.01, 132.86, 30.0),
                    p_idle_w=0.13286, name="wifi"),
}


def get_network(network: str | Network | Mapping[str, Any], **overrides: float | None) -> Network:
    """A :class:`Network` from a preset name, a dict or a Network, with optional overrides."""
    if isinstance(network, Network):
        net = network
    elif isinstance(network, str):
        key = network.lower().replace("-", "")
        if key not in NETWORKS:
            raise InputError(f"unknown network {network!r}; choose one of {', '.join(NETWORKS)} "
                             "or give uplink/downlink/rtt")
        net = NETWORKS[key]
    elif isinstance(network, Mapping):
        net = Network.from_dict(network)
    else:
        raise InputError(f"network must be a preset name, dict or Network, got {type(network).__name__}")
    ov = {k: float(v) for k, v in overrides.items() if v is not None}
    if ov:
        net = replace(net, **ov, name=f"{net.name}*")
    return net
