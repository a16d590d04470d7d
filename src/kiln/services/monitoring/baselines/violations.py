"""constraint_violations.json: a window of data compared with a baseline's constraints.

Shape (SageMaker's "Schema for Violations"): ``violations[]`` with ``feature_name``,
``constraint_check_type`` and ``description``. The checks, as Kiln runs them:

- ``missing_column_check`` / ``extra_column_check`` — a feature of the constraints absent from
  the window, or one the constraints do not name; one violation per feature.
- ``data_type_check`` — the share of a feature's present values of the baseline's type (integral
  values count as fractional ones; any value counts as a string) is below
  ``datatype_check_threshold``.
- ``completeness_check`` — the share of rows where the feature is present is below the feature's
  ``completeness``.
- ``non_negative_check`` (Kiln's name: SageMaker's list has no type for it) — a feature whose
  constraint says ``is_non_negative`` has a negative value.
- ``categorical_values_check`` — the share of a string feature's values inside
  ``string_constraints.domains`` is below ``domain_content_threshold``.
- ``baseline_drift_check`` — numeric: the L-infinity distance between the sketches' CDFs,
  Robust or Simple per ``comparison_method``, above ``comparison_threshold``; categorical: the
  L-infinity distance between value shares above ``categorical_comparison_threshold``, or with
  ``categorical_drift_method = ChiSquared`` the chi-squared test's p-value below it (see
  ``drift.py`` and ``distances.py``).

``evaluate_constraints = Disabled`` turns off every check but the drift one;
``perform_comparison = Disabled`` turns off the drift check. An empty window (no rows) has no
completeness, type, or drift violations: there is nothing to measure.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from kiln.services.monitoring.baselines import distances
from kiln.services.monitoring.baselines.constraints import Constraints, FeatureConstraints
from kiln.services.monitoring.baselines.drift import feature_drift, value_count_vectors
from kiln.services.monitoring.baselines.monitoring_config import (
    CategoricalDriftMethod,
    MonitoringConfig,
)
from kiln.services.monitoring.baselines.statistics import (
    FeatureStatistics,
    InferredType,
    Statistics,
    StringStatistics,
    TypeCounts,
)


class CheckType(enum.StrEnum):
    """SageMaker's ``constraint_check_type`` values, and Kiln's one addition."""

    DATA_TYPE = "data_type_check"
    COMPLETENESS = "completeness_check"
    BASELINE_DRIFT = "baseline_drift_check"
    MISSING_COLUMN = "missing_column_check"
    EXTRA_COLUMN = "extra_column_check"
    CATEGORICAL_VALUES = "categorical_values_check"
    # Model quality: SageMaker writes the failed comparison itself as the check type.
    LESS_THAN_THRESHOLD = "LessThanThreshold"
    LESS_THAN_OR_EQUAL_TO_THRESHOLD = "LessThanOrEqualToThreshold"
    GREATER_THAN_THRESHOLD = "GreaterThanThreshold"
    GREATER_THAN_OR_EQUAL_TO_THRESHOLD = "GreaterThanOrEqualToThreshold"
    NON_NEGATIVE = "non_negative_check"


@dataclass(frozen=True)
class Violation:
    """One failed check of one feature."""

    feature_name: str
    check: CheckType
    description: str

    def to_document(self) -> dict[str, Any]:
        """Return one entry of SageMaker's ``violations`` list."""
        return {
            "feature_name": self.feature_name,
            "constraint_check_type": str(self.check),
            "description": self.description,
        }


@dataclass(frozen=True)
class ConstraintViolations:
    """Every violation a window of data has against a baseline."""

    violations: tuple[Violation, ...]

    def to_document(self) -> dict[str, Any]:
        """Return constraint_violations.json as a dict, in SageMaker's shape."""
        return {"violations": [v.to_document() for v in self.violations]}


def check_constraints(
    current: Statistics, baseline: Statistics, constraints: Constraints
) -> ConstraintViolations:
    """Compare ``current`` with the baseline's statistics and constraints."""
    config = constraints.monitoring_config
    violations: list[Violation] = []
    if config.evaluate_constraints:
        violations += _column_checks(current, constraints)
    for expected in constraints.features:
        feature = current.feature(expected.name)
        if feature is None or feature.num_present + feature.num_missing == 0:
            continue
        if config.evaluate_constraints:
            violations += _feature_checks(feature, expected, config)
        base = baseline.feature(expected.name)
        if config.perform_comparison and base is not None:
            violations += _drift_check(feature, base, config)
    return ConstraintViolations(tuple(violations))


def _column_checks(current: Statistics, constraints: Constraints) -> Iterator[Violation]:
    expected = [f.name for f in constraints.features]
    observed = [f.name for f in current.features]
    counts = (
        f"Number of columns in current dataset: {len(observed)}, "
        f"Number of columns in baseline constraints: {len(expected)}"
    )
    for name in expected:
        if name not in observed:
            yield Violation(
                name,
                CheckType.MISSING_COLUMN,
                f"There are missing columns in current dataset. {counts}",
            )
    for name in observed:
        if name not in expected:
            yield Violation(
                name,
                CheckType.EXTRA_COLUMN,
                f"There are extra columns in current dataset. {counts}",
            )


def _feature_checks(
    feature: FeatureStatistics, expected: FeatureConstraints, config: MonitoringConfig
) -> Iterator[Violation]:
    yield from _type_check(feature, expected.inferred_type, config.datatype_check_threshold)
    if feature.completeness < expected.completeness:
        yield Violation(
            feature.name,
            CheckType.COMPLETENESS,
            "Data completeness requirement is not met. "
            f"Expected completeness: {_percent(expected.completeness)}. "
            f"Observed: Only {_percent(feature.completeness)} of data is complete.",
        )
    if expected.is_non_negative and feature.numerical and feature.numerical.min < 0:
        yield Violation(
            feature.name,
            CheckType.NON_NEGATIVE,
            "Non-negativity requirement is not met. "
            f"Observed: minimum value {feature.numerical.min} is negative.",
        )
    if expected.domains is not None and feature.string is not None:
        yield from _domain_check(
            feature.name, feature.string, expected.domains, config.domain_content_threshold
        )


def type_counts(feature: FeatureStatistics) -> TypeCounts:
    """The feature's counts by type, or (read from a document) all of its inferred type."""
    if feature.type_counts is not None:
        return feature.type_counts
    n = feature.num_present
    kind = feature.inferred_type
    return TypeCounts(
        integral=n if kind is InferredType.INTEGRAL else 0,
        fractional=n if kind is InferredType.FRACTIONAL else 0,
        text=n if kind is InferredType.STRING else 0,
    )


def _type_check(
    feature: FeatureStatistics, expected: InferredType, threshold: float
) -> Iterator[Violation]:
    if expected is InferredType.UNKNOWN or feature.num_present == 0:
        return
    share = type_counts(feature).matching(expected) / feature.num_present
    if share < threshold:
        yield Violation(
            feature.name,
            CheckType.DATA_TYPE,
            "Data type match requirement is not met. "
            f"Expected data type: {expected}, Expected match: {_percent(threshold)}. "
            f"Observed: Only {_percent(share)} of data is {expected}.",
        )


def _domain_check(
    name: str, strings: StringStatistics, domains: tuple[str, ...], threshold: float
) -> Iterator[Violation]:
    known = set(domains)
    inside = sum(count for value, count in strings.value_counts if value in known)
    share = inside / strings.num_present if strings.num_present else 1.0
    if share < threshold:
        yield Violation(
            name,
            CheckType.CATEGORICAL_VALUES,
            "Categorical value match requirement is not met. "
            f"Expected match: {_percent(threshold)}. "
            f"Observed: Only {_percent(share)} of data is within the baseline domain.",
        )


def _drift_check(
    feature: FeatureStatistics, base: FeatureStatistics, config: MonitoringConfig
) -> Iterator[Violation]:
    if (
        feature.string is not None
        and base.string is not None
        and config.categorical_drift_method is CategoricalDriftMethod.CHI_SQUARED
    ):
        p_value = distances.chi_squared_p_value(*value_count_vectors(base.string, feature.string))
        if p_value < config.categorical_comparison_threshold:
            yield Violation(
                feature.name,
                CheckType.BASELINE_DRIFT,
                f"Chi-squared test p-value: {p_value:.6g} is below threshold: "
                f"{config.categorical_comparison_threshold}",
            )
        return
    drift = feature_drift(feature, base, config.comparison_method)
    if drift is None:
        return
    threshold = (
        config.comparison_threshold
        if feature.numerical is not None
        else config.categorical_comparison_threshold
    )
    if drift.baseline_drift > threshold:
        yield Violation(
            feature.name,
            CheckType.BASELINE_DRIFT,
            f"Baseline drift distance: {drift.baseline_drift} exceeds threshold: {threshold}",
        )


def _percent(share: float) -> str:
    return f"{share * 100:.1f}%"
