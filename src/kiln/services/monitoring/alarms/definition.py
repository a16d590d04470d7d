"""An alarm's definition: ``PutMetricAlarm``'s request, checked, as a typed value.

Single-metric alarms only: ``Metrics`` (metric math) and the anomaly-band operators are refused.
For Kiln's own namespaces a metric Kiln never publishes is refused too (AWS takes any name and
the alarm stays INSUFFICIENT_DATA for good; here that is surely a typo).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kiln.services.monitoring.alarms.evaluation import Comparison, MissingData, Rule
from kiln.services.monitoring.metrics.errors import (
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
)
from kiln.services.monitoring.metrics.published import unpublished
from kiln.services.monitoring.metrics.series import Series
from kiln.services.monitoring.metrics.statistics import STATISTICS, is_percentile

# What Kiln publishes in the namespaces it owns (metrics/counting.py, metrics/usage.py).
# CloudWatch: 10 s and 30 s are high resolution, else a multiple of 60 s.
_ALARM_PERIODS = (10, 30)


@dataclass(frozen=True, slots=True)
class AlarmDefinition:
    """One metric alarm as ``PutMetricAlarm`` set it."""

    name: str
    series: Series
    statistic: str
    """A statistic (``Sum``) or an extended one (``p99``)."""
    period: int
    rule: Rule
    actions_enabled: bool = True
    alarm_actions: tuple[str, ...] = ()
    ok_actions: tuple[str, ...] = ()
    insufficient_data_actions: tuple[str, ...] = ()
    description: str | None = None
    unit: str | None = None
    request: Mapping[str, Any] = field(default_factory=dict, compare=False)
    """The request as sent (AWS's names), for ``DescribeAlarms``."""

    def actions(self, state: str) -> tuple[str, ...]:
        """The action ARNs for entering ``state`` (none when actions are disabled)."""
        if not self.actions_enabled:
            return ()
        return {
            "ALARM": self.alarm_actions,
            "OK": self.ok_actions,
            "INSUFFICIENT_DATA": self.insufficient_data_actions,
        }[state]


def parse_alarm(request: Mapping[str, Any]) -> AlarmDefinition:
    """The definition ``request`` asks for; ``ValidationError`` subclasses when it is bad."""
    if request.get("Metrics") or request.get("ThresholdMetricId"):
        raise InvalidParameterValue(
            "Metric math alarms (Metrics, ThresholdMetricId) are not supported by Kiln; "
            "give Namespace, MetricName and Statistic."
        )
    for name in ("Namespace", "MetricName", "Period", "Threshold"):
        if request.get(name) is None:
            raise MissingParameter(f"The parameter {name} is required.")
    statistic = _statistic(request)
    period = int(request["Period"])
    if period not in _ALARM_PERIODS and period % 60 != 0:
        raise InvalidParameterValue(
            f"The parameter Period must be 10, 30 or a multiple of 60 (got {period})."
        )
    evaluation_periods = int(request["EvaluationPeriods"])
    to_alarm = int(request.get("DatapointsToAlarm") or evaluation_periods)
    if to_alarm > evaluation_periods:
        raise InvalidParameterCombination(
            f"DatapointsToAlarm ({to_alarm}) must be less than or equal to EvaluationPeriods "
            f"({evaluation_periods})."
        )
    if period * evaluation_periods > 86400:
        raise InvalidParameterValue(
            "The evaluation range (Period × EvaluationPeriods) must not exceed one day "
            f"(got {period * evaluation_periods} s)."
        )
    namespace, metric = request["Namespace"], request["MetricName"]
    _check_metric(namespace, metric)
    dimensions = {d["Name"]: d["Value"] for d in request.get("Dimensions", [])}
    return AlarmDefinition(
        name=request["AlarmName"],
        series=Series.of(namespace, metric, dimensions),
        statistic=statistic,
        period=period,
        rule=Rule(
            float(request["Threshold"]),
            _comparison(request["ComparisonOperator"]),
            evaluation_periods,
            to_alarm,
            _missing(request.get("TreatMissingData")),
        ),
        actions_enabled=bool(request.get("ActionsEnabled", True)),
        alarm_actions=tuple(request.get("AlarmActions", [])),
        ok_actions=tuple(request.get("OKActions", [])),
        insufficient_data_actions=tuple(request.get("InsufficientDataActions", [])),
        description=request.get("AlarmDescription"),
        unit=request.get("Unit"),
        request=dict(request),
    )


def _statistic(request: Mapping[str, Any]) -> str:
    plain, extended = request.get("Statistic"), request.get("ExtendedStatistic")
    if plain and extended:
        raise InvalidParameterCombination(
            "Exactly one of Statistic and ExtendedStatistic must be given, not both."
        )
    if plain:
        if plain not in STATISTICS:
            raise InvalidParameterValue(f"The parameter Statistic has an invalid value: {plain}.")
        return str(plain)
    if extended:
        if not is_percentile(extended):
            raise InvalidParameterValue(
                f"The parameter ExtendedStatistic has an invalid value: {extended} "
                "(Kiln answers percentiles, pNN.NN)."
            )
        return str(extended)
    raise MissingParameter("Exactly one of Statistic and ExtendedStatistic must be given.")


def _comparison(value: str) -> Comparison:
    try:
        return Comparison(value)
    except ValueError:
        raise InvalidParameterValue(
            f"The parameter ComparisonOperator has a value Kiln does not evaluate: {value} "
            f"(one of {', '.join(c.value for c in Comparison)}; anomaly bands need metric math)."
        ) from None


def _missing(value: str | None) -> MissingData:
    try:
        return MissingData(value or MissingData.MISSING)
    except ValueError:
        raise InvalidParameterValue(
            f"The parameter TreatMissingData has an invalid value: {value} "
            f"(one of {', '.join(m.value for m in MissingData)})."
        ) from None


def _check_metric(namespace: str, metric: str) -> None:
    known = unpublished(namespace, metric)
    if known is not None:
        raise InvalidParameterValue(
            f"Kiln publishes no metric {metric!r} in namespace {namespace!r} (it publishes "
            f"{', '.join(sorted(known))}): an alarm on it would never leave INSUFFICIENT_DATA."
        )
