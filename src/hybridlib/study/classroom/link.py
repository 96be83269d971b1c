"""One shared, shaped Wi-Fi link between a room of phones and the server: a TCP proxy on loopback.

Why a proxy and not DevTools network emulation: DevTools shapes each page on its own, so 30
emulated pages would each get the whole bandwidth. A classroom shares one access point. Every
client here — Chromium pages and lightweight clients alike — connects to the proxy's port, and
every byte in either direction waits for the same medium: a single transmitter that sends
``mbps`` megabits per second in total (Wi-Fi's airtime is shared by uplink and downlink), in
chunks of at most :data:`CHUNK` bytes, first come first served, then travels ``rtt_ms / 2``
before it is delivered. Connections therefore share the rate roughly fairly, and a big download
slows everyone's small requests, as on a busy access point.

The medium is modelled, not radio: no losses, no retransmissions, no rate adaptation, no
per-frame overhead; it is a lower bound on what a real room would take at that rate.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hybridlib.utils import InputError, loop_thread

log = logging.getLogger(__name__)

#: bytes sent per turn on the medium (a few Wi-Fi aggregates): small enough to interleave
#: connections fairly (64 kB = 10 ms at 50 Mbit/s), large enough that 30 clients' scheduling
#: stays cheap in Python
CHUNK = 64 * 1024
MAX_MBPS = 10_000.0


@dataclass
class LinkStats:
    """What crossed the link: bytes each way, connections, busy time of the medium."""

    bytes_down: int = 0
    bytes_up: int = 0
    connections: int = 0
    busy_s: float = 0.0
    errors: list[str] = field(default_factory=list)


class Medium:
    """A shared transmitter: ``send(n)`` returns when n bytes have had their turn at ``mbps``."""

    def __init__(self, mbps: float) -> None:
        self.bytes_per_s = mbps * 1e6 / 8
        self.free_at = 0.0  # loop time at which the transmitter is next free

    async def send(self, n: int, loop: asyncio.AbstractEventLoop) -> float:
        start = max(loop.time(), self.free_at)
        end = self.free_at = start + n / self.bytes_per_s
        await asyncio.sleep(max(0.0, end - loop.time()))
        return end - start


class SharedLink:
    """The proxy: ``127.0.0.1:<port>`` → ``upstream`` through one :class:`Medium`.

    ``mbps``: the medium's total rate; ``rtt_ms``: round trip added to every byte (half each way).
    Run it with :func:`running` (its own thread and event loop beside synchronous code).
    """

    def __init__(self, upstream_host: str, upstream_port: int, mbps: float, rtt_ms: float) -> None:
        if not 0 < mbps <= MAX_MBPS:
            raise InputError(f"link rate must be in (0, {MAX_MBPS:g}] Mbit/s, got {mbps!r}")
        if not 0 <= rtt_ms <= 2000:
            raise InputError(f"link round trip must be in [0, 2000] ms, got {rtt_ms!r}")
        self.upstream = (upstream_host, int(upstream_port))
        self.mbps, self.rtt_ms = float(mbps), float(rtt_ms)
        self.medium = Medium(mbps)
        self.stats = LinkStats()
        self.t0 = time.monotonic()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, down: bool) -> None:
        """Copy one direction: each chunk takes its turn on the medium, then a delay line
        delivers it ``rtt/2`` later (chunks keep their order; the next one may be sent meanwhile)."""
        loop = asyncio.get_running_loop()
        delay = self.rtt_ms / 2000
        line: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                at, data = await line.get()
                await asyncio.sleep(max(0.0, at - loop.time()))
                if data is None:
                    with contextlib.suppress(Exception):
                        writer.write_eof() if writer.can_write_eof() else None
                    return
                writer.write(data)
                await writer.drain()

        out = asyncio.ensure_future(deliver())
        try:
            while True:
                data = await reader.read(CHUNK)
                if not data:
                    break
                took = await self.medium.send(len(data), loop)  # (not `+= await`: that reads first)
                self.stats.busy_s += took
                if down:
                    self.stats.bytes_down += len(data)
                else:
                    self.stats.bytes_up += len(data)
                line.put_nowait((loop.time() + delay, data))
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            line.put_nowait((loop.time() + delay, None))
            with contextlib.suppress(Exception):
                await out

    async def _handle(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        self.stats.connections += 1
        try:
            s_reader, s_writer = await asyncio.open_connection(*self.upstream)
        except OSError as e:
            self.stats.errors.append(f"upstream: {e}")
            c_writer.close()
            return
        try:
            await asyncio.gather(self._pump(c_reader, s_writer, down=False),
                                 self._pump(s_reader, c_writer, down=True))
        except asyncio.CancelledError:
            pass  # the link is shutting down: the connection ends here (asyncio would log it)
        finally:
            for w in (s_writer, c_writer):
                with contextlib.suppress(Exception):
                    w.close()

    def snapshot(self) -> dict[str, Any]:
        """The link's counters now, with its settings (JSON-ready)."""
        s = self.stats
        return {"mbps": self.mbps, "rtt_ms": self.rtt_ms, "bytes_down": s.bytes_down, "bytes_up": s.bytes_up,
                "connections": s.connections, "busy_s": round(s.busy_s, 3),
                "elapsed_s": round(time.monotonic() - self.t0, 3), "errors": s.errors[:10]}


@contextlib.contextmanager
def running(link: SharedLink, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve ``link`` on a free port of ``host`` from its own thread; yield ``http://host:port``."""
    async def _start() -> tuple[int, Any]:
        server = await asyncio.start_server(link._handle, host, 0)

        async def _close() -> None:
            server.close()

        return server.sockets[0].getsockname()[1], _close

    with loop_thread(_start, host, name="classroom-link", timeout_s=30) as url:
        yield url
