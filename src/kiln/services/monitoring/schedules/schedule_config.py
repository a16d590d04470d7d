"""``ScheduleConfig`` and the time offsets of a monitoring job, validated (pure).

SageMaker's rules (CreateMonitoringSchedule, ``ScheduleConfig``): ``DataAnalysisStartTime`` and
``DataAnalysisEndTime`` are ISO 8601 durations relative to the scheduled time (``-PT5H``); with
``ScheduleExpression`` ``NOW`` both are required; the start may precede the end by at most
24 hours. ``EndpointInput``'s ``StartTimeOffset``/``EndTimeOffset`` are the same kind of offset
(AWS's model-quality guide uses a week: ``-P8D`` to ``-P1D``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kiln.errors import ValidationError
from kiln.services.monitoring.schedules import offsets
from kiln.services.monitoring.schedules.expressions import ScheduleExpression, parse_expression

MAX_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ParsedScheduleConfig:
    """A ``ScheduleConfig``: the expression and the data window's offsets, if any."""

    expression: ScheduleExpression
    data_analysis_start: str | None
    data_analysis_end: str | None


def parse_offset(text: str, field: str) -> timedelta:
    """An ISO 8601 duration such as ``-PT1H``; ``ValidationError`` naming ``field`` otherwise."""
    try:
        return offsets.parse_offset(text)
    except ValueError as e:
        raise ValidationError(f"{field}: {e}") from None


def check_window(
    start: str | None,
    end: str | None,
    fields: tuple[str, str],
    longest: timedelta | None = None,
) -> None:
    """Both offsets parse, and the start comes before the end (by at most ``longest``)."""
    begins = None if start is None else parse_offset(start, fields[0])
    ends = None if end is None else parse_offset(end, fields[1])
    if begins is None or ends is None:
        return
    if begins >= ends:
        raise ValidationError(f"{fields[0]} {start!r} must come before {fields[1]} {end!r}")
    if longest is not None and ends - begins > longest:
        raise ValidationError(
            f"{fields[0]} {start!r} must not precede {fields[1]} {end!r} by more than {longest.total_seconds() / 3600:g} hours"
        )


def parse_schedule_config(config: Mapping[str, Any] | None) -> ParsedScheduleConfig:
    """``MonitoringScheduleConfig.ScheduleConfig`` validated as SageMaker validates it."""
    if not config:
        raise ValidationError("MonitoringScheduleConfig.ScheduleConfig is required")
    text = config["ScheduleExpression"]
    try:
        expression = parse_expression(text)
    except ValueError as e:
        raise ValidationError(f"ScheduleConfig.ScheduleExpression: {e}") from e
    start, end = config.get("DataAnalysisStartTime"), config.get("DataAnalysisEndTime")
    if expression.is_now and (start is None or end is None):
        raise ValidationError(
            "ScheduleConfig: with ScheduleExpression NOW, DataAnalysisStartTime and "
            "DataAnalysisEndTime are both required (e.g. '-PT1H' and '-PT0H')"
        )
    check_window(start, end, ("DataAnalysisStartTime", "DataAnalysisEndTime"), MAX_WINDOW)
    return ParsedScheduleConfig(expression, start, end)
