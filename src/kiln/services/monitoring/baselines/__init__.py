"""Data-quality baselines: SageMaker Model Monitor's statistics.json, constraints.json and
constraint_violations.json, and per-feature drift metrics."""

from kiln.services.monitoring.baselines.analyzer import analyze_csv
from kiln.services.monitoring.baselines.constraints import Constraints, suggest_constraints
from kiln.services.monitoring.baselines.datasets import DatasetFormat, DatasetKind, analyze_dataset
from kiln.services.monitoring.baselines.drift import FeatureDrift, drift_metrics
from kiln.services.monitoring.baselines.monitoring_config import (
    CategoricalDriftMethod,
    ComparisonMethod,
    MonitoringConfig,
)
from kiln.services.monitoring.baselines.statistics import InferredType, Statistics
from kiln.services.monitoring.baselines.violations import (
    CheckType,
    ConstraintViolations,
    Violation,
    check_constraints,
)

__all__ = [
    "CategoricalDriftMethod",
    "CheckType",
    "ComparisonMethod",
    "ConstraintViolations",
    "Constraints",
    "DatasetFormat",
    "DatasetKind",
    "FeatureDrift",
    "InferredType",
    "MonitoringConfig",
    "Statistics",
    "Violation",
    "analyze_csv",
    "analyze_dataset",
    "check_constraints",
    "drift_metrics",
    "suggest_constraints",
]
