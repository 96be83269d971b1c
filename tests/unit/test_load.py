"""The load generator's arithmetic and argument checks (no servers)."""
from __future__ import annotations

import pytest

from hybridlib.study import load
from hybridlib.study.load import results as load_results
from hybridlib.study.load import users as load_users
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
        load.check_args("edge", [1], 1, 15, (640, 480))
    with pytest.raises(InputError, match="duration"):
        load.check_args("cloud", [1], 10_000, 15, (640, 480))
    with pytest.raises(InputError, match="fps"):
        load.check_args("cloud", [1], 1, 0, (640, 480))
    with pytest.raises(InputError, match="loopback"):
        load.check_url("http://10.0.0.1:8080")
    load.check_url("http://127.0.0.1:8080")


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
    assert load_users._model_base({"default_variant": "uint8", "variants": [{"name": "fp32"}]}, None) == "/model/uint8"
    assert load_users._model_base({"variants": [{"name": "fp16"}]}, None) == "/model/fp16"
    assert load_users._model_base({}, "fp32") == "/model/fp32"


def test_study_plan_from_presets():
    from hybridlib import config
    for name in ("smoke", "quick", "full"):
        p = load.StudyPlan.from_preset(config.PRESETS[name])
        assert p.users and p.seed_users == p.users  # the ratio needs equal user counts
        assert p.overload_factor == 4 and p.hybrid_users
        assert max(p.hybrid_users) >= (2 if name == "quick" else 1)
        load.check_args("cloud", p.users, p.duration_s, p.fps, p.size)


def test_summarize_counts_failed_and_missing_users_as_errors():
    samples = [(float(t), 0.1 * t, 50.0) for t in range(0, 12)]
    ok = _user(1.0, 10.0, 100, 90, [40.0])
    stuck = load.UserResult(admitted=True, status=200, error="TimeoutError")  # admitted, never streamed
    st = load.summarize_step("cloud", "seed", 4, 10, 15, (640, 480), [ok, stuck], samples, {}, {})
    assert st.admitted == 1 and st.refused == 0 and st.errors == 3
    assert st.admitted + st.refused + st.errors == st.users


def _ratio_step(users, aps, admitted=None):
    return {"users": users, "admitted": admitted or users, "answered_per_cpu_s": aps}


def test_cloud_ratio_is_per_equal_user_count_and_min_is_headline():
    # ours measured at 1, 2, 4 users, the seed at 1, 2: the ratio exists only at 1 and 2
    ours = [_ratio_step(1, 100.0), _ratio_step(2, 90.0), _ratio_step(4, 300.0)]
    seed = [_ratio_step(1, 10.0), _ratio_step(2, 20.0)]
    t = load.cloud_ratio_table(ours, seed)
    assert [(r["users"], r["ratio"]) for r in t["rows"]] == [(1, 10.0), (2, 4.5)]
    assert t["min_ratio"] == 4.5 and t["min_at_users"] == 2
    assert t["min_processed_ratio"] is None  # no server-side counts given: none invented
    assert t["unmatched"] == {"ours": [4], "seed": []}
    # what the old formula gave (median over unequal sets, 100 / 15) must not be the headline
    assert t["min_ratio"] != pytest.approx(100.0 / 15.0)


def test_cloud_ratio_skips_counts_without_answers_and_refuses_duplicates():
    t = load.cloud_ratio_table([_ratio_step(1, 50.0), _ratio_step(2, 40.0)],
                               [_ratio_step(1, 5.0), _ratio_step(2, None)])
    assert t["rows"][1]["ratio"] is None and t["min_ratio"] == 10.0
    assert load.cloud_ratio_table([_ratio_step(3, 1.0)], [_ratio_step(1, 1.0)])["min_ratio"] is None
    p = load.cloud_ratio_table([{**_ratio_step(1, 50.0), "processed_per_cpu_s": 60.0}],
                               [{**_ratio_step(1, 5.0), "processed_per_cpu_s": 12.0}])
    assert p["rows"][0]["processed_ratio"] == 5.0 and p["min_processed_ratio"] == 5.0 and p["min_ratio"] == 10.0
    assert load_results.frames_per_cpu_second({"frames_out": 10}, {"frames_out": 70}, 2.0) == 30.0
    assert load_results.frames_per_cpu_second({}, {"frames_out": 70}, 2.0) is None  # hybrid: no frames_out
    with pytest.raises(InputError, match="twice"):
        load.cloud_ratio_table([_ratio_step(1, 1.0), _ratio_step(1, 2.0)], [])


def _over_step(users, admitted, refused, fps, p95, errors=0, up=True):
    return {"users": users, "admitted": admitted, "refused": refused, "errors": errors,
            "fps_per_user": fps, "rtt_p95_ms": p95, "server_up": up}


def test_overload_verdict_holds_only_when_admission_control_holds():
    base = _over_step(2, 2, 0, 14.0, 120.0)
    ok = load.overload_verdict(base, _over_step(8, 2, 6, 13.5, 150.0), cap=2)
    assert ok["holds"] and ok["factor"] == 4 and all(ok["checks"].values())
    bad = {  # each way it can break
        "admitted_is_capacity": _over_step(8, 8, 0, 13.0, 130.0),  # no cap: everyone admitted
        "rest_refused_503": _over_step(8, 2, 3, 13.0, 130.0, errors=3),  # some timed out instead of 503
        "fps_kept": _over_step(8, 2, 6, 5.0, 130.0),  # admitted users starved
        "p95_kept": _over_step(8, 2, 6, 13.0, 900.0),  # lag built up
        "server_up": _over_step(8, 2, 6, 13.0, 130.0, up=False),  # server died
    }
    for check, over in bad.items():
        v = load.overload_verdict(base, over, cap=2)
        assert not v["holds"] and not v["checks"][check], check


def test_hybrid_claim_needs_low_server_cpu_and_client_frames():
    cloud_steps = [{"admitted": 1, "cpu_s_per_user_min": 20.0, "answered": 100},
                   {"admitted": 2, "cpu_s_per_user_min": 10.0, "answered": 200}]
    h = [{"admitted": 2, "cpu_s_per_user_min": 0.01, "answered": 80, "client_ms_per_frame": 30.0}]
    c = load.hybrid_claim(h, cloud_steps)
    assert c["ratio"] == pytest.approx(0.01 / 15.0, rel=1e-3) and c["holds"]
    assert not load.hybrid_claim([{**h[0], "cpu_s_per_user_min": 1.0}], cloud_steps)["holds"]  # 6.7%
    assert not load.hybrid_claim([{**h[0], "answered": 0}], cloud_steps)["holds"]  # pages did nothing
    assert load.hybrid_claim([], cloud_steps) is None


def test_client_and_server_ms_per_frame():
    samples = [(float(t), 0.2 * t, 50.0) for t in range(0, 12)]  # 0.2 CPU-s per s on the server
    u = [load.UserResult(admitted=True, status=200, frames_sent=100, answered=100, t_start=1.0, t_end=11.0,
                         client_task_s=2.5, client_script_s=1.5, client_proc_cpu_s=4.0),
         load.UserResult(admitted=True, status=200, frames_sent=100, answered=100, t_start=1.0, t_end=11.0,
                         client_task_s=1.5, client_script_s=0.5, client_proc_cpu_s=4.0)]
    st = load.summarize_step("hybrid", "chromium", 2, 10, 15, (640, 480), u, samples, {}, {})
    assert st.client_ms_per_frame == pytest.approx(1000 * 4.0 / 200)
    assert st.client_script_ms_per_frame == pytest.approx(1000 * 2.0 / 200)
    assert st.client_proc_ms_per_frame == pytest.approx(1000 * 8.0 / 200)
    assert st.server_ms_per_frame == pytest.approx(1000 * 2.0 / 200)  # 2 CPU-s over 10 s, 200 frames
    assert st.server_ms_per_frame == pytest.approx(1000 / st.answered_per_cpu_s)
    # cloud users carry no client metrics: no client figure is invented
    st2 = load.summarize_step("cloud", "ours", 1, 10, 15, (640, 480), [_user(1.0, 11.0, 100, 90, [1.0])],
                              samples, {}, {})
    assert st2.client_ms_per_frame is None
