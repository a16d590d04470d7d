"""Schedule expressions: what SageMaker's CreateMonitoringSchedule accepts, plus Kiln's rate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiln.services.monitoring.schedules.expressions import parse_expression


def at(hour: int, minute: int = 0, second: int = 0, day: int = 20) -> datetime:
    return datetime(2020, 2, day, hour, minute, second, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "period", "first_hour"),
    [
        ("cron(0 * ? * * *)", timedelta(hours=1), 0),
        ("cron(0 12 ? * * *)", timedelta(hours=24), 12),
        ("cron(0 0 ? * * *)", timedelta(hours=24), 0),
        ("cron(0 00 ? * * *)", timedelta(hours=24), 0),
        ("cron(0 23 ? * * *)", timedelta(hours=24), 23),
        ("cron(0 17/12 ? * * *)", timedelta(hours=12), 17),
        ("cron(0 0/2 ? * * *)", timedelta(hours=2), 0),
        ("cron(0 05/01 ? * * *)", timedelta(hours=1), 5),
        ("cron(0 3/24 ? * * *)", timedelta(hours=24), 3),
        ("rate(10 seconds)", timedelta(seconds=10), 0),
        ("rate(1 second)", timedelta(seconds=1), 0),
        ("rate(5 minutes)", timedelta(minutes=5), 0),
        ("rate(2 hours)", timedelta(hours=2), 0),
        ("rate(24 hours)", timedelta(hours=24), 0),
    ],
)
def test_accepted_expressions_parse_to_their_period(
    text: str, period: timedelta, first_hour: int
) -> None:
    parsed = parse_expression(text)
    assert (parsed.period, parsed.first_hour, parsed.is_now) == (period, first_hour, False)


def test_now_is_one_time() -> None:
    assert parse_expression("NOW").is_now


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "SageMaker accepts"),
        ("now", "SageMaker accepts"),
        ("cron(0 * * * ? *)", "'? * * *'"),
        ("cron(30 * ? * * *)", "minute 0"),
        ("cron(0 * ? * *)", "six fields"),
        ("cron(0 24 ? * * *)", "hour must be a number from 00 to 23, not '24'"),
        ("cron(0 -1 ? * * *)", "hour must be"),
        ("cron(0 1-5 ? * * *)", "hour must be"),
        ("cron(0 */2 ? * * *)", "hour must be"),
        ("cron(0 0/0 ? * * *)", "interval in hours must be a number from 01 to 24, not '0'"),
        ("cron(0 0/25 ? * * *)", "interval in hours"),
        ("cron(0 0/ ? * * *)", "interval in hours"),
        ("rate(0 seconds)", "from 1 second to 24 hours"),
        ("rate(25 hours)", "from 1 second to 24 hours"),
        ("rate(3 days)", "seconds, minutes or hours, not 'days'"),
        ("rate(-3 minutes)", "SageMaker accepts"),
        ("cron(0 * ? * * *) ", "SageMaker accepts"),
    ],
)
def test_refused_expressions_say_why(text: str, message: str) -> None:
    with pytest.raises(ValueError, match="Invalid ScheduleExpression") as raised:
        parse_expression(text)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "now", "latest"),
    [
        ("cron(0 * ? * * *)", at(13, 59, 59), at(13)),
        ("cron(0 * ? * * *)", at(13), at(13)),
        ("cron(0 5 ? * * *)", at(4, 59), at(5, day=19)),  # daily at 05: yesterday's
        ("cron(0 5 ? * * *)", at(5, 1), at(5)),
        # every 12 h from 17:00 is 17:00 and 05:00, as AWS's own example reads it
        ("cron(0 17/12 ? * * *)", at(16), at(5)),
        ("cron(0 17/12 ? * * *)", at(4), at(17, day=19)),
        # every 5 h from 00: 00 05 10 15 20, then 00 again at midnight (4 h gap)
        ("cron(0 0/5 ? * * *)", at(23, 30), at(20)),
        ("rate(10 seconds)", at(13, 0, 19), at(13, 0, 10)),
        # a rate counts from the epoch, not from midnight: 1582156800 = 11 × 143832436 + 4
        ("rate(11 seconds)", at(0, 0, 3), at(23, 59, 56, day=19)),
    ],
)
def test_latest_scheduled_time_at_or_before(text: str, now: datetime, latest: datetime) -> None:
    assert parse_expression(text).latest_at_or_before(now) == latest


@pytest.mark.parametrize(
    ("text", "scheduled", "previous"),
    [
        ("cron(0 * ? * * *)", at(13), at(12)),
        ("cron(0 5 ? * * *)", at(5), at(5, day=19)),
        ("cron(0 0/5 ? * * *)", at(0), at(20, day=19)),
        ("rate(10 seconds)", at(13, 0, 10), at(13)),
    ],
)
def test_previous_scheduled_time(text: str, scheduled: datetime, previous: datetime) -> None:
    assert parse_expression(text).previous(scheduled) == previous
