"""The metrics store's arithmetic: histograms, percentiles, statistics, invocation counting."""

from __future__ import annotations

import math
import os

import pytest

from conftest import invocation_record as record
from kiln.compute.usage import Usage, tree_usage
from kiln.services.hosting.invocations import Outcome
from kiln.services.monitoring.metrics import Aggregate
from kiln.services.monitoring.metrics.counting import Errors, VariantMinute, errors_of
from kiln.services.monitoring.metrics.histogram import bucket_middle, bucket_of, percentile
from kiln.services.monitoring.metrics.statistics import is_percentile, statistic
from kiln.services.monitoring.metrics.usage import (
    ReplicaView,
    UsageSampler,
    cpu_percent,
    memory_percent,
)


@pytest.mark.parametrize("value", [0.5, 1.0, 37.0, 1_000.0, 123_456.0, 9.9e9])
def test_a_value_lies_within_two_percent_of_its_buckets_middle(value: float) -> None:
    assert bucket_middle(bucket_of(value)) == pytest.approx(value, rel=0.021)


@pytest.mark.parametrize("value", [0.0, -1.0, -1e9])
def test_zero_and_negative_values_share_bucket_zero(value: float) -> None:
    assert bucket_of(value) == 0


def _spread(values: list[float]) -> Aggregate:
    aggregate = Aggregate()
    for value in values:
        aggregate.add(value)
    return aggregate


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # 1..100: nearest rank ceil(q/100 * 100) is the value q itself, within a bucket's 2 %.
        (50, 50.0),
        (95, 95.0),
        (99, 99.0),
        (100, 100.0),
        (1, 1.0),
    ],
)
def test_percentiles_of_one_to_a_hundred(q: float, expected: float) -> None:
    aggregate = _spread([float(v) for v in range(1, 101)])
    assert statistic(f"p{q}", aggregate) == pytest.approx(expected, rel=0.021)


def test_percentile_stays_within_the_minimum_and_maximum() -> None:
    aggregate = _spread([1000.0] * 10)
    assert statistic("p99", aggregate) == 1000.0
    assert statistic("p1", aggregate) == 1000.0


def test_percentile_of_no_values_is_none() -> None:
    assert percentile({}, 50, 0, 0) is None


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # values 2, 4, 6: 3 samples, sum 12, mean 4
        ("SampleCount", 3.0),
        ("Sum", 12.0),
        ("Average", 4.0),
        ("Minimum", 2.0),
        ("Maximum", 6.0),
    ],
)
def test_the_five_statistics(name: str, expected: float) -> None:
    assert statistic(name, _spread([2.0, 4.0, 6.0])) == expected


def test_statistics_of_an_empty_aggregate_are_none() -> None:
    assert statistic("Sum", Aggregate()) is None


@pytest.mark.parametrize(
    ("name", "valid"),
    [("p99", True), ("p99.9", True), ("p0.0", True), ("p100", True), ("p99.999", False),
     ("p101", False), ("tm99", False), ("Median", False)],
)  # fmt: skip
def test_percentile_names_follow_cloudwatchs_syntax(name: str, valid: bool) -> None:
    assert is_percentile(name) is valid


def test_merged_minutes_add_counts_and_keep_extremes() -> None:
    first, second = _spread([1.0, 5.0]), _spread([3.0, 9.0])
    first.merge(second)
    assert (first.count, first.total, first.low, first.high) == (4, 18.0, 1.0, 9.0)
    assert sum(first.buckets.values()) == 4


def test_a_statistic_set_with_equal_extremes_feeds_percentiles() -> None:
    aggregate = Aggregate()
    aggregate.add_set(count=4, total=20.0, low=5.0, high=5.0)
    assert statistic("p50", aggregate) == 5.0
    assert statistic("Sum", aggregate) == 20.0


def test_a_statistic_set_with_a_spread_counts_but_leaves_the_histogram() -> None:
    aggregate = Aggregate()
    aggregate.add_set(count=4, total=20.0, low=1.0, high=9.0)
    assert (aggregate.count, aggregate.total, aggregate.low, aggregate.high) == (4, 20, 1, 9)
    assert aggregate.buckets == {}
    assert not math.isinf(aggregate.low)


@pytest.mark.parametrize(
    ("outcome", "status", "expected"),
    [
        (Outcome.ANSWERED, 200, Errors(client=False, server=False, model=False)),
        (Outcome.MODEL_ERROR, 400, Errors(client=True, server=False, model=True)),
        (Outcome.MODEL_ERROR, 404, Errors(client=True, server=False, model=True)),
        (Outcome.MODEL_ERROR, 500, Errors(client=False, server=True, model=True)),
        (Outcome.MODEL_ERROR, 302, Errors(client=False, server=False, model=True)),
        # timed out or cut: no status, a model error only
        (Outcome.MODEL_FAILURE, 0, Errors(client=False, server=False, model=True)),
        # no replica: Kiln's own 503, the model never saw it
        (Outcome.UNAVAILABLE, 0, Errors(client=False, server=True, model=False)),
    ],
)
def test_how_outcomes_count_as_errors(outcome: Outcome, status: int, expected: Errors) -> None:
    assert errors_of(outcome, status) == expected


def _sums(minute: VariantMinute) -> dict[str, tuple[float, float]]:
    return {
        p.series.metric: (p.aggregate.count, p.aggregate.total) for p in minute.points("ep", "A", 0)
    }


def test_a_minute_of_invocations_gives_sagemakers_metrics() -> None:
    minute = VariantMinute(instances=2)
    for r in [record(), record(), record(Outcome.MODEL_ERROR, 500), record(Outcome.UNAVAILABLE, 0,
              model_us=0)]:  # fmt: skip
        minute.count(r)
    sums = _sums(minute)
    # 4 requests; one 5xx from the model, one 503 of Kiln's: two 5XX, one model error
    assert sums["Invocations"] == (4, 4)
    assert sums["Invocation5XXErrors"] == (4, 2)
    assert sums["Invocation4XXErrors"] == (4, 0)
    assert sums["InvocationModelErrors"] == (4, 1)
    # 1 / 2 instances per request
    assert sums["InvocationsPerInstance"] == (4, 2.0)
    # the model answered 3 of them (2 answers + its 500); overhead is kept for all 4
    assert sums["ModelLatency"] == (3, 4500)
    assert sums["OverheadLatency"] == (4, 400)


def test_per_instance_is_left_out_when_no_instance_serves() -> None:
    minute = VariantMinute(instances=0)
    minute.count(record())
    assert "InvocationsPerInstance" not in _sums(minute)


@pytest.mark.parametrize(
    ("before", "after", "seconds", "expected"),
    [
        (0.0, 10.0, 10.0, 100.0),  # one busy core
        (5.0, 45.0, 10.0, 400.0),  # four busy cores: SageMaker's scale goes past 100
        (3.0, 3.0, 10.0, 0.0),
        (3.0, 1.0, 10.0, 0.0),  # a restarted process' counter went back: no negative use
        (0.0, 1.0, 0.0, 0.0),
    ],
)
def test_cpu_utilization_is_a_hundred_per_busy_core(
    before: float, after: float, seconds: float, expected: float
) -> None:
    assert cpu_percent(before, after, seconds) == expected


@pytest.mark.parametrize(
    ("rss", "mib", "expected"),
    [(512 * 2**20, 1024, 50.0), (0, 1024, 0.0), (2**20, 0, 0.0)],
)
def test_memory_utilization_is_a_share_of_the_instances_memory(
    rss: int, mib: int, expected: float
) -> None:
    assert memory_percent(rss, mib) == expected


def test_the_sampler_reports_memory_at_once_and_cpu_from_the_second_sample() -> None:
    put: list[tuple[str, float]] = []
    readings = iter([Usage(1.0, 2**30), Usage(3.0, 2**30)])
    view = ReplicaView("r1", "ep", "A", pid=1, memory_mib=4096)
    sampler = UsageSampler(
        lambda: [view],
        lambda s, _at, a: put.append((s.metric, a.total)),
        lambda _pid: next(readings),
    )
    sampler(100.0)
    sampler(110.0)
    # 2 CPU seconds over 10 s: 20 %; 1 GiB of 4 GiB: 25 %
    assert put == [
        ("MemoryUtilization", 25.0),
        ("MemoryUtilization", 25.0),
        ("CPUUtilization", 20.0),
    ]


def test_tree_usage_reads_this_process_from_proc() -> None:
    used = tree_usage(os.getpid())
    assert used.rss_bytes > 0
    assert used.cpu_seconds > 0
