"""One window's model quality: join, score, check (what ``evaluate_model_quality`` does)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from kiln.services.monitoring.baselines.violations import ConstraintViolations
from kiln.services.monitoring.model_quality import constraints as _constraints
from kiln.services.monitoring.model_quality.config import ModelQualityConfig, ProblemType
from kiln.services.monitoring.model_quality.constraints import InvalidConstraints
from kiln.services.monitoring.model_quality.join import JoinCounts, join
from kiln.services.monitoring.model_quality.records import read_captures, read_labels
from kiln.services.monitoring.model_quality.scoring import metric_values, score
from kiln.services.monitoring.model_quality.statistics import statistics_document


@dataclass(frozen=True)
class QualityReport:
    """One window's model quality: its statistics.json, violations and headline metrics."""

    statistics: Mapping[str, Any]
    violations: ConstraintViolations
    metrics: Mapping[str, float]
    matched: int
    malformed_lines: int
    counts: JoinCounts = JoinCounts()

    @property
    def is_empty(self) -> bool:
        """True when no captured prediction had a readable label: nothing was scored."""
        return self.matched == 0


def evaluate_model_quality(
    capture_files: Sequence[Path],
    ground_truth_files: Sequence[Path],
    config: ModelQualityConfig,
    constraints: Mapping[str, Any] | None,
) -> QualityReport:
    """Join captures with ground truth and score them (constraints: a baseline's document).

    Raises ``InvalidConstraints`` when ``constraints`` lacks the problem type's section or
    holds a bound that is not ``{"threshold": number, "comparison_operator": …}``.
    """
    bounds = (
        _constraints.read_constraints(config.problem_type.section, constraints)
        if constraints is not None
        else ()
    )
    joined = join(read_captures(capture_files), read_labels(ground_truth_files))
    scored = score(joined.pairs, config)
    counts = replace(joined.counts, matched=scored.item_count, unreadable=scored.unreadable)
    values = scored.values
    return QualityReport(
        statistics=statistics_document(
            f"{scored.section}_metrics", scored.document, scored.item_count, time.time()
        ),
        violations=_constraints.check_metrics(values, bounds),
        metrics={name: metric.value for name, metric in values.items()},
        matched=scored.item_count,
        malformed_lines=counts.malformed_lines + counts.unreadable,
        counts=counts,
    )


def suggest_constraints(statistics: Mapping[str, Any]) -> dict[str, Any]:
    """The constraints.json a model quality baseline's statistics.json suggests."""
    for problem in ProblemType:
        section = statistics.get(f"{problem.section}_metrics")
        if isinstance(section, Mapping):
            return _constraints.suggest_constraints(problem.section, metric_values(section))
    raise InvalidConstraints(
        "the statistics hold no *_classification_metrics or regression_metrics"
    )
