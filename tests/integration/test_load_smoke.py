"""A short load run at smoke size through the real CLI: well-formed results, both modes."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str, timeout: int = 400) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_USE_LEGACY_KERAS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run([sys.executable, "-m", "hybridlib.cli", "load", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=timeout)


@pytest.mark.parametrize("args,needle", [
    (["--mode", "cloud", "--users", "0", "--duration", "2"], "users"),
    (["--mode", "cloud", "--users", "1", "--duration", "2", "--size", "12x"], "size"),
    (["--mode", "cloud", "--users", "1", "--duration", "9999"], "duration"),
    (["--mode", "cloud", "--users", "1", "--duration", "2", "--model", "/nonexistent.h5"], "nonexistent"),
])
def test_bad_arguments_exit_2_naming_the_input(args, needle):
    p = _cli(*args, timeout=120)
    assert p.returncode == 2, p.stderr
    assert needle in p.stderr and "Traceback" not in p.stderr


def test_cloud_load_run_with_admission(untrained_h5, tmp_path):
    out = tmp_path / "cloud.json"
    p = _cli("--mode", "cloud", "--users", "1,2", "--duration", "3", "--fps", "10", "--size", "320x240",
             "--max-sessions", "1", "--model", str(untrained_h5), "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    d = json.loads(out.read_text())
    assert d["mode"] == "cloud" and d["pipeline"] == "ours"
    one, two = d["steps"]
    assert one["users"] == 1 and one["admitted"] == 1 and one["refused"] == 0
    assert two["users"] == 2 and two["admitted"] == 1 and two["refused"] == 1
    for s in (one, two):
        assert s["cpu_pct"] > 0 and s["window_s"] > 1
        assert 0 < s["answered"] <= s["frames_sent"]
        assert s["dropped"] == s["frames_sent"] - s["answered"]
        assert s["bytes_in_per_s"] > 0 and s["bytes_out_per_s"] > 0
        assert s["rtt_p50_ms"] is not None and 0 < s["rtt_p50_ms"] <= s["rtt_p95_ms"]
        assert s["faces_per_answer"] > 0.5  # the clip shows one face
    assert "users" in p.stdout and "rtt_p95_ms" in p.stdout


def test_hybrid_load_run_downloads_the_model(untrained_h5, tfjs_variants, tmp_path):
    out = tmp_path / "hybrid.json"
    p = _cli("--mode", "hybrid", "--users", "2", "--duration", "2", "--model", str(untrained_h5),
             "--models-dir", str(tfjs_variants), "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    (s,) = json.loads(out.read_text())["steps"]
    assert s["admitted"] == 2 and s["errors"] == 0
    shards = sum(f.stat().st_size for f in (tfjs_variants / "fp32").glob("*.bin"))
    assert s["setup_bytes_per_user"] > shards  # page + scripts + model.json + weights
    assert s["bytes_in_per_s"] == 0 and s["answered"] == 0  # after the download: local inference


@pytest.mark.browser
def test_hybrid_chromium_users(need_chromium, untrained_h5, tfjs_variants, tmp_path):
    """Hybrid users as real pages: they download page + model, then infer locally."""
    out = tmp_path / "browser.json"
    p = _cli("--mode", "hybrid", "--browser", "--users", "2", "--duration", "3", "--model", str(untrained_h5),
             "--models-dir", str(tfjs_variants), "--out", str(out))
    assert p.returncode == 0, p.stderr[-3000:]
    (s,) = json.loads(out.read_text())["steps"]
    assert s["pipeline"] == "chromium" and s["admitted"] == 2 and s["errors"] == 0
    assert s["answered"] > 0  # frames classified in the pages
    shards = sum(f.stat().st_size for f in (tfjs_variants / "fp32").glob("*.bin"))
    assert s["setup_bytes_per_user"] > shards  # each page fetched the model itself
    # the client's cost per frame, from the DevTools protocol (page main thread) and psutil
    # (the Chromium process tree): the work moved to the client, it did not vanish
    assert s["client_ms_per_frame"] > 0 and s["client_script_ms_per_frame"] > 0
    assert s["client_proc_ms_per_frame"] >= s["client_script_ms_per_frame"]
    assert s["server_up"] is True


def test_overload_at_4x_capacity_keeps_admitted_users_served(untrained_h5):
    """Capacity step, then 4× the capacity offered to the capped server, back to back: the
    admitted users keep their frame rate and round trip, the others get 503, /healthz answers."""
    from hybridlib.study import load

    base, over = load.run_load("cloud", [1, 4], 4.0, fps=10, size=(320, 240), model_path=untrained_h5,
                               max_sessions=1, warmup_s=2.0, progress=False)
    v = load.overload_verdict(base, over, cap=1)
    assert over.users == 4 and v["factor"] == 4
    assert v["holds"], v
    assert over.admitted == 1 and over.refused == 3 and over.answered > 0


def test_seed_server_ends_sessions_on_sigusr1(untrained_h5, tmp_path):
    """The load study's end of a seed step: ``SIGUSR1`` to a real ``serve --pipeline seed``
    process closes its open session at the next frame (the user is still streaming here, so
    only the signal can have closed it), the frames it had queued count as dropped, and the
    server stays up for the next step."""
    import asyncio
    import threading
    import time

    from hybridlib.study import load

    with load.server("cloud", untrained_h5, max_sessions=2, pipeline="seed",
                     log_path=tmp_path / "seed.log") as srv:
        box: dict = {}
        user = threading.Thread(target=lambda: box.update(r=asyncio.run(load.cloud_user(
            srv.url, load.make_clip((320, 240), 10), 10, 25.0))), daemon=True)
        user.start()
        m = {}
        for _ in range(120):  # until the handler has answered a few frames
            m = srv.metrics(timeout_s=5)
            if m.get("sessions") == 1 and (m.get("frames_out") or 0) >= 5:
                break
            threading.Event().wait(0.25)
        assert m.get("sessions") == 1, m
        assert srv.end_sessions()
        srv.wait_idle(timeout_s=20)
        after = srv.metrics()
        t_closed = time.time()
        assert after["sessions"] == 0 and after["sessions_total"] == 1
        assert after["frames_dropped"] >= 1  # at least the frame taken when the signal was seen
        assert srv.healthz()
        user.join(60)
    r = box["r"]
    assert r.admitted and r.answered > 0
    # closed before the user's own 25 s were over: the signal, not the hang-up, ended it (the
    # user then sees its connection close and stops early)
    assert t_closed < r.t_start + 25.0
