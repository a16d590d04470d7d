"""``ScheduleConfig`` and the time offsets of a monitoring job, validated (pure).

SageMaker's rules (CreateMonitoringSchedule, ``ScheduleConfig``): ``DataAnalysisStartTime`` and
``DataAnalysisEndTime`` are ISO 8601 durations relative to the scheduled time (``-PT5H``); with
``ScheduleExpression`` ``NOW`` both are required; the start may precede the end by at most
24 hours. ``EndpointInput``'s ``StartTimeOffset``/``EndTimeOffset`` are the same kind of offset.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kiln.errors import ValidationError
from kiln.services.monitoring.schedules.expressions import ScheduleExpression, parse_expression

# ISO 8601 durations as SageMaker's examples write them: a sign, days, then hours, minutes and
# seconds after the T ("-PT1H", "-P1DT12H", "PT30M").
_DURATION = re.compile(
    r"(?P<sign>[-+]?)P(?:(?P<days>\d+)D)?"
    r"(?:T(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?"
)
MAX_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class ParsedScheduleConfig:
    """A ``ScheduleConfig``: the expression and the data window's offsets, if any."""

    expression: ScheduleExpression
    data_analysis_start: str | None
    data_analysis_end: str | None


def parse_offset(text: str, field: str) -> timedelta:
    """An ISO 8601 duration such as ``-PT1H``; ``ValidationError`` naming ``field`` otherwise."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    parts = None if match is None else match.groupdict()
    if parts is None or text.rstrip("T").endswith("P") or text.endswith("T"):
        raise ValidationError(
            f"{field} {text!r} is not an ISO 8601 duration such as '-PT1H' or '-P1DT12H'"
        )
    magnitude = timedelta(
        days=int(parts["days"] or 0),
        hours=int(parts["hours"] or 0),
        minutes=int(parts["minutes"] or 0),
        seconds=int(parts["seconds"] or 0),
    )
    return -magnitude if parts["sign"] == "-" else magnitude


def check_window(start: str | None, end: str | None, fields: tuple[str, str]) -> None:
    """Both offsets parse, and the start comes before the end by at most 24 hours."""
    begins = None if start is None else parse_offset(start, fields[0])
    ends = None if end is None else parse_offset(end, fields[1])
    if begins is None or ends is None:
        return
    if begins >= ends:
        raise ValidationError(f"{fields[0]} {start!r} must come before {fields[1]} {end!r}")
    if ends - begins > MAX_WINDOW:
        raise ValidationError(
            f"{fields[0]} {start!r} must not precede {fields[1]} {end!r} by more than 24 hours"
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
    check_window(start, end, ("DataAnalysisStartTime", "DataAnalysisEndTime"))
    return ParsedScheduleConfig(expression, start, end)
