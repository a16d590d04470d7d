"""CloudWatch's limits on reading and writing metrics: pure checks, each raising its error.

From the CloudWatch API reference: a period is 1, 5, 10, 20, 30 or a multiple of 60 seconds;
``GetMetricStatistics`` returns at most 1,440 data points and ``GetMetricData`` at most 100,800
per call; Statistics and ExtendedStatistics are exclusive; ``PutMetricData`` takes timestamps
from two weeks back to two hours ahead, and never a namespace starting with ``AWS/``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from kiln.services.monitoring.metrics.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from kiln.services.monitoring.metrics.statistics import STATISTICS, is_percentile, is_statistic

HIGH_RESOLUTION_PERIODS = (1, 5, 10, 20, 30)
MAX_STATISTICS_POINTS = 1440
MAX_METRIC_DATA_POINTS = 100_800
PAST_LIMIT_SECONDS = 14 * 24 * 3600
FUTURE_LIMIT_SECONDS = 2 * 3600


def check_period(period: int, where: str = "Period") -> None:
    """``InvalidParameterValue`` unless ``period`` is a period CloudWatch aggregates by."""
    if period in HIGH_RESOLUTION_PERIODS or (period > 0 and period % 60 == 0):
        return
    raise InvalidParameterValue(
        f"The parameter {where} must be 1, 5, 10, 20, 30 or a multiple of 60 (got {period})."
    )


def check_window(start: float, end: float) -> None:
    """``InvalidParameterValue`` unless the window ends after it starts."""
    if end <= start:
        raise InvalidParameterValue(
            "The parameter StartTime must be less than the parameter EndTime."
        )


def datapoints(start: float, end: float, period: int) -> int:
    """How many data points a window asks for at ``period``."""
    return math.ceil((end - start) / period)


def check_statistics_points(start: float, end: float, period: int) -> None:
    """``InvalidParameterCombination`` past ``GetMetricStatistics``' 1,440 data points."""
    asked = datapoints(start, end, period)
    if asked > MAX_STATISTICS_POINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {asked} datapoints, which exceeds the limit of "
            f"{MAX_STATISTICS_POINTS}. You may reduce the datapoints requested by increasing "
            "Period, or decreasing the time range."
        )


def check_metric_data_points(asked: int) -> None:
    """``InvalidParameterCombination`` past ``GetMetricData``'s 100,800 data points."""
    if asked > MAX_METRIC_DATA_POINTS:
        raise InvalidParameterCombination(
            f"You have requested up to {asked} datapoints, which exceeds the limit of "
            f"{MAX_METRIC_DATA_POINTS}."
        )


def check_statistics(statistics: Sequence[str], extended: Sequence[str]) -> None:
    """Exactly one of Statistics / ExtendedStatistics, each name one CloudWatch knows."""
    if statistics and extended:
        raise InvalidParameterCombination(
            "Must specify either Statistics or ExtendedStatistics, but not both."
        )
    if not statistics and not extended:
        raise MissingParameter("Must specify either Statistics or ExtendedStatistics.")
    for name in statistics:
        if name not in STATISTICS:
            raise InvalidParameterValue(f"The parameter Statistics has an invalid value: {name}.")
    for name in extended:
        if not is_percentile(name):
            raise InvalidParameterValue(
                f"The value {name} for parameter ExtendedStatistics is not supported: "
                "Kiln answers percentiles p0.0 to p100."
            )


def check_stat(stat: str, where: str) -> None:
    """``InvalidParameterValue`` unless ``stat`` is a statistic or a percentile."""
    if not is_statistic(stat):
        raise InvalidParameterValue(
            f"The value {stat} for parameter {where} is not a statistic Kiln answers "
            f"({', '.join(STATISTICS)}, or pNN.NN)."
        )


def check_namespace(namespace: str) -> None:
    """``InvalidParameterValue`` for a namespace reserved to AWS's own services."""
    if namespace.startswith("AWS/"):
        raise InvalidParameterValue(
            f"The value {namespace} for parameter Namespace is invalid: "
            "namespaces starting with AWS/ are reserved for AWS's own metrics."
        )


def check_timestamp(at: float, now: float, where: str) -> None:
    """``InvalidParameterValue`` outside two weeks back to two hours ahead of ``now``."""
    if at < now - PAST_LIMIT_SECONDS or at > now + FUTURE_LIMIT_SECONDS:
        raise InvalidParameterValue(
            f"The parameter {where} must be within the last two weeks and no more than "
            "two hours in the future."
        )
