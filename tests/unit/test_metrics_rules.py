"""CloudWatch's limits on metric requests, as tables: input → accepted or the error it gets."""

from __future__ import annotations

import pytest

from kiln.services.monitoring.metrics import rules
from kiln.services.monitoring.metrics.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)

DAY = 86_400


@pytest.mark.parametrize("period", [1, 5, 10, 20, 30, 60, 120, 300, 3600, 86_400])
def test_periods_cloudwatch_aggregates_by_are_accepted(period: int) -> None:
    rules.check_period(period)


@pytest.mark.parametrize("period", [2, 45, 61, 90, 3601])
def test_other_periods_are_invalid_parameter_values(period: int) -> None:
    with pytest.raises(InvalidParameterValue, match="multiple of 60"):
        rules.check_period(period)


@pytest.mark.parametrize(
    ("span", "period", "allowed"),
    [
        (DAY, 60, True),  # 1,440 points: the limit itself
        (DAY + 60, 60, False),  # 1,441
        (DAY, 1, False),  # 86,400 points
        (7 * DAY, 3600, True),  # 168
        (DAY + 1, 60, False),  # a partial period counts: ceil(86,401 / 60) = 1,441
    ],
)
def test_get_metric_statistics_answers_at_most_1440_points(
    span: int, period: int, allowed: bool
) -> None:
    if allowed:
        rules.check_statistics_points(0, span, period)
    else:
        with pytest.raises(InvalidParameterCombination, match="exceeds the limit of 1440"):
            rules.check_statistics_points(0, span, period)


def test_get_metric_data_answers_at_most_100800_points() -> None:
    rules.check_metric_data_points(100_800)
    with pytest.raises(InvalidParameterCombination):
        rules.check_metric_data_points(100_801)


@pytest.mark.parametrize(
    ("statistics", "extended", "error"),
    [
        (["Sum"], [], None),
        ([], ["p99", "p50.5"], None),
        (["Sum"], ["p99"], InvalidParameterCombination),
        ([], [], MissingParameter),
        (["Median"], [], InvalidParameterValue),
        ([], ["tm99"], InvalidParameterValue),
        ([], ["p101"], InvalidParameterValue),
    ],
)
def test_statistics_or_extended_statistics(
    statistics: list[str], extended: list[str], error: type[Exception] | None
) -> None:
    if error is None:
        rules.check_statistics(statistics, extended)
    else:
        with pytest.raises(error):
            rules.check_statistics(statistics, extended)


@pytest.mark.parametrize(("start", "end"), [(100, 100), (200, 100)])
def test_a_window_must_end_after_it_starts(start: float, end: float) -> None:
    with pytest.raises(InvalidParameterValue, match="StartTime"):
        rules.check_window(start, end)


@pytest.mark.parametrize(
    ("offset", "allowed"),
    [(0, True), (-14 * DAY + 1, True), (-14 * DAY - 1, False), (7200, True), (7201, False)],
)
def test_put_timestamps_from_two_weeks_back_to_two_hours_ahead(offset: int, allowed: bool) -> None:
    now = 1_700_000_000.0
    if allowed:
        rules.check_timestamp(now + offset, now, "Timestamp")
    else:
        with pytest.raises(InvalidParameterValue):
            rules.check_timestamp(now + offset, now, "Timestamp")


@pytest.mark.parametrize(("namespace", "allowed"), [("MyApp", True), ("AWS/SageMaker", False)])
def test_aws_namespaces_are_reserved(namespace: str, allowed: bool) -> None:
    if allowed:
        rules.check_namespace(namespace)
    else:
        with pytest.raises(InvalidParameterValue):
            rules.check_namespace(namespace)
