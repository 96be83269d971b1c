"""Write docs/CAPACITY.md and its figure from measurement files that ``benchmarks/bench_ray.py --out``
wrote (≥ 3 user counts per backend; several files' steps are pooled; each file's checksum is
verified, so a hand-edited file is refused):

    .venv/bin/python benchmarks/bench_ray.py --users 1,2,3,4,5,6 --duration 10 \\
        --out docs/measurements/bench_ray_DATE.json
    .venv/bin/python benchmarks/capacity.py docs/measurements/bench_ray_DATE.json [MORE.json …] [--out docs/CAPACITY.md]
                                            [--figure docs/capacity_fit.png] [--relay-fraction 0.2] …

Prints per backend the fit (server CPU = a + b·sessions with 95% intervals), users per core
three ways (the bound from b's upper end, the point fit, the old one-step figure) and the
10,000-user row.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def main() -> int:
    from hybridlib.study.load.capacity import Assumptions, capacity_table, choose_law, other_law, render_markdown
    from hybridlib.study.load.capacity_fit import LAWS, MIN_FPS_FRACTION
    from hybridlib.study.load.capacity_record import pooled_steps
    from hybridlib.utils import InputError, write_text_atomic

    d = Assumptions()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("measurement", nargs="+", help="JSON file(s) written by bench_ray.py --out (steps pooled)")
    p.add_argument("--out", default="docs/CAPACITY.md")
    p.add_argument("--figure", default="docs/capacity_fit.png", help="the fit and residuals figure ('' : none)")
    p.add_argument("--min-fps-fraction", type=float, default=MIN_FPS_FRACTION,
                   help="a step is fitted when each user got ≥ this share of the frame rate")
    p.add_argument("--law", choices=LAWS, default=None,
                   help="fit CPU per session or per answered frame (default: per session when every backend "
                        "has ≥ 3 steps that kept up, else per frame)")
    p.add_argument("--target-utilisation", type=float, default=d.target_utilisation)
    p.add_argument("--cores-per-node", type=int, default=d.cores_per_node)
    p.add_argument("--servers-per-node", type=int, default=d.servers_per_node)
    p.add_argument("--relay-fraction", type=float, default=d.relay_fraction)
    p.add_argument("--egress-usd-per-gb", type=float, default=d.egress_usd_per_gb)
    p.add_argument("--hours-per-month", type=float, default=d.hours_per_month)
    a = p.parse_args()
    try:
        recs, steps = pooled_steps(a.measurement)
        assume = Assumptions(a.target_utilisation, a.cores_per_node, a.relay_fraction, a.egress_usd_per_gb,
                             a.hours_per_month, a.servers_per_node)
        law, why = (a.law, "chosen with --law") if a.law else choose_law(steps, a.min_fps_fraction)
        tables = {b: capacity_table(s, assume=assume, min_fraction=a.min_fps_fraction, law=law)
                  for b, s in steps.items()}
    except (ValueError, KeyError, InputError) as e:
        print(f"error: {' '.join(a.measurement)}: {e}", file=sys.stderr)
        return 2
    fig_rel = None
    if a.figure:
        from hybridlib.plots import save_figure, setup_style
        from hybridlib.study.load.capacity_fit import plot_fit

        setup_style()
        fig = plot_fit({b: t["fit"] for b, t in tables.items()}, steps)
        runs = "; ".join(f"{os.path.basename(m)} ({r['provenance']['date'][:16]}, load "
                         f"{r['provenance']['load_average_start'][0]:g}→{r['provenance']['load_average_end'][0]:g})"
                         for m, r in recs)
        save_figure(fig, a.figure, f"measured: {runs}; looped synthetic face clip")
        fig_rel = os.path.relpath(a.figure, Path(a.out).parent)
    cross = {b: other_law(s, law, a.min_fps_fraction) for b, s in steps.items()}
    write_text_atomic(a.out, render_markdown(tables, steps, recs, fig_rel, why, cross))
    print(f"law: per {law[:-1]} ({why})")
    for b, t in tables.items():
        fit, r = t["fit"]["fit"], t["rows"][-1]
        ps, ci = t["fit"]["per_session"], t["fit"]["per_session_ci"]
        print(f"{b}: CPU = {fit.intercept:.3f} [{fit.intercept_ci[0]:.3f}, {fit.intercept_ci[1]:.3f}] + "
              f"{fit.slope:.4f} [{fit.slope_ci[0]:.4f}, {fit.slope_ci[1]:.4f}]·x cores over users "
              f"{t['fit']['fitted_users']} (R² {fit.r2:.3f}; left out: "
              f"{', '.join(str(x['users']) for x in t['fit']['left_out']) or 'none'}); per session "
              f"{ps:.3f} [{ci[0]:.3f}, {ci[1]:.3f}] cores")
        print(f"  cross-check: {cross[b]}")
        print(f"  users per core: ≥ {t['users_per_core']} (bound), {t['users_per_core_point']} (point), "
              f"{t['users_per_core_one_step']} (one step); {r['users']:,} users → ≤ {r['cores']:,} cores, "
              f"{r['nodes']:,} nodes, {r['egress_mbit_s']:,} Mbit/s out")
    print(f"wrote {a.out}" + (f" and {a.figure}" if a.figure else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
