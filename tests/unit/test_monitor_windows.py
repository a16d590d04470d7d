"""The due-window decision: which scheduled time runs, once, and what data it reads."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiln.services.monitoring.schedules.expressions import parse_expression
from kiln.services.monitoring.schedules.model import (
    JobDefinition,
    MonitoringType,
    Schedule,
    ScheduleStatus,
    Window,
)
from kiln.services.monitoring.schedules.windows import due_window, window_at


def at(hour: int, minute: int = 0, second: int = 0, day: int = 20) -> datetime:
    return datetime(2020, 2, day, hour, minute, second, tzinfo=UTC)


LONG_AGO = at(0, 30, day=1)


def schedule(
    expression: str = "cron(0 * ? * * *)",
    created: datetime = LONG_AGO,
    start_offset: str | None = None,
    end_offset: str | None = None,
    analysis_start: str | None = None,
    analysis_end: str | None = None,
) -> Schedule:
    definition = JobDefinition(
        name="dq",
        arn="arn:aws:sagemaker:us-east-1:000000000000:data-quality-job-definition/dq",
        monitoring_type=MonitoringType.DATA_QUALITY,
        endpoint_name="ep",
        output_s3_uri="s3://out/reports",
        start_time_offset=start_offset,
        end_time_offset=end_offset,
    )
    return Schedule(
        name="s",
        arn="arn:aws:sagemaker:us-east-1:000000000000:monitoring-schedule/s",
        status=ScheduleStatus.SCHEDULED,
        expression=parse_expression(expression),
        definition=definition,
        created=created,
        data_analysis_start=analysis_start,
        data_analysis_end=analysis_end,
    )


@pytest.mark.parametrize(
    ("case", "last", "now", "due"),
    [
        # hourly, nothing run yet: the current hour's time, the hour before it as its window
        (schedule(), None, at(13, 5), Window(at(13), at(12), at(13))),
        # the 13:00 window already ran: nothing until 14:00
        (schedule(), at(13), at(13, 59, 59), None),
        (schedule(), at(13), at(14), Window(at(14), at(13), at(14))),
        # down from 10:30 to 16:10: only the latest missed time, once (no back-fill)
        (schedule(), at(10), at(16, 10), Window(at(16), at(15), at(16))),
        # created at 13:30: its first time is 14:00, not 13:00
        (schedule(created=at(13, 30)), None, at(13, 59), None),
        (schedule(created=at(13, 30)), None, at(14, 0, 1), Window(at(14), at(13), at(14))),
        # daily at 05: the whole day before
        (schedule("cron(0 5 ? * * *)"), None, at(9), Window(at(5), at(5, day=19), at(5))),
        # the definition's offsets, relative to the scheduled time (AWS: -P8D/-P1D)
        (
            schedule(start_offset="-P8D", end_offset="-P1D"),
            None,
            at(13, 1, day=9),
            Window(at(13, day=9), at(13, day=1), at(13, day=8)),
        ),
        # only an end offset: the window keeps its hour, shifted
        (schedule(end_offset="-PT1H"), None, at(13), Window(at(13), at(11), at(12))),
        # only a start offset: longer window to the scheduled time
        (schedule(start_offset="-PT5H"), None, at(13), Window(at(13), at(8), at(13))),
        # the schedule's DataAnalysis offsets win over the definition's
        (
            schedule(start_offset="-PT5H", analysis_start="-PT2H", analysis_end="-PT1H"),
            None,
            at(13),
            Window(at(13), at(11), at(12)),
        ),
        # Kiln's rate
        (
            schedule("rate(10 seconds)"),
            at(13),
            at(13, 0, 25),
            Window(at(13, 0, 20), at(13, 0, 10), at(13, 0, 20)),
        ),
        # NOW: once, at creation, over its analysis offsets
        (
            schedule("NOW", created=at(13, 30), analysis_start="-PT2H", analysis_end="PT0S"),
            None,
            at(13, 30, 1),
            Window(at(13, 30), at(11, 30), at(13, 30)),
        ),
        (schedule("NOW", created=at(13, 30), analysis_start="-PT2H"), at(13, 30), at(15), None),
        # NOW without offsets: the hour before creation
        (
            schedule("NOW", created=at(13, 30)),
            None,
            at(13, 30),
            Window(at(13, 30), at(12, 30), at(13, 30)),
        ),
    ],
)
def test_due_window(
    case: Schedule, last: datetime | None, now: datetime, due: Window | None
) -> None:
    assert due_window(case, last, now) == due


def test_settle_waits_for_late_captures_but_keeps_the_nominal_time() -> None:
    # captures reach the store after a flush: at 13:00:05 with 10 s to settle, 12:00 is due
    assert due_window(schedule(), at(11), at(13, 0, 5), settle=timedelta(seconds=10)) == Window(
        at(12), at(11), at(12)
    )


def test_now_waits_for_the_captures_of_its_window_to_settle() -> None:
    once = schedule("NOW", created=at(13, 30), analysis_start="-PT1H", analysis_end="PT0S")
    settle = timedelta(seconds=10)
    assert due_window(once, None, at(13, 30, 5), settle=settle) is None
    assert due_window(once, None, at(13, 30, 10), settle=settle) == Window(
        at(13, 30), at(12, 30), at(13, 30)
    )


def test_a_window_that_ends_before_it_starts_is_refused() -> None:
    with pytest.raises(ValueError, match="not before its end"):
        window_at(schedule(start_offset="-PT1H", end_offset="-PT2H"), at(13))
