"""Data-quality baselines: SageMaker Model Monitor's statistics.json and constraints.json."""

from kiln.services.monitoring.baselines.analyzer import analyze_csv
from kiln.services.monitoring.baselines.constraints import Constraints, suggest_constraints
from kiln.services.monitoring.baselines.statistics import InferredType, Statistics

__all__ = ["Constraints", "InferredType", "Statistics", "analyze_csv", "suggest_constraints"]
