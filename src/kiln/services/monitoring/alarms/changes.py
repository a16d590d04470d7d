"""An alarm's change of state: what the evaluator tells its listeners (rollouts, autoscaling).

The evaluator calls each listener once per change, on its own thread, after the new state is
stored. A listener must not block: it notes the change and lets its own loop act on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class AlarmState(StrEnum):
    """CloudWatch's alarm states (``StateValue``)."""

    OK = "OK"
    ALARM = "ALARM"
    INSUFFICIENT_DATA = "INSUFFICIENT_DATA"


@dataclass(frozen=True, slots=True)
class AlarmStateChange:
    """One alarm moved from ``old`` to ``new`` at ``at`` (epoch seconds), for ``reason``."""

    alarm_name: str
    alarm_arn: str
    old: AlarmState
    new: AlarmState
    reason: str
    at: float
    actions: tuple[str, ...] = ()
    """The ARNs of the actions for the new state (``AlarmActions``, ``OKActions`` or
    ``InsufficientDataActions``): a step scaling policy's ARN among them asks it to run."""
    breach: float | None = None
    """The newest datapoint minus the threshold, when the evaluator judged it (None when set by
    ``SetAlarmState`` or without data): step scaling picks its step by it, as AWS does."""


class AlarmListener(Protocol):
    """What learns of alarm state changes."""

    def alarm_changed(self, change: AlarmStateChange) -> None:
        """Note ``change`` (called on the evaluator's thread; must not block)."""
