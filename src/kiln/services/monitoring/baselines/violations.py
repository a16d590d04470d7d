"""constraint_violations.json: a window of data compared with a baseline's constraints.

Shape (SageMaker's "Schema for Violations"): ``violations[]`` with ``feature_name``,
``constraint_check_type`` and ``description``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from kiln.services.monitoring.baselines.constraints import Constraints
from kiln.services.monitoring.baselines.statistics import Statistics


class CheckType(enum.StrEnum):
    """SageMaker's ``constraint_check_type`` values."""

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
    expected = {f.name for f in constraints.features}
    present = {f.name for f in current.features}
    missing = sorted(expected - present)
    return ConstraintViolations(
        tuple(
            Violation(name, CheckType.MISSING_COLUMN, f"There are missing columns: {name}")
            for name in missing
        )
    )
