"""CloudWatch's metric operations over the metrics store: requests as botocore's ``cloudwatch``
model shapes them (validated by the API layer), answers in its output shapes.

    GetMetricStatistics  one series, StartTime–EndTime by Period → Datapoints (≤ 1,440)
    GetMetricData        ≤ 500 MetricStat queries → MetricDataResults (≤ 100,800 points)
    ListMetrics          series by Namespace / MetricName / Dimensions, 500 a page
    PutMetricData        Value, Values + Counts or StatisticValues per datum, into the store

Points are kept per minute, so periods under 60 s answer one point per minute. Expressions
(metric math) are refused.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kiln.services.listing import page
from kiln.services.monitoring.metrics import rules
from kiln.services.monitoring.metrics.errors import (
    InvalidNextToken,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from kiln.services.monitoring.metrics.series import MINUTE, Aggregate, Series
from kiln.services.monitoring.metrics.statistics import statistic
from kiln.services.monitoring.metrics.store import MetricsStore

_PAGE = 500
_RECENT_SECONDS = 3 * 3600
_LISTED_SECONDS = 14 * 24 * 3600


class CloudWatchMetrics:
    """The CloudWatch metric operations, served from one ``MetricsStore``."""

    def __init__(self, store: MetricsStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def get_metric_statistics(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GetMetricStatistics``."""
        start, end, period = float(params["StartTime"]), float(params["EndTime"]), params["Period"]
        statistics = list(params.get("Statistics", []))
        extended = list(params.get("ExtendedStatistics", []))
        rules.check_statistics(statistics, extended)
        rules.check_window(start, end)
        rules.check_period(period)
        rules.check_statistics_points(start, end, period)
        series = _series(params["Namespace"], params["MetricName"], params.get("Dimensions", []))
        datapoints = []
        for at, aggregate in self._periods(series, start, end, period, params.get("Unit")):
            point: dict[str, Any] = {"Timestamp": at, "Unit": aggregate.unit}
            for name in statistics:
                point[name] = statistic(name, aggregate)
            if extended:
                point["ExtendedStatistics"] = {
                    name: _number(statistic(name, aggregate)) for name in extended
                }
            datapoints.append(point)
        return {"Label": series.metric, "Datapoints": datapoints}

    def get_metric_data(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``GetMetricData`` (``MetricStat`` queries; no metric math)."""
        if params.get("NextToken"):
            raise InvalidNextToken("The NextToken is not one this server handed out.")
        start, end = float(params["StartTime"]), float(params["EndTime"])
        rules.check_window(start, end)
        queries = list(params["MetricDataQueries"])
        _check_queries(queries)
        rules.check_metric_data_points(
            sum(rules.datapoints(start, end, q["MetricStat"]["Period"]) for q in queries)
        )
        ascending = params.get("ScanBy") == "TimestampAscending"
        budget = params.get("MaxDatapoints", rules.MAX_METRIC_DATA_POINTS)
        results = []
        for query in queries:
            if query.get("ReturnData", True) is False:
                continue
            stat = query["MetricStat"]
            metric = stat["Metric"]
            series = _series(
                metric["Namespace"], metric["MetricName"], metric.get("Dimensions", [])
            )
            found = [
                (at, value)
                for at, aggregate in self._periods(
                    series, start, end, stat["Period"], stat.get("Unit")
                )
                if (value := statistic(stat["Stat"], aggregate)) is not None
            ]
            found.sort(reverse=not ascending)
            found = found[: max(budget, 0)]
            budget -= len(found)
            results.append(
                {
                    "Id": query["Id"],
                    "Label": query.get("Label", series.metric),
                    "Timestamps": [at for at, _ in found],
                    "Values": [value for _, value in found],
                    "StatusCode": "Complete",
                }
            )
        return {"MetricDataResults": results, "Messages": []}

    def list_metrics(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``ListMetrics``: one page of 500."""
        token = params.get("NextToken")
        window = _RECENT_SECONDS if params.get("RecentlyActive") == "PT3H" else _LISTED_SECONDS
        wanted = [(d["Name"], d.get("Value")) for d in params.get("Dimensions", [])]
        matching = [
            series
            for series in self._store.series(self._clock() - window)
            if params.get("Namespace") in (None, series.namespace)
            and params.get("MetricName") in (None, series.metric)
            and _has_dimensions(series, wanted)
        ]
        found, next_token = page(
            matching,
            token,
            _PAGE,
            lambda: InvalidParameterValue(
                f"The NextToken {token!r} is not one this server handed out."
            ),
        )
        answer: dict[str, Any] = {
            "Metrics": [
                {
                    "Namespace": s.namespace,
                    "MetricName": s.metric,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in s.dimensions],
                }
                for s in found
            ]
        }
        if next_token is not None:
            answer["NextToken"] = next_token
        return answer

    def put_metric_data(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``PutMetricData``: every datum checked before any is stored."""
        namespace = params["Namespace"]
        rules.check_namespace(namespace)
        now = self._clock()
        data = [
            _datum(namespace, datum, i, now)
            for i, datum in enumerate(params.get("MetricData", []), start=1)
        ]
        for series, at, aggregate in data:
            self._store.put(series, at, aggregate)
        return {}

    def _periods(
        self, series: Series, start: float, end: float, period: int, unit: str | None
    ) -> list[tuple[int, Aggregate]]:
        """``series``' aggregates per period (per minute for periods under one)."""
        span = max(period, MINUTE)
        grouped: dict[int, Aggregate] = {}
        for minute, aggregate in self._store.minutes(series, start, end).items():
            if unit is not None and aggregate.unit != unit:
                continue
            at = minute // span * span
            grouped.setdefault(at, Aggregate(unit=aggregate.unit)).merge(aggregate)
        return sorted(grouped.items())


def _series(namespace: str, metric: str, dimensions: Sequence[Mapping[str, str]]) -> Series:
    return Series.of(namespace, metric, {d["Name"]: d["Value"] for d in dimensions})


def _has_dimensions(series: Series, wanted: Sequence[tuple[str, str | None]]) -> bool:
    present = dict(series.dimensions)
    return all(name in present and value in (None, present[name]) for name, value in wanted)


def _number(value: float | None) -> float:
    return 0.0 if value is None else value


def _check_queries(queries: Sequence[Mapping[str, Any]]) -> None:
    ids = [q["Id"] for q in queries]
    duplicated = sorted({i for i in ids if ids.count(i) > 1})
    if duplicated:
        raise InvalidParameterValue(f"The values for parameter Id must be unique: {duplicated}.")
    for i, query in enumerate(queries, start=1):
        where = f"MetricDataQueries.member.{i}"
        if "Expression" in query:
            raise InvalidParameterValue(
                f"{where}.Expression: Kiln does not evaluate metric math; use MetricStat."
            )
        if "MetricStat" not in query:
            raise MissingParameter(f"The parameter {where}.MetricStat is required.")
        rules.check_period(query["MetricStat"]["Period"], f"{where}.MetricStat.Period")
        rules.check_stat(query["MetricStat"]["Stat"], f"{where}.MetricStat.Stat")


def _datum(
    namespace: str, datum: Mapping[str, Any], i: int, now: float
) -> tuple[Series, float, Aggregate]:
    where = f"MetricData.member.{i}"
    at = float(datum.get("Timestamp", now))
    rules.check_timestamp(at, now, f"{where}.Timestamp")
    kinds = [k for k in ("Value", "Values", "StatisticValues") if k in datum]
    if len(kinds) > 1:
        raise InvalidParameterCombination(
            f"The parameters {where}.{kinds[0]} and {where}.{kinds[1]} are mutually exclusive."
        )
    if not kinds:
        raise MissingParameter(f"The parameter {where}.Value is required.")
    aggregate = Aggregate(unit=datum.get("Unit", "None"))
    if "Value" in datum:
        aggregate.add(float(datum["Value"]))
    elif "Values" in datum:
        values, counts = datum["Values"], datum.get("Counts", [1.0] * len(datum["Values"]))
        if len(counts) != len(values):
            raise InvalidParameterValue(
                f"The parameters {where}.Values and {where}.Counts must be of the same size."
            )
        for value, times in zip(values, counts, strict=True):
            aggregate.add(float(value), max(int(times), 1))
    else:
        s = datum["StatisticValues"]
        if s["Minimum"] > s["Maximum"] or s["SampleCount"] <= 0:
            raise InvalidParameterValue(
                f"The parameter {where}.StatisticValues needs 0 < SampleCount and "
                "Minimum <= Maximum."
            )
        aggregate.add_set(s["SampleCount"], s["Sum"], s["Minimum"], s["Maximum"])
    series = _series(namespace, datum["MetricName"], datum.get("Dimensions", []))
    return series, at, aggregate
