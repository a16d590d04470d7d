"""constraints.json's ``monitoring_config``: which checks run and their thresholds, typed.

SageMaker's "Schema for Constraints" documents the fields; the defaults are what its analyzer
writes into a suggested constraints.json. ``emit_metrics`` is kept for the executions that
publish metrics; the analyzer itself only reads the rest.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, TypeVar

from kiln.services.monitoring.baselines.documents import (
    as_float,
    as_mapping,
    as_switch,
    as_text,
    switch,
)

_Choice = TypeVar("_Choice", bound=enum.StrEnum)


class ComparisonMethod(enum.StrEnum):
    """How numeric distributions are compared (Deequ's L-infinity distance, raw or corrected)."""

    ROBUST = "Robust"
    SIMPLE = "Simple"


class CategoricalDriftMethod(enum.StrEnum):
    """How categorical distributions are compared."""

    LINFINITY = "LInfinity"
    CHI_SQUARED = "ChiSquared"


@dataclass(frozen=True)
class MonitoringConfig:
    """The switches and thresholds the checks of a monitoring execution honour."""

    evaluate_constraints: bool = True
    emit_metrics: bool = True
    datatype_check_threshold: float = 1.0
    domain_content_threshold: float = 1.0
    perform_comparison: bool = True
    comparison_threshold: float = 0.1
    comparison_method: ComparisonMethod = ComparisonMethod.ROBUST
    categorical_comparison_threshold: float = 0.1
    categorical_drift_method: CategoricalDriftMethod = CategoricalDriftMethod.LINFINITY

    def to_document(self) -> dict[str, Any]:
        """Return the ``monitoring_config`` object."""
        return {
            "evaluate_constraints": switch(self.evaluate_constraints),
            "emit_metrics": switch(self.emit_metrics),
            "datatype_check_threshold": self.datatype_check_threshold,
            "domain_content_threshold": self.domain_content_threshold,
            "distribution_constraints": {
                "perform_comparison": switch(self.perform_comparison),
                "comparison_threshold": self.comparison_threshold,
                "comparison_method": str(self.comparison_method),
                "categorical_comparison_threshold": self.categorical_comparison_threshold,
                "categorical_drift_method": str(self.categorical_drift_method),
            },
        }

    @classmethod
    def from_document(cls, document: Any) -> MonitoringConfig:
        """Read ``monitoring_config``; a field left out keeps SageMaker's default."""
        config = as_mapping(document, "monitoring_config")
        where = "monitoring_config.distribution_constraints"
        distribution = as_mapping(config.get("distribution_constraints", {}), where)
        default = cls()
        return cls(
            evaluate_constraints=_switch(config, "evaluate_constraints", default),
            emit_metrics=_switch(config, "emit_metrics", default),
            datatype_check_threshold=_number(config, "datatype_check_threshold", default),
            domain_content_threshold=_number(config, "domain_content_threshold", default),
            perform_comparison=_switch(distribution, "perform_comparison", default),
            comparison_threshold=_number(distribution, "comparison_threshold", default),
            comparison_method=_choice(
                distribution, "comparison_method", ComparisonMethod, default.comparison_method
            ),
            categorical_comparison_threshold=_number(
                distribution, "categorical_comparison_threshold", default
            ),
            categorical_drift_method=_choice(
                distribution,
                "categorical_drift_method",
                CategoricalDriftMethod,
                default.categorical_drift_method,
            ),
        )


def _switch(fields: Any, name: str, default: MonitoringConfig) -> bool:
    if name not in fields:
        return bool(getattr(default, name))
    return as_switch(fields[name], f"monitoring_config.{name}")


def _number(fields: Any, name: str, default: MonitoringConfig) -> float:
    if name not in fields:
        return float(getattr(default, name))
    return as_float(fields[name], f"monitoring_config.{name}")


def _choice(fields: Any, name: str, kind: type[_Choice], default: _Choice) -> _Choice:
    if name not in fields:
        return default
    text = as_text(fields[name], f"monitoring_config.{name}")
    try:
        return kind(text)
    except ValueError:
        allowed = ", ".join(repr(str(m)) for m in kind)
        message = f"monitoring_config.{name}: expected one of {allowed}, got {text!r}"
        raise ValueError(message) from None
