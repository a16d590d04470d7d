"""How an alarm judges its datapoints: the pure decision, (rule, datapoints, state) → verdict.

CloudWatch's "M out of N": the alarm looks at the last ``evaluation_periods`` (N) complete
periods and goes to ALARM when at least ``datapoints_to_alarm`` (M) of them breach the
threshold. Missing periods count as ``TreatMissingData`` says: ``breaching`` and
``notBreaching`` fill them in; ``missing`` (the default) and ``ignore`` judge the datapoints
present, and when none is present ``missing`` goes to INSUFFICIENT_DATA while ``ignore`` keeps
the current state. (AWS's table also looks further back for ``missing`` when some periods are
empty; Kiln judges the datapoints present, which gives the same answer in that table's rows.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from kiln.services.monitoring.alarms.changes import AlarmState


class Comparison(StrEnum):
    """``ComparisonOperator`` values Kiln evaluates (the anomaly-band ones are refused)."""

    GREATER_OR_EQUAL = "GreaterThanOrEqualToThreshold"
    GREATER = "GreaterThanThreshold"
    LESS = "LessThanThreshold"
    LESS_OR_EQUAL = "LessThanOrEqualToThreshold"

    def breaches(self, value: float, threshold: float) -> bool:
        """Whether ``value`` is on the alarm's side of ``threshold``."""
        match self:
            case Comparison.GREATER_OR_EQUAL:
                return value >= threshold
            case Comparison.GREATER:
                return value > threshold
            case Comparison.LESS:
                return value < threshold
        return value <= threshold

    @property
    def words(self) -> str:
        """The operator as CloudWatch's state reasons say it."""
        return {
            Comparison.GREATER_OR_EQUAL: "greater than or equal to",
            Comparison.GREATER: "greater than",
            Comparison.LESS: "less than",
            Comparison.LESS_OR_EQUAL: "less than or equal to",
        }[self]


class MissingData(StrEnum):
    """``TreatMissingData``."""

    MISSING = "missing"
    IGNORE = "ignore"
    BREACHING = "breaching"
    NOT_BREACHING = "notBreaching"


@dataclass(frozen=True, slots=True)
class Rule:
    """What an alarm compares: threshold, operator, M out of N, missing-data treatment."""

    threshold: float
    comparison: Comparison
    evaluation_periods: int
    datapoints_to_alarm: int
    missing: MissingData = MissingData.MISSING


@dataclass(frozen=True, slots=True)
class Datapoint:
    """One period's statistic (None: no data in it), the period starting at ``at``."""

    at: float
    value: float | None
    samples: float = 0.0


@dataclass(frozen=True, slots=True)
class Verdict:
    """The state the datapoints call for, and CloudWatch's words for why."""

    state: AlarmState
    reason: str


def evaluate(rule: Rule, datapoints: Sequence[Datapoint], current: AlarmState) -> Verdict:
    """The state ``datapoints`` (the last N periods, newest first) call for."""
    breaching = [_breaches(rule, p) for p in datapoints]
    known = [b for b in breaching if b is not None]
    present = [p for p in datapoints if p.value is not None]
    if not known:
        if rule.missing is MissingData.IGNORE:
            return Verdict(current, "")
        n = len(datapoints)
        return Verdict(
            AlarmState.INSUFFICIENT_DATA,
            f"Insufficient Data: {n} datapoint{'s were' if n != 1 else ' was'} unknown.",
        )
    hits = sum(known)
    is_alarm = hits >= rule.datapoints_to_alarm
    to = AlarmState.ALARM if is_alarm else AlarmState.OK
    listed = ", ".join(f"{p.value!r} ({_when(p.at)})" for p in present)
    shown = hits if is_alarm else len(present) - sum(1 for b in breaching if b)
    verb = "was" if shown == 1 else "were"
    side = rule.comparison.words if is_alarm else f"not {rule.comparison.words}"
    needed = rule.datapoints_to_alarm if is_alarm else 1
    arrow = f"{current} -> {to}"
    if len(datapoints) == 1:
        head = f"{shown} datapoint [{listed}] {verb}"
    else:
        head = f"{shown} out of the last {len(datapoints)} datapoints [{listed}] {verb}"
    return Verdict(
        to,
        f"Threshold Crossed: {head} {side} the threshold ({rule.threshold!r}) "
        f"(minimum {needed} datapoint{'s' if needed != 1 else ''} for {arrow} transition).",
    )


def _breaches(rule: Rule, point: Datapoint) -> bool | None:
    if point.value is not None:
        return rule.comparison.breaches(point.value, rule.threshold)
    if rule.missing is MissingData.BREACHING:
        return True
    if rule.missing is MissingData.NOT_BREACHING:
        return False
    return None


def _when(at: float) -> str:
    """CloudWatch's timestamp in state reasons: ``dd/MM/yy HH:mm:ss`` (UTC)."""
    return time.strftime("%d/%m/%y %H:%M:%S", time.gmtime(at))
