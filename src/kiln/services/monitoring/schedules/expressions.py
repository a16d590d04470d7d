"""Schedule expressions as SageMaker's CreateMonitoringSchedule accepts them, plus Kiln's rate.

SageMaker (API reference, ``ScheduleConfig.ScheduleExpression``; developer guide, "The cron
expression for monitoring schedule") takes exactly these, all in UTC:

- ``cron(0 * ? * * *)``: every hour, on the hour;
- ``cron(0 H ? * * *)``: daily at hour ``H`` (``0``–``23``, one or two digits);
- ``cron(0 H/N ? * * *)``: every ``N`` hours (``1``–``24``: "hourly integer rates between 1 hour
  and 24 hours") from hour ``H``; the day's sequence starts again at ``H`` each day, so an ``N``
  that does not divide 24 leaves a shorter gap before ``H`` (as cron's own ``H/N`` would);
- ``NOW``: one execution, at once.

Kiln also takes ``rate(N seconds|minutes|hours)`` (``second``/``minute``/``hour`` too), a
Kiln-native cadence for tests and demos that AWS refuses; its times are multiples of the period
since the Unix epoch, so they never drift.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CRON = re.compile(r"cron\((?P<fields>[^()]*)\)")
_RATE = re.compile(r"rate\(\s*(?P<count>\d+)\s+(?P<unit>[a-z]+)\s*\)")
_RATE_UNITS = {
    "second": timedelta(seconds=1),
    "minute": timedelta(minutes=1),
    "hour": timedelta(hours=1),
}
MAX_RATE = timedelta(hours=24)
ACCEPTED = (
    "SageMaker accepts cron(0 * ? * * *), cron(0 H ? * * *), cron(0 H/N ? * * *) with H in "
    "00-23 and N in 01-24, or NOW; Kiln also accepts rate(N seconds|minutes|hours)"
)


@dataclass(frozen=True)
class ScheduleExpression:
    """A parsed expression: a fixed period from an hour offset, or one run now."""

    text: str
    period: timedelta | None  # None: ``NOW``
    first_hour: int = 0
    # cron restarts its sequence at ``first_hour`` each UTC day; a rate counts from the epoch.
    is_daily: bool = True

    @property
    def is_now(self) -> bool:
        """True for the one-time ``NOW``."""
        return self.period is None

    def latest_at_or_before(self, at: datetime) -> datetime:
        """The newest scheduled time not after ``at``."""
        if self.period is None:
            raise ValueError(f"{self.text!r} has no recurring times")
        if not self.is_daily:
            epoch = EPOCH if at.tzinfo is not None else EPOCH.replace(tzinfo=None)
            return at - (at - epoch) % self.period
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        origin = day + timedelta(hours=self.first_hour)
        if origin > at:
            origin -= timedelta(days=1)
        return origin + ((at - origin) // self.period) * self.period

    def previous(self, scheduled: datetime) -> datetime:
        """The scheduled time just before ``scheduled``."""
        return self.latest_at_or_before(scheduled - timedelta(microseconds=1))


NOW = ScheduleExpression("NOW", None)


def parse_expression(text: str) -> ScheduleExpression:
    """Parse ``text``; ValueError says what SageMaker accepts."""
    if text == "NOW":
        return NOW
    cron = _CRON.fullmatch(text)
    if cron is not None:
        return _parse_cron(text, cron["fields"].split())
    rate = _RATE.fullmatch(text)
    if rate is not None:
        return _parse_rate(text, int(rate["count"]), rate["unit"])
    raise ValueError(f"Invalid ScheduleExpression {text!r}: {ACCEPTED}")


def _parse_cron(text: str, fields: list[str]) -> ScheduleExpression:
    if len(fields) != 6 or fields[0] != "0" or fields[2:] != ["?", "*", "*", "*"]:
        raise ValueError(
            f"Invalid ScheduleExpression {text!r}: a monitoring cron has six fields, minute 0, "
            f"and '? * * *' for day, month, weekday and year; {ACCEPTED}"
        )
    hours = fields[1]
    if hours == "*":
        return ScheduleExpression(text, timedelta(hours=1))
    first, slash, every = hours.partition("/")
    first_hour = _number(text, first, "hour", 0, 23)
    interval = _number(text, every, "interval in hours", 1, 24) if slash else 24
    return ScheduleExpression(text, timedelta(hours=interval), first_hour)


def _number(text: str, field: str, what: str, low: int, high: int) -> int:
    if not re.fullmatch(r"\d{1,2}", field) or not low <= int(field) <= high:
        raise ValueError(
            f"Invalid ScheduleExpression {text!r}: the {what} must be a number from "
            f"{low:02d} to {high:02d}, not {field!r}"
        )
    return int(field)


def _parse_rate(text: str, count: int, unit: str) -> ScheduleExpression:
    base = _RATE_UNITS.get(unit.removesuffix("s"))
    if base is None:
        raise ValueError(
            f"Invalid ScheduleExpression {text!r}: a rate's unit is seconds, minutes or hours, "
            f"not {unit!r}"
        )
    period = count * base
    if not timedelta(seconds=1) <= period <= MAX_RATE:
        raise ValueError(
            f"Invalid ScheduleExpression {text!r}: a rate runs from 1 second to 24 hours"
        )
    return ScheduleExpression(text, period, is_daily=False)
