"""An endpoint's timeline read from a real metrics store: per-period arithmetic, what is found."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from conftest import invocation_record as record
from kiln.db import connect
from kiln.db.metrics import MetricRows
from kiln.errors import ResourceNotFoundError
from kiln.services.hosting.invocations import Outcome
from kiln.services.monitoring.metrics import MetricsStore, Series
from kiln.services.monitoring.metrics.series import Aggregate
from kiln.services.monitoring.outcomes import DATA_METRICS_NAMESPACE, DriftMetric, drift_metric_name
from kiln.services.monitoring.timeline import Timeline
from kiln.services.monitoring.timeline.reader import Timelines, drift_metric_of
from kiln.services.monitoring.timeline.rollup import rollup, series_of
from kiln.services.monitoring.timeline.window import Window

T0 = 1_700_000_040  # a minute's start
END = T0 + 600.0


def _aggregate(*values: float) -> Aggregate:
    found = Aggregate()
    for value in values:
        found.add(value)
    return found


def test_rollup_merges_the_minutes_of_each_period_and_drops_the_rest() -> None:
    minutes = {T0 - 60: _aggregate(9), T0: _aggregate(1), T0 + 60: _aggregate(2, 3),
               T0 + 120: _aggregate(4), T0 + 600: _aggregate(9)}  # fmt: skip
    periods = rollup(minutes, Window(T0, END, 120))
    assert [p.total for p in periods] == [6, 4, 0, 0, 0]  # (1+2+3), 4, nothing after


def test_a_count_s_empty_period_is_zero_and_another_statistic_s_is_a_gap() -> None:
    span = Window(T0, T0 + 120.0, 60)
    periods = [_aggregate(1, 1), Aggregate()]
    assert series_of("Invocations", "Sum", "None", periods, span, is_count=True).values() == [2, 0]
    assert series_of("ModelLatency", "p50", "None", periods, span).values() == [
        pytest.approx(1, rel=0.02),
        None,
    ]


def test_a_period_s_percentile_is_over_all_its_samples() -> None:
    # Minute one: 99 fast samples; minute two: 1 slow one. p99 of the period is fast, not a mean.
    fast, slow = Aggregate(), _aggregate(1000)
    fast.add(10, 99)
    [period] = rollup({T0: fast, T0 + 60: slow}, Window(T0, T0 + 120.0, 120))
    [p99] = series_of(
        "ModelLatency", "p99", "Microseconds", [period], Window(T0, T0 + 120.0, 120)
    ).values()
    assert p99 == pytest.approx(10, rel=0.02)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        ("feature_baseline_drift_age", (DriftMetric.BASELINE_DRIFT, "age")),
        ("kiln_feature_psi_mean radius", (DriftMetric.PSI, "mean radius")),
        ("kiln_feature_js_kiln_feature_ks", (DriftMetric.JS, "kiln_feature_ks")),
        ("kiln_feature_psi_", None),
        ("Invocations", None),
    ],
)
def test_drift_metric_names_are_read_back_into_measure_and_feature(
    metric: str, expected: tuple[DriftMetric, str] | None
) -> None:
    assert drift_metric_of(metric) == expected


_engines: list[Engine] = []


@pytest.fixture
def store(database_url: str) -> Iterator[MetricsStore]:
    engine = connect(database_url)
    yield MetricsStore(MetricRows(engine), retention_seconds=86400, clock=lambda: END)
    engine.dispose()


def _timelines(store: MetricsStore) -> Timelines:
    return Timelines(store, lambda name: name == "ep", clock=lambda: END)


def _drift(
    store: MetricsStore, measure: DriftMetric, feature: str, at: float, value: float
) -> None:
    dimensions = {"Endpoint": "ep", "MonitoringSchedule": "hourly"}
    series = Series.of(DATA_METRICS_NAMESPACE, drift_metric_name(measure, feature), dimensions)
    store.put_value(series, at, value)


def test_each_variant_gets_invocations_latency_and_errors_per_period(store: MetricsStore) -> None:
    for at, variant in [(T0, "A"), (T0 + 5, "A"), (T0 + 130, "A"), (T0 + 10, "B")]:
        store.observe(record(variant=variant, at=at, model_us=2000))
    store.observe(record(Outcome.MODEL_ERROR, 500, variant="A", at=T0 + 200))
    timeline = _timelines(store).timeline("ep", T0, END, 120)
    a, b = timeline.variants
    assert (a.variant, b.variant) == ("A", "B")
    invocations = a.find("Invocations", "Sum")
    assert invocations is not None
    assert invocations.values() == [2, 2, 0, 0, 0]
    assert [p.t for p in invocations.points] == [T0, T0 + 120, T0 + 240, T0 + 360, T0 + 480]
    assert a.find("Invocation5XXErrors", "Sum").values() == [0, 1, 0, 0, 0]  # type: ignore[union-attr]
    p99 = a.find("ModelLatency", "p99")
    assert p99 is not None
    assert (p99.unit, p99.values()[0], p99.values()[2]) == (
        "Microseconds",
        pytest.approx(2000, rel=0.02),
        None,
    )


def test_drift_metrics_are_grouped_per_feature_in_the_measures_order(store: MetricsStore) -> None:
    _drift(store, DriftMetric.PSI, "age", T0 + 10, 0.3)
    _drift(store, DriftMetric.BASELINE_DRIFT, "age", T0 + 10, 0.1)
    _drift(store, DriftMetric.BASELINE_DRIFT, "age", T0 + 70, 0.3)
    _drift(store, DriftMetric.KS, "income", T0 + 300, 0.5)
    [age, income] = _timelines(store).timeline("ep", T0, END, 120).features
    assert (age.feature, age.schedule) == ("age", "hourly")
    assert [s.metric for s in age.series] == ["feature_baseline_drift", "kiln_feature_psi"]
    assert age.series[0].values() == [pytest.approx(0.2), None, None, None, None]  # mean of 2
    assert income.find("kiln_feature_ks") is not None


def test_series_of_other_endpoints_and_outside_the_range_are_left_out(store: MetricsStore) -> None:
    store.observe(record(endpoint="other", at=T0))
    store.observe(record(variant="old", at=T0 - 3600))
    _drift(store, DriftMetric.KS, "late", END + 120, 0.5)
    timeline = _timelines(store).timeline("ep", T0, END, 120)
    assert (timeline.variants, timeline.features) == ((), ())


def test_an_unknown_endpoint_is_resource_not_found(store: MetricsStore) -> None:
    with pytest.raises(ResourceNotFoundError, match='"nope"'):
        _timelines(store).timeline("nope")


def test_the_timeline_reads_back_from_its_json(store: MetricsStore) -> None:
    store.observe(record(at=T0))
    _drift(store, DriftMetric.JS, "age", T0, 0.25)
    timeline = _timelines(store).timeline("ep", T0, END, 300)
    assert Timeline.from_document(timeline.to_document()) == timeline
