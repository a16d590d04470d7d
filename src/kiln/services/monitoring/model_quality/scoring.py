"""Joined pairs scored for one problem type: the ``<section>_metrics`` object and its values."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kiln.services.monitoring.model_quality.config import ModelQualityConfig, ProblemType
from kiln.services.monitoring.model_quality.join import Pair
from kiln.services.monitoring.model_quality.samples import (
    binary_samples,
    multiclass_samples,
    regression_samples,
)
from kiln.services.monitoring.model_quality.statistics import (
    MetricValue,
    binary_document,
    multiclass_document,
    regression_document,
)


@dataclass(frozen=True)
class Scored:
    """The metrics section of statistics.json, and how many pairs it scored or could not."""

    section: str
    document: dict[str, Any]
    item_count: int
    unreadable: int

    @property
    def values(self) -> dict[str, MetricValue]:
        """Every scalar metric of the section, by name."""
        return metric_values(self.document)


def score(pairs: Sequence[Pair], config: ModelQualityConfig) -> Scored:
    """Score ``pairs`` as ``config`` says; an empty window gives an empty section."""
    section = config.problem_type.section
    if config.problem_type is ProblemType.REGRESSION:
        numbers = regression_samples(pairs, config.inference_attribute)
        count = numbers.actual.size
        document = regression_document(numbers) if count else {}
        return Scored(section, document, count, numbers.unreadable)
    if config.problem_type is ProblemType.BINARY_CLASSIFICATION:
        classes = binary_samples(
            pairs,
            config.inference_attribute,
            config.probability_attribute,
            config.probability_threshold,
        )
        count = classes.actual.size
        return Scored(section, binary_document(classes) if count else {}, count, classes.unreadable)
    classes = multiclass_samples(pairs, config.inference_attribute)
    count = classes.actual.size
    return Scored(section, multiclass_document(classes) if count else {}, count, classes.unreadable)


def metric_values(document: Mapping[str, Any]) -> dict[str, MetricValue]:
    """The ``{"value", "standard_deviation"}`` entries of a metrics section, as numbers."""
    return {
        name: MetricValue(_number(entry["value"]), _number(entry.get("standard_deviation")))
        for name, entry in document.items()
        if isinstance(entry, Mapping) and "value" in entry
    }


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return float("nan")
