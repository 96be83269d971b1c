"""Property-based fuzzing, fixed seeded budget (runs in the normal test suite).

Targets and oracles live in ``tests/fuzz_targets.py`` (shared with ``benchmarks/fuzz.py``,
which runs a long budget): every generated ``/split`` payload, dataset csv and partition
graph gets a correct answer or a clear refusal (WireError 400/413; exit 2 with
``PATH:line`` or a message), never a traceback, and nothing is written on failure.
``derandomize=True``: the same inputs every run, so a failure here is reproducible.
"""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

import fuzz_targets as F

#: in-suite budget per target (examples); benchmarks/fuzz.py --examples N runs more
BUDGET = {"split_decode": 300, "dataset_csv": 60, "partition_graph": 150}


def _settings(name: str) -> settings:
    return settings(max_examples=BUDGET[name], derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def ctx(tmp_path_factory):
    return {"tmp": tmp_path_factory.mktemp("fuzz")}


@_settings("split_decode")
@given(case=F.TARGETS["split_decode"].strategy())
def test_fuzz_split_decode(case):
    F.check_split_decode(case, {})


def test_fuzz_dataset_csv(ctx):
    @_settings("dataset_csv")
    @given(case=F.TARGETS["dataset_csv"].strategy())
    def run(case):
        F.check_dataset(case, ctx)

    run()


def test_fuzz_partition_graph(ctx):
    @_settings("partition_graph")
    @given(case=F.TARGETS["partition_graph"].strategy())
    def run(case):
        F.check_graph(case, ctx)

    run()
