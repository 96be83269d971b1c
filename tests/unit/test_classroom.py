"""The classroom's parts that need no browser: the shared link shapes and carries bytes intact,
joins and page slots are what they claim, and the summaries count what the records say."""
from __future__ import annotations

import asyncio
import time

import pytest

from hybridlib.study.classroom import cloud, hybrid, link
from hybridlib.study.classroom.room import page_slots
from hybridlib.utils import InputError


def test_join_times_are_seeded_sorted_and_inside_the_window():
    a = hybrid.join_times(30, 10.0, seed=3)
    assert a == hybrid.join_times(30, 10.0, seed=3) and a != hybrid.join_times(30, 10.0, seed=4)
    assert len(a) == 30 and a[0] == 0.0 and a == sorted(a) and max(a) <= 10.0
    for bad in ((0, 10.0), (65, 10.0), (5, -1.0), (5, 500.0)):
        with pytest.raises(InputError):
            hybrid.join_times(*bad)


def test_page_slots_spread_over_the_room():
    assert page_slots(30, 0) == [] and page_slots(30, 1) == [15]
    assert page_slots(30, 2) == [0, 29] and page_slots(30, 3) == [0, 14, 29]
    assert page_slots(3, 3) == [0, 1, 2]
    with pytest.raises(InputError):
        page_slots(3, 4)


def test_link_refuses_nonsense_settings():
    for mbps, rtt in ((0, 10), (-1, 10), (1e9, 10), (10, -1), (10, 5000)):
        with pytest.raises(InputError):
            link.SharedLink("127.0.0.1", 1, mbps, rtt)


async def _echo_server() -> tuple[asyncio.AbstractServer, int]:
    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        n = int((await r.readline()).decode())
        w.write(bytes(range(256)) * (n // 256) + bytes(n % 256))
        await w.drain()
        w.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    return srv, srv.sockets[0].getsockname()[1]


async def _fetch(port: int, n: int) -> bytes:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(f"{n}\n".encode())
    await w.drain()
    data = await r.read()
    w.close()
    return data


def test_link_carries_bytes_intact_and_shares_one_rate():
    """Two clients at once through a 4 Mbit/s medium: both get their exact bytes, the counters
    match, and together they cannot finish before 2 × 200 kB at 4 Mbit/s (0.8 s) — one medium,
    not one each. (A lower bound the shaper guarantees; an unshaped proxy takes milliseconds.)"""
    n, mbps = 200_000, 4.0

    async def main() -> tuple[list[bytes], float, dict]:
        srv, port = await _echo_server()
        ln = link.SharedLink("127.0.0.1", port, mbps, rtt_ms=10)
        lsrv = await asyncio.start_server(ln._handle, "127.0.0.1", 0)
        lport = lsrv.sockets[0].getsockname()[1]
        t0 = time.perf_counter()
        got = await asyncio.gather(_fetch(lport, n), _fetch(lport, n))
        dt = time.perf_counter() - t0
        lsrv.close()
        srv.close()
        return list(got), dt, ln.snapshot()

    got, dt, snap = asyncio.run(main())
    want = bytes(range(256)) * (n // 256) + bytes(n % 256)
    assert got == [want, want]
    assert snap["bytes_down"] == 2 * n and snap["connections"] == 2 and snap["bytes_up"] > 0
    assert dt >= 2 * n * 8 / (mbps * 1e6)
    assert snap["busy_s"] >= 2 * n * 8 / (mbps * 1e6) * 0.999


def test_running_proxy_serves_http_through_the_link():
    import urllib.request

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await r.readuntil(b"\r\n\r\n")
        w.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        await w.drain()
        w.close()

    import threading

    loop = asyncio.new_event_loop()
    srv = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0))
    port = srv.sockets[0].getsockname()[1]
    th = threading.Thread(target=loop.run_forever, daemon=True)
    th.start()
    try:
        ln = link.SharedLink("127.0.0.1", port, 100, 0)
        with link.running(ln) as url:
            assert urllib.request.urlopen(url + "/", timeout=30).read() == b"hello"
        assert ln.snapshot()["bytes_down"] > 5
    finally:
        loop.call_soon_threadsafe(loop.stop)
        th.join(10)


def test_hybrid_summary_and_compute_tail():
    pages = [hybrid.Phone("page", 0.0, done_s=1.0, first_s=2.5, bytes=800_000),
             hybrid.Phone("page", 5.0, done_s=6.0, first_s=7.0, bytes=800_000)]
    assert hybrid.compute_tail_s(pages) == pytest.approx(1.25)
    assert hybrid.compute_tail_s([hybrid.Phone("page", 0.0, error="x")]) is None
    light = [hybrid.Phone("light", 1.0, done_s=2.0, first_s=3.25, bytes=700_000),
             hybrid.Phone("light", 2.0, error="boom")]
    s = hybrid.summarize(pages + light, {"cpu_s": 1.0}, {"mbps": 50})
    assert s["phones"] == 4 and s["failed"] == 1 and s["no_prediction"] == 0
    assert s["first_prediction_s"]["pages"]["n"] == 2 and s["first_prediction_s"]["pages"]["max"] == 2.5
    assert s["first_prediction_s"]["light"]["p50"] == 2.25 and s["first_prediction_s"]["all"]["n"] == 3
    assert s["bytes_per_phone"] == 800_000


def test_cloud_rows_count_full_speed_and_refusals():
    base = {"t_start": 100.0, "t_end": 110.0, "bytes_sent": 2_500_000, "error": None, "frames_sent": 150}
    ok = {**base, "join_s": 0.0, "status": 200, "admitted": True, "answered": 148, "rtt_ms": [80.0] * 20}
    slow = {**base, "join_s": 1.0, "status": 200, "admitted": True, "answered": 100, "rtt_ms": [80.0] * 20}
    late = {**base, "join_s": 2.0, "status": 200, "admitted": True, "answered": 150, "rtt_ms": [80.0] * 18 + [900.0] * 2}
    full = {"join_s": 3.0, "status": 503, "admitted": False, "answered": 0, "rtt_ms": [], "bytes_sent": 0,
            "t_start": 0.0, "t_end": 0.0, "error": "server at capacity: 3 session(s) in use"}
    rows = [cloud.phone_row(d, 15) for d in (ok, slow, late, full)]
    assert [r["full_speed"] for r in rows] == [True, False, False, False]
    assert rows[0]["fps"] == 14.8 and rows[0]["uplink_mbps"] == 2.0 and rows[3]["fps"] == 0.0
    assert rows[0]["sent_fps"] == 15.0 and rows[3]["sent_fps"] == 0.0
    s = cloud.summarize(rows, 15, 3, {"mean_pct": 50.0})
    assert (s["admitted"], s["full_speed"], s["refused_503"], s["other_errors"]) == (3, 1, 1, 0)
    assert "capacity" in s["refusal_message"] and s["uplink_mbps_per_stream"] == 2.0
    assert s["admitted_sent_fps"] == [15.0, 15.0, 15.0]


def test_cpu_sampler_reports_mean_and_peak():
    pts = iter([(0.0, 0.0, 0), (1.0, 0.5, 0), (2.0, 0.6, 0), (3.0, 1.5, 0)])
    s = hybrid.CpuSampler(lambda: next(pts), every_s=0.0)
    s.points = [next(pts)[:2] for _ in range(4)]
    out = s.summary()
    assert out["cpu_s"] == 1.5 and out["mean_pct"] == 50.0 and out["peak_pct"] == 90.0
