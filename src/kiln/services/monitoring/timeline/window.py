"""Which periods a timeline covers: its range and period, checked, and the texts that name them.

Periods are whole minutes (the metrics store keeps 1-minute points) and a timeline has at most
1,440 of them, as CloudWatch's ``GetMetricStatistics`` answers at most 1,440 datapoints.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from kiln.errors import ValidationError

MINUTE = 60
MAX_POINTS = 1440
DEFAULT_SPAN = 3600.0
# A default period gives at most this many points: a terminal chart's width, a UI's plain line.
DEFAULT_POINTS = 60
_NICE_PERIODS = (60, 300, 600, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86400)
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class Window:
    """A timeline's range: ``start`` on a minute, ``period`` seconds per point."""

    start: int
    end: float
    period: int

    def buckets(self) -> list[int]:
        """The start of each period, in order."""
        count = math.ceil((self.end - self.start) / self.period)
        return [self.start + i * self.period for i in range(count)]


def window(start: float | None, end: float | None, period: int | None, now: float) -> Window:
    """The checked range: end defaults to now, start to an hour before end, period to a nice one
    giving at most ``DEFAULT_POINTS``; ValidationError, quoting the values, when it cannot be."""
    end = now if end is None else end
    start = end - DEFAULT_SPAN if start is None else start
    if start >= end:
        raise ValidationError(f"StartTime ({start:g}) must be before EndTime ({end:g})")
    floor = int(start) // MINUTE * MINUTE
    period = default_period(end - start) if period is None else period
    if period < MINUTE or period % MINUTE:
        raise ValidationError(f"Period must be a multiple of 60 seconds, not {period}")
    points = math.ceil((end - floor) / period)
    if points > MAX_POINTS:
        raise ValidationError(
            f"{points} points of {period} s from {floor} to {end:g} are more than {MAX_POINTS};"
            " use a longer period or a shorter range"
        )
    return Window(floor, end, period)


def default_period(span: float) -> int:
    """The shortest nice period covering ``span`` seconds in at most ``DEFAULT_POINTS`` points."""
    for period in _NICE_PERIODS:
        if span <= period * DEFAULT_POINTS:
            return period
    return math.ceil(span / DEFAULT_POINTS / 86400) * 86400


def parse_duration(text: str, what: str = "duration") -> int:
    """Seconds from ``90``, ``90s``, ``5m``, ``1h``, ``2d``, ``1w``; ValidationError otherwise."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None or float(found.group(1)) <= 0:
        raise ValidationError(
            f"{what} must be a positive number of seconds or like 5m, 1h, 2d, not {text!r}"
        )
    return round(float(found.group(1)) * _UNIT_SECONDS[found.group(2)])


def parse_time(text: str, what: str = "time") -> float:
    """Epoch seconds from epoch seconds or ISO 8601 (UTC unless it names a zone)."""
    message = f"{what} must be epoch seconds or ISO 8601 (2024-05-01T12:00:00Z), not {text!r}"
    try:
        seconds = float(text)
    except ValueError:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ValidationError(message) from None
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(seconds):
        raise ValidationError(message)
    return seconds
