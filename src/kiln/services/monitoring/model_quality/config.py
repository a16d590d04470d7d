"""What a model quality job scores: the problem type and where the prediction is."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class ProblemType(enum.StrEnum):
    """SageMaker's ``ModelQualityAppSpecification.ProblemType``."""

    BINARY_CLASSIFICATION = "BinaryClassification"
    MULTICLASS_CLASSIFICATION = "MulticlassClassification"
    REGRESSION = "Regression"

    @property
    def section(self) -> str:
        """The stem of this problem's keys: ``<section>_metrics``, ``<section>_constraints``."""
        return _SECTIONS[self]


_SECTIONS = {
    ProblemType.BINARY_CLASSIFICATION: "binary_classification",
    ProblemType.MULTICLASS_CLASSIFICATION: "multiclass_classification",
    ProblemType.REGRESSION: "regression",
}


@dataclass(frozen=True)
class ModelQualityConfig:
    """Where in a captured answer the prediction is, and what kind of model made it."""

    problem_type: ProblemType
    inference_attribute: str | None = None
    probability_attribute: str | None = None
    probability_threshold: float | None = None
