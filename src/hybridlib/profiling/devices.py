"""Device classes and link conditions for executed splits: a throttled Chromium page, shaped links.

Why (docs/ARCHITECTURE.md, Pitfalls): with the "device" being one thread of the same desktop CPU that
plays the cloud, no cut can win. The device here is a headless Chromium page running TF.js
on wasm, slowed by the DevTools protocol (``Emulation.setCPUThrottlingRate``: Lighthouse's
mobile preset uses 4×). Links are shaped two ways:

* **devtools** — ``Network.emulateNetworkConditions`` on the page's own fetches: latency and
  up/down throughput (bytes/s). Applies to one page only, so the server and everything else
  on the machine stay unshaped.
* **tc** — kernel shaping (:class:`TcShaper`): a network namespace + veth pair with a ``tbf``
  qdisc on each end. It shapes the *rate* only: ``netem`` is not available on these kernels,
  so delay cannot come from tc (combine with DevTools latency if needed).
* **none** — unshaped loopback.

Neither CDP setting can be queried back through the protocol (there is no getter), so the
read-back is a measurement: :func:`measure_cpu` times a fixed-work JS loop (the ratio to an
unthrottled run is the effective rate) and :func:`measure_link` times POSTs/GETs of two sizes
against the server's probe routes (slope = throughput, intercept = latency).

API::

    dev = get_device("phone")                  # DeviceClass(name, cpu_throttle, description)
    net = network_conditions("3g")             # NetworkConditions from partition.get_network
    cdp = page.context.new_cdp_session(page)
    apply_device(cdp, dev); apply_network(cdp, net)
    read_back_device(page, cdp, dev)           # {"measured_rate", "ratios", …}: loop timed at 1× and N×
    measure_link(page, base_url)               # {"up_mbps", "down_mbps", "rtt_ms", …} (/probe/* routes)
    with TcShaper(rate_mbit=2.0) as sh: …      # sh.ns, sh.host_ip, sh.ns_ip, sh.exec_cmd([...]),
                                               # sh.set_rates(), sh.qdiscs(), sh.chromium_wrapper(dir)
    measure_tc_rate(sh, nbytes)                # delivered Mbit/s root → namespace

Pitfalls measured here (2 shared cores, load average 6–10): the effective CPU slow-down is
below the set rate when other processes compete (phone 4× read back as 1.3–4.0, lowend
10× as 3.9–10.3), so record ``measured_rate`` beside ``cpu_throttle``. Throttling is a duty cycle: a call
shorter than the cycle is bimodal (emotion CNN at 10×: 9–14 ms or 100–210 ms), so compare
means over many calls, not medians of few. DevTools latency
overlaps a tc-shaped transfer rather than adding to it (the response is held for the
latency while the body already flows), so with ``shaper="tc"`` the fitted download rate
reads high; the uplink (tbf on the namespace's end) reads true.
"""
from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hybridlib.browser import chromium_path
from hybridlib.partition.network import NETWORK_SOURCES, get_network
from hybridlib.profiling.scripts import page_script
from hybridlib.utils import HybridlibError, InputError

log = logging.getLogger(__name__)

SHAPERS = ("devtools", "tc", "none")


# ----------------------------------------------------------------------------- device classes


@dataclass(frozen=True)
class DeviceClass:
    """A device class = a CPU slow-down of the Chromium page (1 = this desktop's core)."""

    name: str
    cpu_throttle: float
    description: str

    def __post_init__(self) -> None:
        if not (self.cpu_throttle >= 1.0):
            raise InputError(f"device {self.name!r}: cpu_throttle must be ≥ 1, got {self.cpu_throttle!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


DEVICES: dict[str, DeviceClass] = {
    "desktop": DeviceClass("desktop", 1.0, "this machine's CPU, unthrottled Chromium page (one core's worth "
                                            "of wasm, no threads)"),
    "phone": DeviceClass("phone", 4.0, "mid-range phone: DevTools CPU throttling 4× (Lighthouse's mobile preset)"),
    "lowend": DeviceClass("lowend", 10.0, "low-end phone: DevTools CPU throttling 10×"),
}


def get_device(device: str | DeviceClass) -> DeviceClass:
    """A :class:`DeviceClass` from its name (``desktop``, ``phone``, ``lowend``) or itself."""
    if isinstance(device, DeviceClass):
        return device
    try:
        return DEVICES[str(device).lower()]
    except KeyError:
        raise InputError(f"unknown device class {device!r}; choose one of {', '.join(DEVICES)}") from None


# ----------------------------------------------------------------------------- link conditions


@dataclass(frozen=True)
class NetworkConditions:
    """What ``Network.emulateNetworkConditions`` gets: latency (ms, added per request by
    Chromium: the round trip) and throughputs in **bytes/s** (−1 = unshaped)."""

    name: str
    latency_ms: float
    download_bytes_s: float
    upload_bytes_s: float
    source: str = ""

    @property
    def shaped(self) -> bool:
        return self.latency_ms > 0 or self.download_bytes_s > 0 or self.upload_bytes_s > 0

    @property
    def up_mbps(self) -> float | None:
        return self.upload_bytes_s * 8 / 1e6 if self.upload_bytes_s > 0 else None

    @property
    def down_mbps(self) -> float | None:
        return self.download_bytes_s * 8 / 1e6 if self.download_bytes_s > 0 else None

    def to_cdp(self) -> dict[str, Any]:
        return {"offline": False, "latency": float(self.latency_ms),
                "downloadThroughput": float(self.download_bytes_s),
                "uploadThroughput": float(self.upload_bytes_s)}

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "up_mbps": self.up_mbps, "down_mbps": self.down_mbps}


NETWORK_NAMES = ("3g", "lte", "wifi", "none")


def network_conditions(network: str | NetworkConditions) -> NetworkConditions:
    """DevTools conditions for a partition preset (``3g``/``lte``/``wifi``) or ``none``.

    latency = the preset's RTT; throughput = Mbps × 125 000 bytes/s (1 Mbit/s = 125 000 B/s).
    """
    if isinstance(network, NetworkConditions):
        return network
    key = str(network).lower().replace("-", "")
    if key == "none":
        return NetworkConditions("none", 0.0, -1.0, -1.0, "unshaped loopback")

    try:
        net = get_network(key)
    except InputError:
        raise InputError(f"unknown network {network!r}; choose one of {', '.join(NETWORK_NAMES)}") from None
    return NetworkConditions(net.name, float(net.rtt_ms), net.downlink_mbps * 125_000.0,
                             net.uplink_mbps * 125_000.0, NETWORK_SOURCES.get(net.name, ""))


# ----------------------------------------------------------------------------- CDP


def apply_device(cdp: Any, device: str | DeviceClass) -> dict[str, Any]:
    """Throttle the page's CPU (``Emulation.setCPUThrottlingRate``); returns what was applied."""
    d = get_device(device)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": float(d.cpu_throttle)})
    log.info("device %s: CPU throttling %.1f×", d.name, d.cpu_throttle)
    return {"device": d.name, "cpu_throttle": d.cpu_throttle, "method": "Emulation.setCPUThrottlingRate"}


def set_cpu_throttle(page: Any, rate: float) -> float:
    """Slow ``page``'s CPU ``rate``× (Lighthouse's mobile preset is 4×) through :func:`apply_device`
    on a CDP session of its own, kept on the page (``page._hl_cdp``) so it is not garbage-collected
    and later throttle changes can reuse it; returns the rate applied."""
    if not (math.isfinite(rate) and rate >= 1):
        raise InputError(f"cpu_throttle must be a number ≥ 1 (1 = no throttling), got {rate!r}")
    cdp = page.context.new_cdp_session(page)
    apply_device(cdp, DeviceClass(f"{rate:g}x", float(rate), "profiling throttle"))
    page._hl_cdp = cdp  # noqa: SLF001 - keep the session alive as long as the page
    return float(rate)


def apply_network(cdp: Any, network: str | NetworkConditions) -> dict[str, Any]:
    """Shape the page's fetches (``Network.emulateNetworkConditions``); ``none`` lifts shaping.

    Returns the applied parameters and ``shaper`` (``devtools`` or ``none``).
    """
    n = network_conditions(network)
    cdp.send("Network.enable")
    params = n.to_cdp() if n.shaped else {"offline": False, "latency": 0, "downloadThroughput": -1,
                                          "uploadThroughput": -1}
    cdp.send("Network.emulateNetworkConditions", params)
    log.info("network %s: %s", n.name, params)
    return {"network": n.name, "shaper": "devtools" if n.shaped else "none", **params}


#: a fixed amount of integer work (xorshift + modulo); ms for ``n`` iterations measures the
#: page's CPU speed — the same loop with and without throttling gives the effective rate.
CPU_PROBE_JS = page_script("cpu_probe.js")


def measure_cpu(page: Any, iterations: int = 12_000_000, repeats: int = 3) -> dict[str, Any]:
    """Median ms of :data:`CPU_PROBE_JS` in ``page`` (under whatever throttling is set).

    One untimed call first: a new throttling rate takes effect over the next scheduling
    periods, and a loop of a few ms is quantised by them (≈ 100 ms of work per call here).
    """
    page.evaluate(CPU_PROBE_JS, iterations // 4)
    ts = [float(page.evaluate(CPU_PROBE_JS, iterations)["ms"]) for _ in range(repeats)]
    return {"ms": statistics.median(ts), "ms_all": ts, "iterations": iterations}


def read_back_device(page: Any, cdp: Any, device: str | DeviceClass, iterations: int = 12_000_000,
                     rounds: int = 3) -> dict[str, Any]:
    """Apply ``device`` and measure its effective slow-down against an unthrottled run.

    ``rounds`` alternations of (rate 1, rate N), each timed after one settling call;
    ``measured_rate`` is the median of the per-round ratios, so a burst of foreign load on a
    shared machine spoils one round, not the answer. Leaves the device throttling on.
    """
    d = get_device(device)
    ratios, base, thr = [], [], []
    for _ in range(rounds):
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": 1.0})
        b = measure_cpu(page, iterations, 1)["ms"]
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": float(d.cpu_throttle)})
        t = measure_cpu(page, iterations, 1)["ms"]
        base.append(b)
        thr.append(t)
        ratios.append(t / b if b > 0 else float("nan"))
    applied = apply_device(cdp, d)
    return {**applied, "baseline_ms": statistics.median(base), "throttled_ms": statistics.median(thr),
            "measured_rate": statistics.median(ratios), "ratios": ratios}


#: POST ``n`` bytes / GET ``n`` bytes against the probe routes; ms from the page's clock.
LINK_PROBE_JS = page_script("link_probe.js")


def fit_link(samples: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Least-squares ``ms = bytes·8/(mbps·1000) + rtt`` per direction from probe samples.

    Two sizes per direction at least. Medians per size first (robust to one slow run).
    """
    out: dict[str, Any] = {}
    rtts = []
    for kind in ("up", "down"):
        by: dict[int, list[float]] = {}
        for s in samples:
            if s["kind"] == kind:
                by.setdefault(int(s["bytes"]), []).append(float(s["ms"]))
        if len(by) < 2:
            continue
        xs = sorted(by)
        ys = [statistics.median(by[x]) for x in xs]
        mx, my = statistics.fmean(xs), statistics.fmean(ys)
        sxx = sum((x - mx) ** 2 for x in xs)
        slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else 0.0  # ms per byte
        icpt = my - slope * mx
        out[f"{kind}_mbps"] = (8.0 / (slope * 1000.0)) if slope > 0 else None
        out[f"{kind}_intercept_ms"] = icpt
        out[f"{kind}_ms_by_size"] = {str(x): y for x, y in zip(xs, ys)}
        rtts.append(icpt)
    out["rtt_ms"] = statistics.fmean(rtts) if rtts else None
    return out


def measure_link(page: Any, base_url: str = "", up_bytes: Sequence[int] = (1_000, 200_000),
                 down_bytes: Sequence[int] = (1_000, 200_000), repeats: int = 2) -> dict[str, Any]:
    """Measure the page's link to ``base_url`` (needs the ``/probe/*`` routes, see
    :func:`hybridlib.serving.probe.add_probe_routes`): up/down Mbit/s and per-request latency."""
    samples = page.evaluate(LINK_PROBE_JS, [base_url, list(up_bytes), list(down_bytes), repeats])
    return {**fit_link(samples), "samples": samples}


# ----------------------------------------------------------------------------- kernel shaping


def tc_available() -> str | None:
    """None if :class:`TcShaper` can run here, else the reason it cannot."""
    if os.name != "posix" or not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "kernel shaping needs root (network namespaces and tc)"
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            return f"`{tool}` (iproute2) not installed"
    r = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    if r.returncode != 0:
        return f"`ip netns` unavailable: {r.stderr.strip()[:200]}"
    return None


@dataclass
class TcShaper:
    """A network namespace joined to the root namespace by a veth pair, rate-shaped with tbf.

    ``rate_mbit`` shapes root→namespace traffic (the host veth's egress); ``up_rate_mbit``
    (default: the same) shapes namespace→root traffic (egress of the namespace's end). No
    delay: netem is missing on these kernels. Addresses are a /30 of 10.213.x.y chosen per
    instance; only these two addresses carry traffic. Use as a context manager: set-up on
    enter, everything removed on exit (also after errors), so nothing leaks between tests.
    """

    rate_mbit: float
    up_rate_mbit: float | None = None
    burst_bytes: int = 0  # 0 = one MTU-sized bucket scaled to the rate (see _tbf)
    name: str = field(default_factory=lambda: "hl" + uuid.uuid4().hex[:8])
    subnet: int = field(default_factory=lambda: 1 + (os.getpid() * 7 + int(time.time() * 1000)) % 250)
    active: bool = False

    @property
    def ns(self) -> str:
        return self.name

    @property
    def host_if(self) -> str:
        return f"{self.name}h"[:15]

    @property
    def ns_if(self) -> str:
        return f"{self.name}n"[:15]

    @property
    def host_ip(self) -> str:
        return f"10.213.{self.subnet}.1"

    @property
    def ns_ip(self) -> str:
        return f"10.213.{self.subnet}.2"

    def _tbf(self, mbit: float) -> list[str]:
        # tbf needs a bucket of at least one packet; a larger one lets bursts through at line
        # rate. ~2 ms of traffic (≥ 2 MTUs) keeps the delivered rate close to the set one.
        burst = self.burst_bytes or max(3200, int(mbit * 1e6 / 8 * 0.002))
        return ["tbf", "rate", f"{mbit}mbit", "burst", str(burst), "latency", "400ms"]

    def _run(self, *cmd: str, check: bool = True) -> subprocess.CompletedProcess:
        r = subprocess.run(list(cmd), capture_output=True, text=True)
        if check and r.returncode != 0:
            raise HybridlibError(f"{' '.join(cmd)} failed: {r.stderr.strip()[:300]}")
        return r

    def __enter__(self) -> TcShaper:
        reason = tc_available()
        if reason:
            raise HybridlibError(reason)
        if not self.rate_mbit > 0 or (self.up_rate_mbit is not None and not self.up_rate_mbit > 0):
            raise InputError(f"tc rate must be > 0 Mbit/s, got {self.rate_mbit!r}/{self.up_rate_mbit!r}")
        try:
            self._run("ip", "netns", "add", self.ns)
            self.active = True
            self._run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            self._run("ip", "link", "set", self.ns_if, "netns", self.ns)
            self._run("ip", "addr", "add", f"{self.host_ip}/30", "dev", self.host_if)
            self._run("ip", "link", "set", self.host_if, "up")
            self._run("ip", "netns", "exec", self.ns, "ip", "addr", "add", f"{self.ns_ip}/30", "dev", self.ns_if)
            self._run("ip", "netns", "exec", self.ns, "ip", "link", "set", self.ns_if, "up")
            self._run("ip", "netns", "exec", self.ns, "ip", "link", "set", "lo", "up")
            self._run("tc", "qdisc", "add", "dev", self.host_if, "root", *self._tbf(self.rate_mbit))
            self._run("ip", "netns", "exec", self.ns, "tc", "qdisc", "add", "dev", self.ns_if, "root",
                      *self._tbf(self.up_rate_mbit or self.rate_mbit))
        except BaseException:
            self.close()
            raise
        log.info("tc shaper %s: %s ↔ %s at %s/%s Mbit/s", self.ns, self.host_ip, self.ns_ip,
                 self.rate_mbit, self.up_rate_mbit or self.rate_mbit)
        return self

    def set_rates(self, rate_mbit: float, up_rate_mbit: float | None = None) -> None:
        """Change both tbf rates in place (e.g. lift shaping while a model downloads)."""
        self._run("tc", "qdisc", "change", "dev", self.host_if, "root", *self._tbf(rate_mbit))
        self._run("ip", "netns", "exec", self.ns, "tc", "qdisc", "change", "dev", self.ns_if, "root",
                  *self._tbf(up_rate_mbit or rate_mbit))

    def chromium_wrapper(self, directory: str | os.PathLike[str]) -> str:
        """An executable that starts Chromium inside the namespace (for Playwright's
        ``executable_path``: the control pipe is inherited, only the page's traffic moves)."""


        p = Path(directory) / f"chromium-{self.ns}"
        p.write_text(f'#!/bin/sh\nexec ip netns exec {self.ns} {chromium_path()} "$@"\n')
        p.chmod(0o755)
        return str(p)

    def qdiscs(self) -> dict[str, str]:
        """``tc qdisc show`` on both ends: the read-back of what is configured."""
        return {"host": self._run("tc", "qdisc", "show", "dev", self.host_if, check=False).stdout.strip(),
                "ns": self._run("ip", "netns", "exec", self.ns, "tc", "qdisc", "show", "dev", self.ns_if,
                                check=False).stdout.strip()}

    def exec_cmd(self, cmd: Sequence[str]) -> list[str]:
        """``cmd`` prefixed to run inside the namespace."""
        return ["ip", "netns", "exec", self.ns, *cmd]

    def close(self) -> None:
        # deleting the namespace destroys its veth end, which destroys the pair
        self._run("ip", "link", "del", self.host_if, check=False)
        self._run("ip", "netns", "del", self.ns, check=False)
        self.active = False

    def __exit__(self, *exc: Any) -> None:
        self.close()


_SINK_PY = r"""
import socket, sys, time
host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)  # a CPU-starved reader must not close the window
s.bind((host, port)); s.listen(1)
print("ready", flush=True)
c, _ = s.accept(); got = 0; t0 = None
while got < n:
    b = c.recv(1 << 16)
    if not b: break
    if t0 is None: t0 = time.perf_counter()
    got += len(b)
t1 = time.perf_counter()
c.sendall(b"k"); c.close()
print(f"{got} {t1 - (t0 or t1)}", flush=True)
"""


def measure_tc_rate(shaper: TcShaper, nbytes: int = 1_000_000, port: int = 50123,
                    timeout_s: float = 120.0) -> dict[str, Any]:
    """Send ``nbytes`` from the root namespace to a sink inside ``shaper``'s namespace.

    The sink times from its first received byte to its last (so connection set-up and the
    bucket's first burst are outside the window as far as possible). Returns the delivered
    payload rate (``goodput_mbit``) and the rate on the wire (``measured_mbit`` = goodput ×
    (MSS + 66) / MSS: Ethernet 14 + IPv4 20 + TCP 32 header bytes per full segment, which tbf
    counts) beside the configured one. On a loaded machine, use a few seconds of transfer:
    a scheduling delay of the reader is an error relative to the transfer time.
    """

    if not shaper.active:
        raise HybridlibError("measure_tc_rate: the shaper is not set up (use it as a context manager)")
    proc = subprocess.Popen(shaper.exec_cmd([sys.executable, "-c", _SINK_PY, shaper.ns_ip, str(port), str(nbytes)]),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise HybridlibError(f"tc sink did not start: {line!r} {proc.stderr.read()[:300]}")
        t0 = time.perf_counter()
        with socket.create_connection((shaper.ns_ip, port), timeout=timeout_s) as s:
            mss = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)
            chunk = b"\0" * 65536
            left = nbytes
            while left > 0:
                k = s.send(chunk[:min(left, len(chunk))])
                left -= k
            ack = s.recv(1)
        wall = time.perf_counter() - t0
        out, err = proc.communicate(timeout=timeout_s)
        got, secs = out.split()[-2:]
        got_i, secs_f = int(got), float(secs)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    good = got_i * 8 / secs_f / 1e6 if secs_f > 0 else float("nan")
    wire = good * (mss + 66) / mss if mss > 0 else good
    return {"bytes": got_i, "seconds": secs_f, "wall_s": wall, "ack": ack == b"k", "mss": mss,
            "goodput_mbit": good, "measured_mbit": wire, "configured_mbit": shaper.rate_mbit,
            "ratio": wire / shaper.rate_mbit, "shaper": "tc", "qdisc": shaper.qdiscs()["host"]}


@contextlib.contextmanager
def tc_shaper(rate_mbit: float, up_rate_mbit: float | None = None) -> Iterator[TcShaper]:
    """Function form of :class:`TcShaper`."""
    with TcShaper(rate_mbit, up_rate_mbit) as sh:
        yield sh
