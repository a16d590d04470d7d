"""Which scheduled time of a monitoring schedule is due, and the data window it analyzes.

The decision is one window or none, never a list: SageMaker runs each schedule at its scheduled
times and documents no back-fill of times it missed (its guides only warn of a 0–20 minute start
delay), so after downtime Kiln runs the *latest* missed scheduled time once and skips the older
ones. Since a window is due only when it is newer than the schedule's newest execution, and
``ScheduleBook.begin`` records one execution per scheduled time, a restart neither skips the
current window nor runs one twice.

The window (SageMaker's ``start_time``/``end_time`` for the analyzer) is, in order of precedence:
the schedule's ``DataAnalysisStartTime``/``EndTime`` offsets; else the job definition's
``StartTimeOffset``/``EndTimeOffset`` (both relative to the scheduled time: AWS's example
``-P8D``/``-P1D`` at 2020-01-09T13:00 reads 2020-01-01T13:00 to 2020-01-08T13:00); else the period
just before the scheduled time. Where only one end is given, the other keeps the default; where
only the end is given, the window keeps its default length. A ``NOW`` schedule's one execution is
scheduled at its creation time; without offsets it looks back one hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kiln.services.monitoring.schedules.model import Schedule, Window
from kiln.services.monitoring.schedules.offsets import parse_offset

NOW_DEFAULT_LOOKBACK = timedelta(hours=1)


def due_window(
    schedule: Schedule,
    last_scheduled_time: datetime | None,
    now: datetime,
    settle: timedelta = timedelta(0),
) -> Window | None:
    """The window ``schedule`` should run at ``now``, if any (``settle``: wait for late data)."""
    expression = schedule.expression
    if expression.is_now:
        if last_scheduled_time is not None:
            return None
        window = window_at(schedule, schedule.created)
        return window if now - settle >= min(window.end, schedule.created) else None
    latest = expression.latest_at_or_before(now - settle)
    if latest < schedule.created:
        return None  # a schedule starts at its first scheduled time after creation
    if last_scheduled_time is not None and latest <= last_scheduled_time:
        return None
    return window_at(schedule, latest)


def window_at(schedule: Schedule, scheduled_time: datetime) -> Window:
    """The data window of ``schedule``'s execution scheduled at ``scheduled_time``."""
    start_offset, end_offset = _offsets(schedule)
    default_start = _default_start(schedule, scheduled_time)
    end = scheduled_time if end_offset is None else scheduled_time + end_offset
    if start_offset is not None:
        start = scheduled_time + start_offset
    elif end_offset is not None:
        start = end - (scheduled_time - default_start)
    else:
        start = default_start
    if start >= end:
        raise ValueError(
            f"monitoring schedule {schedule.name!r}: its window starts at {start.isoformat()}, "
            f"not before its end {end.isoformat()}"
        )
    return Window(scheduled_time, start, end)


def _offsets(schedule: Schedule) -> tuple[timedelta | None, timedelta | None]:
    if schedule.data_analysis_start is not None or schedule.data_analysis_end is not None:
        start, end = schedule.data_analysis_start, schedule.data_analysis_end
    else:
        start = schedule.definition.start_time_offset
        end = schedule.definition.end_time_offset
    return (
        None if start is None else parse_offset(start),
        None if end is None else parse_offset(end),
    )


def _default_start(schedule: Schedule, scheduled_time: datetime) -> datetime:
    if schedule.expression.is_now:
        return scheduled_time - NOW_DEFAULT_LOOKBACK
    return schedule.expression.previous(scheduled_time)
