"""Device classes, DevTools network conditions and the link fit (pure; no browser)."""
from __future__ import annotations

import pytest

from hybridlib import partition
from hybridlib.profiling import devices
from hybridlib.utils import InputError


def test_device_classes_are_presets_with_rates():
    assert devices.get_device("desktop").cpu_throttle == 1.0
    assert devices.get_device("phone").cpu_throttle == 4.0  # Lighthouse's mobile preset
    assert devices.get_device("lowend").cpu_throttle == 10.0
    d = devices.get_device("phone")
    assert devices.get_device(d) is d


def test_unknown_device_names_the_input():
    with pytest.raises(InputError, match="'tablet'"):
        devices.get_device("tablet")
    with pytest.raises(InputError, match="cpu_throttle"):
        devices.DeviceClass("x", 0.5, "faster than real")


@pytest.mark.parametrize("name", ["3g", "lte", "wifi"])
def test_network_conditions_follow_partition_presets(name):
    net = partition.get_network(name)
    c = devices.network_conditions(name)
    assert c.latency_ms == net.rtt_ms
    assert c.upload_bytes_s == pytest.approx(net.uplink_mbps * 125_000)
    assert c.download_bytes_s == pytest.approx(net.downlink_mbps * 125_000)
    assert c.up_mbps == pytest.approx(net.uplink_mbps)
    cdp = c.to_cdp()
    assert set(cdp) == {"offline", "latency", "downloadThroughput", "uploadThroughput"}
    assert cdp["uploadThroughput"] == c.upload_bytes_s and not cdp["offline"]
    assert c.shaped


def test_none_is_unshaped_and_bad_names_fail():
    c = devices.network_conditions("none")
    assert not c.shaped and c.to_cdp()["downloadThroughput"] == -1
    with pytest.raises(InputError, match="'5g'"):
        devices.network_conditions("5g")


class _FakeCDP:
    """Records CDP calls (the browser tests check the real effect; this checks the payload)."""

    def __init__(self):
        self.calls = []

    def send(self, method, params=None):
        self.calls.append((method, params))
        return {}


def test_apply_sends_the_protocol_calls():
    cdp = _FakeCDP()
    got = devices.apply_device(cdp, "phone")
    assert cdp.calls == [("Emulation.setCPUThrottlingRate", {"rate": 4.0})]
    assert got["cpu_throttle"] == 4.0
    cdp = _FakeCDP()
    got = devices.apply_network(cdp, "3g")
    assert cdp.calls[-1][0] == "Network.emulateNetworkConditions"
    assert cdp.calls[-1][1]["uploadThroughput"] == pytest.approx(1.1 * 125_000)
    assert got["shaper"] == "devtools"
    assert devices.apply_network(_FakeCDP(), "none")["shaper"] == "none"


def test_fit_link_recovers_rate_and_latency():
    # synthetic samples from ms = bytes*8/(mbps*1000) + rtt, with up 2 Mbit/s, down 8 Mbit/s, rtt 100 ms
    def ms(n, mbps):
        return n * 8 / (mbps * 1000) + 100.0

    samples = [{"kind": "up", "bytes": n, "ms": ms(n, 2.0)} for n in (1000, 50_000, 200_000)]
    samples += [{"kind": "down", "bytes": n, "ms": ms(n, 8.0)} for n in (1000, 200_000)]
    fit = devices.fit_link(samples)
    assert fit["up_mbps"] == pytest.approx(2.0)
    assert fit["down_mbps"] == pytest.approx(8.0)
    assert fit["rtt_ms"] == pytest.approx(100.0)


def test_tc_shaper_names_fit_interfaces():
    sh = devices.TcShaper(rate_mbit=2.0)
    assert len(sh.host_if) <= 15 and len(sh.ns_if) <= 15 and sh.host_if != sh.ns_if
    assert sh.host_ip.startswith("10.213.") and sh.ns_ip.endswith(".2")
    reason = devices.tc_available()
    assert reason is None or isinstance(reason, str)
