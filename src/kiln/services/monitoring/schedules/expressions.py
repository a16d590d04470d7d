"""Schedule expressions as SageMaker's CreateMonitoringSchedule accepts them, plus Kiln's rate.

SageMaker takes ``cron(0 * ? * * *)`` (hourly), ``cron(0 H ? * * *)`` (daily at hour H),
``cron(0 H/N ? * * *)`` (every N hours from H) and ``NOW`` (one execution at once). Kiln also
takes ``rate(N seconds|minutes)`` for tests and demos, which AWS refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class ScheduleExpression:
    """A parsed expression: a fixed period from an hour offset, or one run now."""

    text: str
    period: timedelta | None  # None: ``NOW``
    first_hour: int = 0

    @property
    def is_now(self) -> bool:
        """True for the one-time ``NOW``."""
        return self.period is None

    def latest_at_or_before(self, at: datetime) -> datetime:
        """The newest scheduled time not after ``at``."""
        assert self.period is not None
        day = at.replace(hour=0, minute=0, second=0, microsecond=0)
        origin = day + timedelta(hours=self.first_hour)
        if origin > at:
            origin -= timedelta(days=1)
        return origin + ((at - origin) // self.period) * self.period


def parse_expression(text: str) -> ScheduleExpression:
    """Parse ``text``; ValueError says what SageMaker accepts."""
    raise ValueError(f"Invalid ScheduleExpression {text!r} (parser being built)")
