"""Model quality: captured predictions joined with ground truth by inference id, scored as
SageMaker Model Monitor's model quality container scores them."""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.services.monitoring.baselines.violations import ConstraintViolations


class ProblemType(enum.StrEnum):
    """SageMaker's ``ModelQualityAppSpecification.ProblemType``."""

    BINARY_CLASSIFICATION = "BinaryClassification"
    MULTICLASS_CLASSIFICATION = "MulticlassClassification"
    REGRESSION = "Regression"


@dataclass(frozen=True)
class ModelQualityConfig:
    """Where in a captured answer the prediction is, and what kind of model made it."""

    problem_type: ProblemType
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float | None = None


@dataclass(frozen=True)
class QualityReport:
    """One window's model quality: its statistics.json, violations and headline metrics."""

    statistics: Mapping[str, Any]
    violations: ConstraintViolations
    metrics: Mapping[str, float]
    matched: int
    malformed_lines: int


def evaluate_model_quality(
    capture_files: Sequence[Path],
    ground_truth_files: Sequence[Path],
    config: ModelQualityConfig,
    constraints: Mapping[str, Any] | None,
) -> QualityReport:
    """Join captures with ground truth and score them (constraints: a baseline's document)."""
    raise NotImplementedError("model quality is being built")
