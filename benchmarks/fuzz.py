"""Long-budget fuzzing with a record: inputs tried per target, what they got, failures found.

The same targets as the in-suite fuzz tests (``tests/fuzz_targets.py``): ``/split`` payloads
decoded in-process, ``/split`` and ``/offer`` over HTTP on a real loopback server (the
untrained emotion CNN; cloud mode with real aiortc), ``hybridlib data validate`` on generated
csv files and ``hybridlib partition solve|pareto`` on generated graph JSON. Unlike the tests,
a failing input does not stop a target: it is counted, its first lines printed, and the run
goes on; the exit status is 1 if any target had a failure. Run::

    .venv/bin/python benchmarks/fuzz.py --examples 2000 [--targets split_decode,offer] [--seed 1]
"""
from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402

import fuzz_targets as F  # noqa: E402


def _model(tmp: Path) -> Path:
    """The emotion CNN with seeded random weights (what the integration tests serve)."""
    import tf_keras as keras

    from hybridlib import models

    keras.utils.set_random_seed(0)
    p = tmp / "emotion_cnn_untrained.h5"
    models.emotion_cnn().save(p)
    return p


def run_target(t: F.Target, ctx: dict, examples: int, rng_seed: int) -> dict:
    outcomes: collections.Counter[str] = collections.Counter()
    failures: list[str] = []

    @seed(rng_seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=t.strategy())
    def fuzz(case: dict) -> None:
        try:
            outcomes[t.check(case, ctx)] += 1
        except Exception as e:  # noqa: BLE001 - the record counts every failure, runs on
            outcomes["FAIL"] += 1
            if len(failures) < 5:
                tb = "".join(traceback.format_exception_only(type(e), e)).strip()
                failures.append(f"{tb[:400]}\n      input: {repr(case)[:300]}")

    t0 = time.perf_counter()
    fuzz()
    return {"target": t.name, "inputs": sum(outcomes.values()), "failures": outcomes.get("FAIL", 0),
            "outcomes": dict(sorted(outcomes.items())), "seconds": round(time.perf_counter() - t0, 1),
            "examples_of_failures": failures}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--examples", type=int, default=1000, help="inputs per target (default 1000)")
    ap.add_argument("--targets", default=",".join(F.TARGETS),
                    help=f"comma-separated subset of {', '.join(F.TARGETS)}")
    ap.add_argument("--seed", type=int, default=0, help="Hypothesis seed (default 0: reproducible)")
    ap.add_argument("--json", help="also write the record as JSON to this path")
    a = ap.parse_args(argv)
    names = [n.strip() for n in a.targets.split(",") if n.strip()]
    unknown = [n for n in names if n not in F.TARGETS]
    if unknown or a.examples < 1:
        ap.error(f"unknown target(s) {', '.join(unknown)}" if unknown else "--examples must be ≥ 1")
    targets = [F.TARGETS[n] for n in names]
    rows = []
    with tempfile.TemporaryDirectory(prefix="hl-fuzz-") as tmp:
        ctx: dict = {"tmp": Path(tmp)}
        server = None
        if any(t.needs for t in targets):
            server = F.fuzz_server(_model(Path(tmp)))
            url = server.__enter__()
            ctx.update(split_url=url, offer_url=url)
        try:
            for t in targets:
                rows.append(run_target(t, ctx, a.examples, a.seed))
                r = rows[-1]
                print(f"{r['target']:16s} inputs {r['inputs']:6d}  failures {r['failures']:4d}  "
                      f"{r['seconds']:7.1f} s  outcomes {json.dumps(r['outcomes'])}", flush=True)
                for f in r["examples_of_failures"]:
                    print(f"    FAIL {f}")
            if server is not None:
                status = F.http_request(ctx["split_url"], "GET", "/healthz", None, {})[0]
                print(f"server /healthz after fuzzing: {status}")
        finally:
            if server is not None:
                server.__exit__(None, None, None)
    total = sum(r["inputs"] for r in rows)
    fails = sum(r["failures"] for r in rows)
    print(f"total inputs {total}, failures {fails} (seed {a.seed}, --examples {a.examples})")
    if a.json:
        from hybridlib.utils import write_json_atomic

        write_json_atomic(a.json, {"seed": a.seed, "examples": a.examples, "targets": rows})
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
