"""The load generator's arithmetic and argument checks (no servers)."""
from __future__ import annotations

import pytest

from hybridlib import load
from hybridlib.utils import InputError


def test_parse_users_and_size():
    assert load.parse_users("1,2,4") == [1, 2, 4]
    assert load.parse_users("1-3,6") == [1, 2, 3, 6]
    assert load.parse_size("640x480") == (640, 480)
    for bad in ("", "0", "a,b", "1,100", "-2"):
        with pytest.raises(InputError, match="users"):
            load.parse_users(bad)
    for bad in ("640", "641x480", "10x10", "4000x3000"):
        with pytest.raises(InputError, match="size"):
            load.parse_size(bad)


def test_checks_bound_every_run():
    with pytest.raises(InputError, match="mode"):
        load._check("edge", [1], 1, 15, (640, 480))
    with pytest.raises(InputError, match="duration"):
        load._check("cloud", [1], 10_000, 15, (640, 480))
    with pytest.raises(InputError, match="fps"):
        load._check("cloud", [1], 1, 0, (640, 480))
    with pytest.raises(InputError, match="loopback"):
        load._check_url("http://10.0.0.1:8080")
    load._check_url("http://127.0.0.1:8080")


def _user(t0, t1, sent, ans, rtts, bin_=1000, bout=2000, admitted=True, status=200):
    return load.UserResult(admitted=admitted, status=status, frames_sent=sent, answered=ans,
                           rtt_ms=rtts, bytes_sent=bin_, bytes_received=bout, t_start=t0, t_end=t1,
                           faces_seen=ans)


def test_summarize_step_window_cpu_and_rates():
    # server burns 0.5 CPU-s per wall second; two users overlap on [11, 20]
    samples = [(float(t), 0.5 * (t - 10), 100.0) for t in range(10, 23)]
    users = [_user(10.0, 20.0, 150, 140, [50.0, 60.0, 70.0]),
             _user(11.0, 21.0, 150, 150, [80.0]),
             load.UserResult(admitted=False, status=503, error="capacity")]
    st = load.summarize_step("cloud", "ours", 3, 10, 15, (640, 480), users, samples,
                             {"frames_dropped": 3}, {"frames_dropped": 10})
    assert st.admitted == 2 and st.refused == 1 and st.errors == 0
    assert st.window_s == pytest.approx(9.0)
    assert st.cpu_pct == pytest.approx(50.0)
    assert st.frames_sent == 300 and st.answered == 290 and st.dropped == 10
    assert st.server_dropped == 7
    assert st.fps_per_user == pytest.approx(290 / 20)
    assert st.rtt_p50_ms == pytest.approx(65.0)
    assert st.bytes_in_per_s == pytest.approx(200.0) and st.bytes_out_per_s == pytest.approx(400.0)
    assert st.cpu_s_per_user_min == pytest.approx(0.5 * 60 / 2)
    assert st.bytes_per_user_min == pytest.approx(600 * 60 / 2)


def test_saturation_point():
    def step(users, fps_u, p95, admitted=None):
        return {"mode": "cloud", "users": users, "admitted": admitted or users, "fps": 15,
                "fps_per_user": fps_u, "rtt_p95_ms": p95}
    steps = [step(1, 14.8, 90), step(2, 14.0, 120), step(4, 9.0, 600), step(6, 5.0, 900)]
    assert load.saturation_point(steps) == 2
    assert load.saturation_point([step(1, 3.0, 2000)]) is None
    assert load.saturation_point([step(3, 14.5, 100, admitted=2)]) is None


def test_model_base_from_config():
    assert load._model_base({"default_variant": "uint8", "variants": [{"name": "fp32"}]}, None) == "/model/uint8"
    assert load._model_base({"variants": [{"name": "fp16"}]}, None) == "/model/fp16"
    assert load._model_base({}, "fp32") == "/model/fp32"


def test_study_plan_from_presets():
    from hybridlib import config
    for name in ("smoke", "quick", "full"):
        p = load.StudyPlan.from_preset(config.PRESETS[name])
        assert p.users and set(p.seed_users) <= set(p.users)
        load._check("cloud", p.users, p.duration_s, p.fps, p.size)


def test_summarize_counts_failed_and_missing_users_as_errors():
    samples = [(float(t), 0.1 * t, 50.0) for t in range(0, 12)]
    ok = _user(1.0, 10.0, 100, 90, [40.0])
    stuck = load.UserResult(admitted=True, status=200, error="TimeoutError")  # admitted, never streamed
    st = load.summarize_step("cloud", "seed", 4, 10, 15, (640, 480), [ok, stuck], samples, {}, {})
    assert st.admitted == 1 and st.refused == 0 and st.errors == 3
    assert st.admitted + st.refused + st.errors == st.users
