"""Cloud mode over a simulated multi-node Ray cluster: sessions spread across nodes,
admission applied cluster-wide.

Starts ``ray.cluster_utils.Cluster`` with two raylets on this machine (1 CPU each, loopback),
then the real ``hybridlib serve --mode cloud --media-workers 2 --max-sessions 1 --ray-address …``
process joining it: two :class:`hybridlib.serving.ray_media.MediaWorker` actors placed with
``SPREAD``, one session each. Three real aiortc users offer at once; prints which worker and
node each admitted session runs on, the 503 for the third, and the frames answered.

    .venv/bin/python benchmarks/demo_ray_cluster.py [--model PATH] [--duration 6] [--out F.json]

Exit status 1 when the sessions did not land on two nodes, or the cluster-wide cap was not applied.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("RAY_DISABLE_USAGE_STATS", "1")
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")  # every raylet on 127.0.0.1


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help=".h5 (default: the smoke preset's trained model)")
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--out", default=None)
    a = p.parse_args()

    from ray.cluster_utils import Cluster

    from hybridlib import config
    from hybridlib.models import artifacts
    from hybridlib.study import load

    model = a.model or str(artifacts.ensure_model(config.context("smoke")))
    t0 = time.perf_counter()
    node = {"num_cpus": 1, "object_store_memory": 80 * 2 ** 20}
    cluster = Cluster(initialize_head=True, head_node_args={**node, "include_dashboard": False})
    try:
        cluster.add_node(**node)
        cluster.wait_for_nodes()
        t_cluster = time.perf_counter() - t0
        addr = cluster.address
        print(f"cluster: 2 raylets at {addr} in {t_cluster:.1f} s")
        with load.server("cloud", model, max_sessions=1, ray_address=addr, startup_timeout_s=300,
                         serve_args=["--media-workers", "2"]) as srv:
            print(f"server up in {srv.startup_s} s (workers' TF loaded)")
            frames = load.make_clip((320, 240), 20)
            seen: dict = {}

            async def scenario():
                users = [asyncio.ensure_future(load.cloud_user(srv.url, frames, 10, a.duration)) for _ in range(2)]
                await asyncio.sleep(1.5)
                third = await load.cloud_user(srv.url, frames, 10, 1.0)
                await asyncio.sleep(2.0)
                seen["metrics"] = await asyncio.get_running_loop().run_in_executor(None, srv.metrics)
                return await asyncio.gather(*users), third

            (u1, u2), third = asyncio.run(scenario())
        m = seen["metrics"]
    finally:
        cluster.shutdown()
    workers = m.get("workers") or []
    busy = [w for w in workers if w.get("sessions")]
    nodes = {w["node"] for w in busy}
    print(f"{'worker':>6}  {'node':<18}{'pid':>8}{'sessions':>10}")
    for w in workers:
        print(f"{w['worker']:>6}  {w['node'][:16]:<18}{w['pid']:>8}{w['sessions']:>10}")
    for i, u in enumerate((u1, u2), 1):
        print(f"user {i}: admitted {u.admitted}, {u.answered}/{u.frames_sent} frames answered, p95 "
              f"{None if not u.rtt_ms else round(sorted(u.rtt_ms)[int(0.95 * (len(u.rtt_ms) - 1))], 1)} ms")
    print(f"user 3: status {third.status} ({third.error})")
    print(f"cluster: max_sessions {m.get('max_sessions')}, sessions_total {m.get('sessions_total')}, "
          f"refused {m.get('refused')}, frames out {m.get('frames_out')}")
    ok = (len(nodes) == 2 and u1.admitted and u2.admitted and u1.answered > 0 and u2.answered > 0
          and third.status == 503 and m.get("max_sessions") == 2)
    print("sessions on 2 nodes, cluster-wide cap applied" if ok else "FAILED")
    if a.out:
        from hybridlib.utils import write_json_atomic

        write_json_atomic(a.out, {"command": " ".join(sys.argv), "cluster_start_s": round(t_cluster, 2),
                                  "server_startup_s": srv.startup_s, "metrics": m,
                                  "users": [{"admitted": u.admitted, "answered": u.answered,
                                             "frames_sent": u.frames_sent, "status": u.status}
                                            for u in (u1, u2, third)], "ok": ok})
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
