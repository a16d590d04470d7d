"""Reads an endpoint's timeline out of the metrics store: traffic per variant, drift per feature.

Traffic is what the invocation counter publishes (``AWS/SageMaker``, dimensions ``EndpointName``
and ``VariantName``); drift is what monitoring executions publish (``DATA_METRICS_NAMESPACE``,
dimensions ``Endpoint`` and ``MonitoringSchedule``, one metric per feature and drift measure,
named by ``drift_metric_name``) — or anyone else through CloudWatch's ``PutMetricData``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from kiln.errors import ResourceNotFoundError
from kiln.services.monitoring.metrics import counting
from kiln.services.monitoring.metrics.series import Aggregate, Series, merged
from kiln.services.monitoring.timeline.points import (
    FeatureTimeline,
    MetricSeries,
    Timeline,
    VariantTimeline,
)
from kiln.services.monitoring.timeline.rollup import has_data, rollup, series_of
from kiln.services.monitoring.timeline.window import Window, window

if TYPE_CHECKING:
    from kiln.services.monitoring.outcomes import DriftMetric

# (metric, statistic, unit, is a count): each variant's series, in the order they are shown.
TRAFFIC: tuple[tuple[str, str, str, bool], ...] = (
    (counting.INVOCATIONS, "Sum", "None", True),
    (counting.MODEL_LATENCY, "Average", counting.MICROSECONDS, False),
    (counting.MODEL_LATENCY, "p50", counting.MICROSECONDS, False),
    (counting.MODEL_LATENCY, "p90", counting.MICROSECONDS, False),
    (counting.MODEL_LATENCY, "p99", counting.MICROSECONDS, False),
    (counting.CLIENT_ERRORS, "Sum", "None", True),
    (counting.SERVER_ERRORS, "Sum", "None", True),
    (counting.MODEL_ERRORS, "Sum", "None", True),
)
# A drift metric is one value per execution: a longer period shows their mean.
DRIFT_STATISTIC = "Average"


class MetricsReader(Protocol):
    """What the timeline reads (the metrics store implements it)."""

    def minutes(self, series: Series, start: float, end: float) -> dict[int, Aggregate]:
        """``series``' aggregate per minute with ``start <= minute < end``."""

    def series(self, since: float) -> list[Series]:
        """Every series with a point at or after ``since``, sorted."""


def drift_metric_of(metric: str) -> tuple[DriftMetric, str] | None:
    """The drift measure and feature a published metric name stands for; None if none."""
    for measure in _drift_names()[1]:
        prefix = f"{measure}_"
        if metric.startswith(prefix) and len(metric) > len(prefix):
            return measure, metric[len(prefix) :]
    return None


def _drift_names() -> tuple[str, list[DriftMetric]]:
    """The data-metrics namespace and the drift measures, in the order they are shown."""
    # Imported on first use: ``outcomes`` loads the analyzer, and with it numpy, which the
    # server does not load at import time (tests/unit/test_server_imports.py).
    from kiln.services.monitoring.outcomes import DATA_METRICS_NAMESPACE, DriftMetric

    return DATA_METRICS_NAMESPACE, list(DriftMetric)


class Timelines:
    """Answers "how did this endpoint's traffic and drift go over time?"."""

    def __init__(
        self,
        metrics: MetricsReader,
        endpoint_exists: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._metrics = metrics
        self._endpoint_exists = endpoint_exists
        self._clock = clock

    def timeline(
        self,
        endpoint: str,
        start: float | None = None,
        end: float | None = None,
        period: int | None = None,
    ) -> Timeline:
        """The timeline of ``endpoint``; ResourceNotFoundError for an unknown endpoint,
        ValidationError for a range that cannot be (``window``)."""
        if not self._endpoint_exists(endpoint):
            raise ResourceNotFoundError(f'Could not find endpoint "{endpoint}".')
        span = window(start, end, period, self._clock())
        found = self._metrics.series(span.start)
        return Timeline(
            endpoint,
            span.start,
            span.end,
            span.period,
            self._variants(endpoint, found, span),
            self._features(endpoint, found, span),
        )

    def _periods(self, series: Series, span: Window) -> list[Aggregate]:
        return rollup(self._metrics.minutes(series, span.start, span.end), span)

    def _variants(
        self, endpoint: str, found: list[Series], span: Window
    ) -> tuple[VariantTimeline, ...]:
        names = sorted(
            dict(s.dimensions)["VariantName"]
            for s in found
            if (s.namespace, s.metric) == (counting.NAMESPACE, counting.INVOCATIONS)
            and dict(s.dimensions).get("EndpointName") == endpoint
            and "VariantName" in dict(s.dimensions)
        )
        variants = [self._variant(endpoint, name, span) for name in names]
        return tuple(v for v in variants if v is not None)

    def _variant(self, endpoint: str, variant: str, span: Window) -> VariantTimeline | None:
        dimensions = {"EndpointName": endpoint, "VariantName": variant}
        periods = {
            metric: self._periods(Series.of(counting.NAMESPACE, metric, dimensions), span)
            for metric in dict.fromkeys(metric for metric, *_ in TRAFFIC)
        }
        if not has_data(periods[counting.INVOCATIONS]):
            return None
        return VariantTimeline(
            variant,
            tuple(
                series_of(metric, stat, unit, periods[metric], span, is_count=is_count)
                for metric, stat, unit, is_count in TRAFFIC
            ),
        )

    def _features(
        self, endpoint: str, found: list[Series], span: Window
    ) -> tuple[FeatureTimeline, ...]:
        namespace, order = _drift_names()
        grouped: dict[tuple[str, str], list[MetricSeries]] = {}
        for series in found:
            dimensions = dict(series.dimensions)
            parsed = drift_metric_of(series.metric)
            if (
                series.namespace != namespace
                or parsed is None
                or dimensions.get("Endpoint") != endpoint
            ):
                continue
            periods = self._periods(series, span)
            if not has_data(periods):
                continue
            measure, feature = parsed
            unit = merged(periods).unit
            key = (feature, dimensions.get("MonitoringSchedule", ""))
            grouped.setdefault(key, []).append(
                series_of(str(measure), DRIFT_STATISTIC, unit, periods, span)
            )
        rank = [str(measure) for measure in order]
        return tuple(
            FeatureTimeline(feature, schedule,
                            tuple(sorted(found, key=lambda s: rank.index(s.metric))))
            for (feature, schedule), found in sorted(grouped.items())
        )  # fmt: skip
