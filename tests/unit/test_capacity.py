"""The capacity table is arithmetic on a recorded measurement: check it by hand-computable cases."""
from __future__ import annotations

import pytest

from hybridlib.study.load.capacity import Assumptions, capacity_table, per_session, render_markdown
from hybridlib.utils import InputError


def _step(users, admitted, cpu_pct, bin_, bout):
    return {"users": users, "admitted": admitted, "cpu_pct": cpu_pct, "bytes_in_per_s": bin_,
            "bytes_out_per_s": bout, "fps_per_user": 15.0, "rtt_p95_ms": 90.0, "width": 640,
            "height": 480, "fps": 15}


def test_per_session_uses_the_largest_admitted_step():
    ps = per_session([_step(1, 1, 30.0, 1e5, 2e5), _step(4, 2, 50.0, 2e5, 4e5), _step(2, 0, 5.0, 0, 0)])
    assert ps["users"] == 2 and ps["cpu_cores"] == pytest.approx(0.25)
    assert ps["bytes_in_per_s"] == 1e5 and ps["bytes_out_per_s"] == 2e5


def test_table_by_hand():
    # 0.25 cores per session at 50% target → 2 users per core; 100 users → 50 cores → 4 × 16-core nodes
    a = Assumptions(target_utilisation=0.5, cores_per_node=16, relay_fraction=0.5, egress_usd_per_gb=0.1,
                    hours_per_month=10)
    t = capacity_table([_step(2, 2, 50.0, 2e5, 4e5)], users=[100], assume=a)
    r = t["rows"][0]
    assert t["users_per_core"] == 2.0
    assert (r["cores"], r["nodes"]) == (50, 4)
    assert r["ingress_mbit_s"] == 80.0 and r["egress_mbit_s"] == 160.0  # 100 × 1e5 B/s × 8
    assert r["server_egress_gb_per_h"] == 72.0  # 100 × 2e5 × 3600 / 1e9
    assert r["turn_gb_per_h"] == 54.0  # 0.5 × 100 × 3e5 × 3600 / 1e9
    assert r["usd_per_month"] == pytest.approx((72 + 54) * 10 * 0.1)
    md = render_markdown({"inprocess": t}, "m.json")
    assert "2.0 users per core" in md and "| 100 | 50 | 4 |" in md and "50% busy" in md


def test_bad_inputs_are_named():
    with pytest.raises(InputError, match="admitted"):
        per_session([_step(2, 0, 5.0, 0, 0)])
    with pytest.raises(InputError, match="relay_fraction"):
        Assumptions(relay_fraction=1.5)
