"""The metrics store on a real database: counting, flushing, reading back, retention."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from conftest import invocation_record as record
from kiln.db import connect
from kiln.db.metrics import MetricRows
from kiln.db.tables import metadata
from kiln.services.hosting.invocations import Outcome
from kiln.services.monitoring.metrics import MetricsStore, Series
from kiln.services.monitoring.metrics.statistics import statistic

T0 = 1_700_000_040.0  # 40 s into a minute


class Clock:
    """A clock the test moves."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


_engines: list[Engine] = []


@pytest.fixture(autouse=True)
def _dispose_engines(any_database_url: str) -> Iterator[None]:
    """Close each test's connections before its database is dropped (PostgreSQL warns else)."""
    yield
    while _engines:
        _engines.pop().dispose()


def _connect(url: str) -> Engine:
    engine = connect(url)
    _engines.append(engine)
    return engine


def _store(
    url: str, clock: Clock, retention: float = 3 * 3600, *, publish: bool = True
) -> MetricsStore:
    return MetricsStore(
        MetricRows(_connect(url)),
        retention_seconds=retention,
        instances=lambda _e, _v: 1,
        clock=clock,
        publish_invocations=publish,
    )


INVOCATIONS_A = Series.of(
    "AWS/SageMaker", "Invocations", {"EndpointName": "ep", "VariantName": "A"}
)


def test_observed_invocations_are_read_back_before_any_flush(any_database_url: str) -> None:
    store = _store(any_database_url, Clock(T0))
    for _ in range(3):
        store.observe(record(at=T0))
    minutes = store.minutes(INVOCATIONS_A, T0 - 60, T0 + 60)
    assert [statistic("Sum", a) for a in minutes.values()] == [3.0]


def test_a_flush_stores_only_settled_minutes(any_database_url: str) -> None:
    clock = Clock(T0)
    store = _store(any_database_url, clock)
    store.observe(record(at=T0))
    assert store.flush() == 0  # this minute may still change
    clock.now = T0 + 180
    assert store.flush() > 0
    assert (
        statistic("Sum", store.minutes(INVOCATIONS_A, T0 - 60, T0 + 60)[1_700_000_040 // 60 * 60])
        == 1
    )


def test_points_survive_a_new_store_on_the_same_database(any_database_url: str) -> None:
    clock = Clock(T0)
    first = _store(any_database_url, clock)
    first.observe(record(at=T0))
    first.observe(record(Outcome.MODEL_ERROR, 404, at=T0))
    first.stop()
    second = _store(any_database_url, clock)
    second.observe(record(at=T0 + 5))
    errors = Series.of("AWS/SageMaker", "Invocation4XXErrors", dict(INVOCATIONS_A.dimensions))
    assert sum(a.total for a in second.minutes(INVOCATIONS_A, T0 - 60, T0 + 60).values()) == 3
    assert sum(a.total for a in second.minutes(errors, T0 - 60, T0 + 60).values()) == 1


def test_totals_count_flushed_and_live_minutes(any_database_url: str) -> None:
    clock = Clock(T0)
    store = _store(any_database_url, clock)
    store.observe(record(at=T0))
    clock.now = T0 + 300
    store.flush()
    store.observe(record(Outcome.MODEL_ERROR, 500, at=T0 + 300))
    [totals] = store.totals()
    assert (totals.invocations, totals.server_errors, totals.model_errors) == (2, 1, 1)


def test_points_older_than_the_retention_are_trimmed(any_database_url: str) -> None:
    clock = Clock(T0)
    store = _store(any_database_url, clock, retention=3600)
    store.put_value(Series.of("App", "Loss", {}), T0, 1.0)
    store.flush(everything=True)
    clock.now = T0 + 2 * 3600
    store.flush()
    assert store.minutes(Series.of("App", "Loss", {}), T0 - 60, T0 + 60) == {}


def test_series_lists_stored_and_live_metrics(any_database_url: str) -> None:
    clock = Clock(T0)
    store = _store(any_database_url, clock)
    store.put_value(Series.of("App", "Loss", {"Run": "1"}), T0, 0.5)
    store.flush(everything=True)
    store.training_metric("job-1", "algo-1", "train:loss", 0.25, T0)
    found = store.series(T0 - 3600)
    assert Series.of("App", "Loss", {"Run": "1"}) in found
    assert Series.of("/aws/sagemaker/TrainingJobs", "train:loss", {"Host": "job-1/algo-1"}) in found


def test_variant_traffic_reads_each_variant(any_database_url: str) -> None:
    store = _store(any_database_url, Clock(T0))
    for _ in range(4):
        store.observe(record(variant="A", at=T0, model_us=1000))
    store.observe(record(Outcome.MODEL_ERROR, 400, variant="B", at=T0, model_us=3000))
    a, b = store.variant_traffic("ep", T0 - 60, T0 + 60)
    assert (a.variant, a.invocations, a.model_errors) == ("A", 4, 0)
    assert a.latency_p50_us == 1000
    assert (b.variant, b.invocations, b.client_errors, b.model_errors) == ("B", 1, 1, 1)


def test_shadow_copies_count_under_the_shadow_variant(any_database_url: str) -> None:
    store = _store(any_database_url, Clock(T0))
    store.observe(record(variant="A", at=T0))
    store.observe(replace(record(variant="Shadow", at=T0), is_shadow=True))
    assert [(t.variant, t.invocations) for t in store.totals()] == [("A", 1), ("Shadow", 1)]


def test_a_stored_minute_is_counted_once_while_its_slots_serve_the_alarms(
    any_database_url: str,
) -> None:
    clock = Clock(T0)
    store = _store(any_database_url, clock)
    store.observe(record(at=T0))
    clock.now = T0 + 180
    store.flush()
    minute = 1_700_000_040 // 60 * 60
    assert statistic("Sum", store.minutes(INVOCATIONS_A, T0 - 60, T0 + 60)[minute]) == 1
    assert [t.invocations for t in store.totals()] == [1]
    assert store.counts.slots(INVOCATIONS_A, T0, T0 + 10)[int(T0)].count == 1


def test_unpublished_invocations_are_counted_for_the_scaler_only(any_database_url: str) -> None:
    clock = Clock(T0)
    store = _store(any_database_url, clock, publish=False)
    store.observe(record(at=T0))
    assert store.counts.last_invocation_at("ep", "A") == T0
    clock.now = T0 + 180
    store.flush()
    assert store.minutes(INVOCATIONS_A, T0 - 60, T0 + 60) == {}
    assert store.totals() == []


def test_the_migration_builds_the_table_the_code_declares(any_database_url: str) -> None:
    engine = _connect(any_database_url)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert [d for d in differences if "metric_points" in repr(d)] == []
