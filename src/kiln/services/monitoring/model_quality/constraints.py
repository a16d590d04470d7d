"""Model quality constraints.json suggested from a baseline, and a window checked against it.

Shape (AWS's model quality baseline output)::

    {"version": 0.0,
     "binary_classification_constraints": {
        "recall": {"threshold": 0.78, "comparison_operator": "LessThanThreshold"}, ...}}

A suggested threshold is the baseline's own value; a metric where higher is better is violated
when the window's value is ``LessThanThreshold``, an error rate when it is
``GreaterThanThreshold``. A violation names the metric and the comparison that failed, as the
model quality container writes them::

    {"constraint_check_type": "LessThanThreshold", "metric_name": "auc",
     "description": "Metric auc with 0.71 +/- 0.005 was LessThanThreshold 0.95"}
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kiln.services.monitoring.baselines.violations import (
    CheckType,
    ConstraintViolations,
    Violation,
)
from kiln.services.monitoring.model_quality.statistics import MetricValue

_HIGHER_IS_BETTER = CheckType.LESS_THAN_THRESHOLD
_LOWER_IS_BETTER = CheckType.GREATER_THAN_THRESHOLD

# The metrics a baseline constrains, per section, and which way each must not move.
SUGGESTED: dict[str, dict[str, CheckType]] = {
    "binary_classification": {
        "recall": _HIGHER_IS_BETTER,
        "precision": _HIGHER_IS_BETTER,
        "accuracy": _HIGHER_IS_BETTER,
        "true_positive_rate": _HIGHER_IS_BETTER,
        "true_negative_rate": _HIGHER_IS_BETTER,
        "false_positive_rate": _LOWER_IS_BETTER,
        "false_negative_rate": _LOWER_IS_BETTER,
        "auc": _HIGHER_IS_BETTER,
        "au_prc": _HIGHER_IS_BETTER,
        "f0_5": _HIGHER_IS_BETTER,
        "f1": _HIGHER_IS_BETTER,
        "f2": _HIGHER_IS_BETTER,
    },
    "multiclass_classification": {
        "accuracy": _HIGHER_IS_BETTER,
        "weighted_recall": _HIGHER_IS_BETTER,
        "weighted_precision": _HIGHER_IS_BETTER,
        "weighted_f0_5": _HIGHER_IS_BETTER,
        "weighted_f1": _HIGHER_IS_BETTER,
        "weighted_f2": _HIGHER_IS_BETTER,
    },
    "regression": {
        "mae": _LOWER_IS_BETTER,
        "mse": _LOWER_IS_BETTER,
        "rmse": _LOWER_IS_BETTER,
        "r2": _HIGHER_IS_BETTER,
    },
}

_COMPARISONS: dict[CheckType, Callable[[float, float], bool]] = {
    CheckType.LESS_THAN_THRESHOLD: operator.lt,
    CheckType.LESS_THAN_OR_EQUAL_TO_THRESHOLD: operator.le,
    CheckType.GREATER_THAN_THRESHOLD: operator.gt,
    CheckType.GREATER_THAN_OR_EQUAL_TO_THRESHOLD: operator.ge,
}


class InvalidConstraints(ValueError):
    """A model quality constraints document that cannot be checked against."""


@dataclass(frozen=True)
class MetricConstraint:
    """One metric's bound: the window violates it when ``value <operator> threshold``."""

    metric_name: str
    threshold: float
    comparison: CheckType


@dataclass(frozen=True)
class MetricViolation(Violation):
    """A model quality violation: it names a metric, not a feature."""

    def to_document(self) -> dict[str, Any]:
        """Return one entry of the model quality container's ``violations`` list."""
        return {
            "constraint_check_type": str(self.check),
            "description": self.description,
            "metric_name": self.feature_name,
        }


def suggest_constraints(section: str, metrics: Mapping[str, MetricValue]) -> dict[str, Any]:
    """The constraints.json a baseline with ``metrics`` suggests (``section``: the problem's)."""
    bounds = {
        name: {"threshold": metrics[name].value, "comparison_operator": str(comparison)}
        for name, comparison in SUGGESTED[section].items()
        if name in metrics and math.isfinite(metrics[name].value)
    }
    return {"version": 0.0, f"{section}_constraints": bounds}


def read_constraints(section: str, document: Mapping[str, Any]) -> tuple[MetricConstraint, ...]:
    """The bounds of ``section`` in a constraints document, checked for shape."""
    key = f"{section}_constraints"
    bounds = document.get(key)
    if not isinstance(bounds, Mapping):
        raise InvalidConstraints(f"the baseline constraints have no {key!r} object")
    return tuple(_constraint(name, bound) for name, bound in bounds.items())


def check_metrics(
    metrics: Mapping[str, MetricValue], constraints: tuple[MetricConstraint, ...]
) -> ConstraintViolations:
    """The violations of ``constraints`` by a window's ``metrics`` (missing or NaN: skipped)."""
    violations = []
    for constraint in constraints:
        metric = metrics.get(constraint.metric_name)
        if metric is None or not math.isfinite(metric.value):
            continue
        if _COMPARISONS[constraint.comparison](metric.value, constraint.threshold):
            violations.append(
                MetricViolation(
                    constraint.metric_name, constraint.comparison, _describe(constraint, metric)
                )
            )
    return ConstraintViolations(tuple(violations))


def _constraint(name: str, bound: Any) -> MetricConstraint:
    if not isinstance(bound, Mapping):
        raise InvalidConstraints(f"the constraint on {name!r} is not an object: {bound!r}")
    threshold = bound.get("threshold")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise InvalidConstraints(f"the constraint on {name!r} has threshold {threshold!r}")
    return MetricConstraint(name, float(threshold), _comparison(name, bound))


def _comparison(name: str, bound: Mapping[str, Any]) -> CheckType:
    given = bound.get("comparison_operator")
    for comparison in _COMPARISONS:
        if given == str(comparison):
            return comparison
    raise InvalidConstraints(
        f"the constraint on {name!r} has comparison_operator {given!r}; expected one of"
        f" {', '.join(str(c) for c in _COMPARISONS)}"
    )


def _describe(constraint: MetricConstraint, metric: MetricValue) -> str:
    spread = f" +/- {metric.standard_deviation}" if math.isfinite(metric.standard_deviation) else ""
    return (
        f"Metric {constraint.metric_name} with {metric.value}{spread} was"
        f" {constraint.comparison} {constraint.threshold}"
    )
