"""The capacity table: a fit that recovers known laws, a bound that points the right way, and a
measurement file that only the benchmark's writer can produce (checked by hand-computable cases)."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from hybridlib.study.load.capacity import (Assumptions, capacity_table, choose_law, other_law, per_session,
                                          render_markdown)
from hybridlib.study.load.capacity_fit import fit_steps, linear_fit, plot_fit, step_verdict
from hybridlib.study.load.capacity_record import (check_measurement, checksum, pooled_steps, provenance,
                                                  read_measurement, write_measurement)
from hybridlib.utils import InputError, project_root


def _step(users, cores, admitted=None, fps_per_user=15.0, bin_=1e5, bout=2e5, errors=0):
    admitted = users if admitted is None else admitted
    return {"users": users, "admitted": admitted, "errors": errors, "cpu_pct": 100 * cores,
            "bytes_in_per_s": bin_ * admitted, "bytes_out_per_s": bout * admitted, "fps_per_user": fps_per_user,
            "rtt_p95_ms": 90.0, "fps": 15, "width": 640, "height": 480, "server_up": True}


def _law(a, b, users=(1, 2, 3, 4)):
    return [_step(n, a + b * n) for n in users]


def test_fit_recovers_an_exact_line_and_its_interval_collapses():
    f = linear_fit([1, 2, 3, 4], [0.35, 0.6, 0.85, 1.1])
    assert f.slope == pytest.approx(0.25) and f.intercept == pytest.approx(0.1)
    assert f.slope_ci == pytest.approx((0.25, 0.25)) and max(map(abs, f.residuals)) < 1e-12
    assert f.r2 == pytest.approx(1.0) and f.dof == 2


def test_fit_recovers_a_noisy_law_and_its_interval_covers_it_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    x = np.array([1, 2, 3, 4, 5, 6], dtype=float)
    hits_b = hits_a = 0
    slopes = []
    for _ in range(2000):
        f = linear_fit(x, 0.05 + 0.12 * x + rng.normal(0, 0.03, x.size))
        hits_b += f.slope_ci[0] <= 0.12 <= f.slope_ci[1]
        hits_a += f.intercept_ci[0] <= 0.05 <= f.intercept_ci[1]
        slopes.append(f.slope)
    # 2000 draws: a true 95% interval covers in 94.0–96.0% of them (±2 binomial SE)
    assert 0.94 <= hits_b / 2000 <= 0.96 and 0.94 <= hits_a / 2000 <= 0.96
    assert np.mean(slopes) == pytest.approx(0.12, abs=0.002)  # unbiased


def test_fit_refuses_what_it_cannot_fit():
    with pytest.raises(InputError, match="≥ 3 points"):
        linear_fit([1, 2], [0.1, 0.2])
    with pytest.raises(InputError, match="same x"):
        linear_fit([2, 2, 2], [0.1, 0.2, 0.3])
    with pytest.raises(InputError, match="finite"):
        linear_fit([1, 2, 3], [0.1, float("nan"), 0.3])


def test_saturated_and_refused_steps_are_left_out_with_their_reason():
    steps = _law(0.1, 0.25) + [_step(5, 0.9, fps_per_user=9.0), _step(6, 0.8, admitted=4)]
    f = fit_steps(steps)
    # the saturated step spends less than the law (0.9 < 1.35): fitting it would pull b down
    assert f["fit"].slope == pytest.approx(0.25) and f["fitted_users"] == [1, 2, 3, 4]
    assert f["saturated_at"] == 5
    assert [d["users"] for d in f["left_out"]] == [5, 6]
    assert "saturated" in f["left_out"][0]["reason"] and "refused" in f["left_out"][1]["reason"]
    assert step_verdict(_step(2, 0.5, errors=1)) == "1 user error(s)"
    with pytest.raises(InputError, match="needs ≥ 3 steps"):
        fit_steps(_law(0.1, 0.25, users=(1, 2)) + [_step(3, 0.5, fps_per_user=3.0)])


def test_table_by_hand_from_an_exact_law():
    # b = 0.25 cores/session, a = 0.1 core: usable per node 0.5 × 16 − 0.1 = 7.9 cores; 100 users
    # → 25 cores of sessions → 4 nodes; cores = (25 + 4 × 0.1) / 0.5 = 50.8 → 51
    a = Assumptions(target_utilisation=0.5, cores_per_node=16, relay_fraction=0.5, egress_usd_per_gb=0.1,
                    hours_per_month=10)
    t = capacity_table(_law(0.1, 0.25), users=[100], assume=a)
    r = t["rows"][0]
    assert t["users_per_core"] == 2.0 == t["users_per_core_point"]
    assert (r["cores"], r["nodes"], r["cores_point"]) == (51, 4, 51)
    assert r["ingress_mbit_s"] == 80.0 and r["egress_mbit_s"] == 160.0  # 100 × 1e5 B/s × 8
    assert r["server_egress_gb_per_h"] == 72.0  # 100 × 2e5 × 3600 / 1e9
    assert r["turn_gb_per_h"] == 54.0  # 0.5 × 100 × 3e5 × 3600 / 1e9
    assert r["usd_per_month"] == pytest.approx((72 + 54) * 10 * 0.1)
    # the one-step figure, (0.1 + 4 × 0.25) / 4 = 0.275 cores per session: above b since a > 0
    assert per_session(_law(0.1, 0.25))["cpu_cores"] == pytest.approx(0.275)
    assert t["users_per_core_one_step"] == round(0.5 / 0.275, 2) < t["users_per_core_point"]


def test_the_table_gives_a_lower_bound_on_users_per_core():
    rng = np.random.default_rng(1)
    steps = [_step(n, 0.05 + 0.15 * n + rng.normal(0, 0.02)) for n in (1, 2, 3, 4, 5)]
    t = capacity_table(steps)
    fit = t["fit"]["fit"]
    assert fit.slope_ci[1] > fit.slope  # noise: the interval has width
    assert t["users_per_core"] < t["users_per_core_point"]  # bound below the point estimate
    assert t["users_per_core"] == round(0.7 / fit.slope_ci[1], 2)
    for r in t["rows"]:
        assert r["cores"] >= r["cores_point"]  # and cores above it
    assert "lower bound on users per core" in t["bound"]
    with pytest.raises(InputError, match="does not grow"):
        capacity_table([_step(n, 0.5 - 0.1 * n) for n in (1, 2, 3)])


def _record(**over):
    rec = {"command": "benchmarks/bench_ray.py --users 1,2,3,4", "cpus": 2,
           "inprocess": _law(0.1, 0.25), "ray": _law(0.2, 0.3),
           "provenance": {"date": "2026-12-07T22:00:00+00:00", "load_average_start": [1.0, 1.5, 2.0],
                          "load_average_end": [1.2, 1.4, 2.0], "git_commit": "abc123", "git_dirty": False,
                          "cpus": 2}}
    rec.update(over)
    return rec


def test_writer_refuses_bad_input_and_flags_weak_input(tmp_path):
    p = tmp_path / "m.json"
    bad = [({"provenance": None}, "no provenance"), ({"inprocess": [], "ray": []}, "no steps"),
           ({"inprocess": [{**_step(1, 0.3), "cpu_pct": -5.0}]}, "cpu_pct"),
           ({"inprocess": [{**_step(1, 0.3), "cpu_pct": float("nan")}]}, "cpu_pct"),
           ({"inprocess": [_step(2, 0.3, admitted=3)]}, "3 admitted of 2"),
           ({"inprocess": [{k: v for k, v in _step(1, 0.3).items() if k != "fps_per_user"}]}, "missing fps_per_user"),
           ({"command": ""}, "command")]
    for over, msg in bad:
        with pytest.raises(InputError, match=msg):
            write_measurement(p, _record(**over))
        assert not p.exists()  # nothing half-written
    rec = write_measurement(p, _record(ray=_law(0.2, 0.3, users=(1, 2)),
                                       provenance={**_record()["provenance"], "load_average_end": [3.5, 2, 2]}))
    assert any("ray: 2 user count(s)" in f for f in rec["flags"])
    assert any("load average up to 3.5 on 2 CPUs" in f for f in rec["flags"])
    assert check_measurement(_record()) == []


def test_reader_refuses_a_hand_edited_or_unsigned_file(tmp_path):
    p = tmp_path / "m.json"
    write_measurement(p, _record())
    assert read_measurement(p)["inprocess"][0]["cpu_pct"] == pytest.approx(35.0)
    d = json.loads(p.read_text())
    d["inprocess"][0]["cpu_pct"] = 20.0  # a hand edit
    p.write_text(json.dumps(d))
    with pytest.raises(InputError, match="does not match its checksum"):
        read_measurement(p)
    d.pop("sha256")
    p.write_text(json.dumps(d))
    with pytest.raises(InputError, match="no checksum"):
        read_measurement(p)
    p.write_text("{not json")
    with pytest.raises(InputError, match="not JSON"):
        read_measurement(p)
    assert checksum({"a": 1, "sha256": "x"}) == checksum({"a": 1})


def test_provenance_names_date_load_and_commit():
    prov = provenance((0.5, 0.25, 0.125))
    assert prov["load_average_start"] == [0.5, 0.25, 0.12] and len(prov["load_average_end"]) == 3
    assert prov["date"].endswith("+00:00") and prov["cpus"] >= 1
    assert prov["git_commit"] is None or len(prov["git_commit"]) == 40


def test_markdown_and_figure_from_a_written_file(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rec = write_measurement(tmp_path / "m.json", _record())
    steps = {b: rec[b] for b in ("inprocess", "ray")}
    tables = {b: capacity_table(s) for b, s in steps.items()}
    md = render_markdown(tables, steps, [("m.json", rec)], "fit.png")
    assert "lower bound on users per core" in md and "on 2026-12-07T22:00:00+00:00" in md
    assert "load average 1 1.5 2 before" in md and "commit abc123" in md and "![" in md
    assert "## backend `inprocess`: ≥ 2.8 users per core" in md  # 0.7 / 0.25
    assert "| 1 | 1 | 1 | 350 | 15.0 | 15.0 | 90.0 | yes |" in md
    fig = plot_fit({b: t["fit"] for b, t in tables.items()}, steps)
    assert len(fig.axes) == 2 and len(fig.axes[1].lines) == 4  # a zero line and the residuals per backend


def _starved(a, c, n, fps_per_user):
    """A step whose users got ``fps_per_user`` (starved by other jobs): CPU follows the frames answered."""
    return _step(n, a + c * n * fps_per_user, fps_per_user=fps_per_user)


def test_the_frame_law_recovers_the_cost_of_a_frame_from_starved_steps():
    # 10 ms of CPU per answered frame and 0.05 core fixed; the box starves the users unevenly
    steps = [_starved(0.05, 0.010, n, r) for n, r in ((1, 13.0), (2, 11.0), (3, 8.0), (4, 5.0), (5, 2.0))]
    assert choose_law({"inprocess": steps})[0] == "frames"
    f = fit_steps(steps, law="frames")
    assert f["fit"].slope == pytest.approx(0.010) and f["fit"].intercept == pytest.approx(0.05)
    assert f["per_session"] == pytest.approx(0.15)  # a session at the offered 15 fps
    assert f["saturated_at"] == 1 and f["left_out"] == [] and f["bytes_from_users"] == [1]
    t = capacity_table(steps, law="frames")
    assert t["users_per_core"] == round(0.7 / 0.15, 2)
    # the one-step figure from the most starved step is far too cheap: what the fit exists to avoid
    assert t["users_per_core_one_step"] > 4 * t["users_per_core"]  # 23.3 vs 4.67
    # the per-session law refuses these steps rather than fit saturated ones
    with pytest.raises(InputError, match="needs ≥ 3 steps"):
        capacity_table(steps, law="sessions")
    law, why = choose_law({"inprocess": _law(0.1, 0.25), "ray": _law(0.2, 0.3)})
    assert law == "sessions" and "inprocess: 4 of 4 steps kept up (1, 2, 3, 4 users)" in why
    assert other_law(steps, "frames").startswith("the per-session law cannot be fitted")
    assert other_law(_law(0.1, 0.25), "sessions") == "the per-frame law over 4 steps gives `b` = 250 [250, 250] millicores"
    with pytest.raises(InputError, match="different frame rates"):
        fit_steps(steps[:2] + [{**steps[2], "fps": 10}], law="frames")


def test_runs_pool_their_steps_once_each(tmp_path):
    write_measurement(tmp_path / "a.json", _record())
    write_measurement(tmp_path / "b.json", _record(inprocess=_law(0.1, 0.25, users=(2, 4, 6))))
    recs, steps = pooled_steps([tmp_path / "a.json", tmp_path / "b.json"])
    assert [s["run"] for s in steps["inprocess"]] == [1, 1, 1, 1, 2, 2, 2]
    t = capacity_table(steps["inprocess"])
    assert t["fit"]["fit"].slope == pytest.approx(0.25)
    assert t["per_run"][1][0] == pytest.approx(0.25) and t["per_run"][2][0] == pytest.approx(0.25)
    with pytest.raises(InputError, match="given twice"):
        pooled_steps([tmp_path / "a.json", tmp_path / "a.json"])
    write_measurement(tmp_path / "idle.json", _record(inprocess=[], ray=[], idle={"inprocess": {"cpu_pct": 0.0}}))
    with pytest.raises(InputError, match="no load steps"):
        pooled_steps([tmp_path / "idle.json"])


def test_docs_capacity_is_what_the_code_makes_of_its_measurement_files(monkeypatch):
    """docs/CAPACITY.md is generated, never edited: re-rendering it from the files it names (with
    benchmarks/capacity.py's defaults) gives the committed text byte for byte."""
    root = project_root()
    md = (root / "docs" / "CAPACITY.md").read_text(encoding="utf-8")
    m = re.search(r"Generated by `python benchmarks/capacity.py ([^`]+)`", md)
    assert m, "docs/CAPACITY.md does not say which files it was generated from"
    monkeypatch.chdir(root)
    recs, steps = pooled_steps(m.group(1).split())
    law, why = choose_law(steps)
    tables = {b: capacity_table(s, law=law) for b, s in steps.items()}
    cross = {b: other_law(s, law) for b, s in steps.items()}
    assert render_markdown(tables, steps, recs, "capacity_fit.png", why, cross) == md
