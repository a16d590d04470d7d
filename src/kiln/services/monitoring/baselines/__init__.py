"""Data-quality baselines: SageMaker Model Monitor's statistics.json, constraints.json and
constraint_violations.json, and per-feature drift metrics.

Names load on first use: the analyzer needs numpy and scipy, which ``kiln server`` must not pay
for at start (a server that never runs a monitor never loads them).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from kiln.services.monitoring.baselines.analyzer import analyze_csv as analyze_csv
    from kiln.services.monitoring.baselines.constraints import Constraints as Constraints
    from kiln.services.monitoring.baselines.constraints import (
        suggest_constraints as suggest_constraints,
    )
    from kiln.services.monitoring.baselines.datasets import analyze_dataset as analyze_dataset
    from kiln.services.monitoring.baselines.drift import FeatureDrift as FeatureDrift
    from kiln.services.monitoring.baselines.drift import drift_metrics as drift_metrics
    from kiln.services.monitoring.baselines.formats import DatasetFormat as DatasetFormat
    from kiln.services.monitoring.baselines.formats import DatasetKind as DatasetKind
    from kiln.services.monitoring.baselines.monitoring_config import (
        CategoricalDriftMethod as CategoricalDriftMethod,
    )
    from kiln.services.monitoring.baselines.monitoring_config import (
        ComparisonMethod as ComparisonMethod,
    )
    from kiln.services.monitoring.baselines.monitoring_config import (
        MonitoringConfig as MonitoringConfig,
    )
    from kiln.services.monitoring.baselines.statistics import InferredType as InferredType
    from kiln.services.monitoring.baselines.statistics import Statistics as Statistics
    from kiln.services.monitoring.baselines.violations import CheckType as CheckType
    from kiln.services.monitoring.baselines.violations import (
        ConstraintViolations as ConstraintViolations,
    )
    from kiln.services.monitoring.baselines.violations import Violation as Violation
    from kiln.services.monitoring.baselines.violations import check_constraints as check_constraints

_HOMES = {
    "analyze_csv": "analyzer",
    "Constraints": "constraints",
    "suggest_constraints": "constraints",
    "analyze_dataset": "datasets",
    "FeatureDrift": "drift",
    "drift_metrics": "drift",
    "DatasetFormat": "formats",
    "DatasetKind": "formats",
    "CategoricalDriftMethod": "monitoring_config",
    "ComparisonMethod": "monitoring_config",
    "MonitoringConfig": "monitoring_config",
    "InferredType": "statistics",
    "Statistics": "statistics",
    "CheckType": "violations",
    "ConstraintViolations": "violations",
    "Violation": "violations",
    "check_constraints": "violations",
}

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


def __getattr__(name: str) -> object:
    """Import the submodule that defines ``name`` when it is first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
