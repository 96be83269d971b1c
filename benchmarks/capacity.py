"""Write docs/CAPACITY.md from a recorded ``benchmarks/bench_ray.py --out FILE`` measurement.

    .venv/bin/python benchmarks/capacity.py docs/measurements/bench_ray.json [--out docs/CAPACITY.md]
                                            [--relay-fraction 0.2] [--egress-usd-per-gb 0.08] …

Prints the headline (users per core per backend) and the 10,000-user row.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main() -> int:
    from hybridlib.study.load.capacity import Assumptions, capacity_table, render_markdown
    from hybridlib.utils import InputError, write_text_atomic

    d = Assumptions()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("measurement", help="JSON written by bench_ray.py --out")
    p.add_argument("--out", default="docs/CAPACITY.md")
    p.add_argument("--target-utilisation", type=float, default=d.target_utilisation)
    p.add_argument("--cores-per-node", type=int, default=d.cores_per_node)
    p.add_argument("--relay-fraction", type=float, default=d.relay_fraction)
    p.add_argument("--egress-usd-per-gb", type=float, default=d.egress_usd_per_gb)
    p.add_argument("--hours-per-month", type=float, default=d.hours_per_month)
    a = p.parse_args()
    src = Path(a.measurement)
    try:
        m = json.loads(src.read_text())
        assume = Assumptions(a.target_utilisation, a.cores_per_node, a.relay_fraction, a.egress_usd_per_gb,
                             a.hours_per_month)
        tables = {b: capacity_table(m[b], assume=assume) for b in ("inprocess", "ray") if m.get(b)}
        if not tables:
            raise InputError(f"{src}: no 'inprocess' or 'ray' steps (write it with bench_ray.py --out)")
    except (OSError, ValueError, KeyError, InputError) as e:
        print(f"error: {a.measurement}: {e}", file=sys.stderr)
        return 2
    write_text_atomic(a.out, render_markdown(tables, a.measurement, m.get("command")))
    for b, t in tables.items():
        r = t["rows"][-1]
        print(f"{b}: {t['users_per_core']} users/core; {r['users']:,} users → {r['cores']:,} cores, "
              f"{r['nodes']:,} nodes, {r['egress_mbit_s']:,} Mbit/s out, TURN {r['turn_gb_per_h']} GB/h")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
