"""Solver time on a 100-layer chain (goal < 1 ms) and a 500-node DAG (goal < 50 ms).

Prints measured medians next to the goals, and, for contrast, the cost of the naive
approach of evaluating every cut with the full cost model (what re-profiling
implementations do, minus the re-running of the model). Run:
``.venv/bin/python benchmarks/bench_partition.py [--repeats 20]``.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from hybridlib import partition as P
from hybridlib.partition import cost as PC
from hybridlib.partition import solvers as PS


def timeit(fn, repeats: int) -> float:
    fn()  # warm
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    return statistics.median(ts)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    rows = []
    chain = P.random_graph(100, 1, chain=True)
    dag = P.random_graph(500, 2, edge_prob=3 / 500)  # ~ Inception-like fan-in/out, ~1,200 edges
    net = P.NETWORKS["lte"]
    for label, g, goal in (("100-layer chain", chain, 1.0), ("500-node DAG", dag, 50.0)):
        for sched in ("single", "any"):
            for obj in ("latency", "energy"):
                solver = "auto"
                ms = timeit(lambda: P.solve(g, net, obj, sched, solver=solver), args.repeats)
                rows.append((label, sched, obj, P.solve(g, net, obj, sched).solver, ms, goal))
    # solver core only (no plan building), chain
    c = PC.cost_arrays(chain, net, 1.0)
    core = timeit(lambda: PS.solve_chain_single(chain, c, (1.0, 0.0)), args.repeats)
    naive = timeit(lambda: [PC.evaluate_mask(chain, c, np.arange(100) > j) for j in range(100)], 3)
    print(f"{'graph':18s} {'schedule':8s} {'objective':9s} {'solver':14s} {'median ms':>10s} {'goal ms':>8s} {'goal/measured':>13s}")
    for label, sched, obj, solver, ms, goal in rows:
        print(f"{label:18s} {sched:8s} {obj:9s} {solver:14s} {ms:10.3f} {goal:8.1f} {goal / ms:13.1f}×")
    print("\n500-node DAG min-cut backends (core solver only, same cut network):")
    print(f"{'schedule':8s} {'objective':9s} {'scipy+certify ms':>17s} {'networkx BK ms':>15s} {'speedup':>8s}")
    cd = PC.cost_arrays(dag, net, 1.0)
    for sched in ("single", "any"):
        for obj, w in (("latency", (1.0, 0.0)), ("energy", (0.0, 1.0))):
            a = timeit(lambda: PS.solve_mincut(dag, cd, w, sched, backend="scipy"), args.repeats)
            b = timeit(lambda: PS.solve_mincut(dag, cd, w, sched, backend="networkx"), max(3, args.repeats // 4))
            print(f"{sched:8s} {obj:9s} {a:17.2f} {b:15.2f} {b / a:7.1f}×")
    print(f"\nchain argmin core only: {core:.3f} ms; naive per-cut evaluation of all 100 cuts: {naive:.1f} ms "
          f"({naive / core:.0f}× slower)")
    print(f"500-node DAG: {len(dag)} nodes, {len(dag.edges)} edges")


if __name__ == "__main__":
    main()
