"""Model quality statistics.json: metric values and their standard deviations, in SageMaker's
shape::

    {"version": 0.0,
     "dataset": {"item_count": 2096, "evaluation_time": "2026-01-01T00:00:00.000Z"},
     "binary_classification_metrics": {"confusion_matrix": {...},
                                       "recall": {"value": 1.0, "standard_deviation": "NaN"},
                                       ...}}

(``multiclass_classification_metrics`` / ``regression_metrics`` for the other problem types.)
AWS: a standard deviation is given only from ``MIN_SAMPLES_FOR_DEVIATION`` samples up, as the
spread of the metric over ``SUBSAMPLES`` random ``SUBSAMPLE_FRACTION`` subsamples; below that it
is the string ``"NaN"``, as is any value that is not a finite number.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kiln.services.monitoring.model_quality.classification import (
    binary_metrics,
    confusion_document,
    confusion_matrix,
    multiclass_metrics,
)
from kiln.services.monitoring.model_quality.curves import binary_curves
from kiln.services.monitoring.model_quality.regression import regression_metrics
from kiln.services.monitoring.model_quality.samples import ClassSamples, RegressionSamples

MIN_SAMPLES_FOR_DEVIATION = 200
SUBSAMPLES = 5
SUBSAMPLE_FRACTION = 0.8
# A fixed seed: the same window scored twice gives the same document.
SUBSAMPLE_SEED = 0

IntArray = npt.NDArray[np.int64]
MetricsOf = Callable[[IntArray], dict[str, float]]


@dataclass(frozen=True)
class MetricValue:
    """One metric over the window, and its spread over subsamples (NaN when not given)."""

    value: float
    standard_deviation: float

    def to_document(self) -> dict[str, Any]:
        """Return SageMaker's ``{"value": …, "standard_deviation": …}``."""
        return {
            "value": json_number(self.value),
            "standard_deviation": json_number(self.standard_deviation),
        }


def json_number(number: float) -> float | str:
    """``number`` as statistics.json writes it: non-finite numbers as ``"NaN"``."""
    return float(number) if np.isfinite(number) else "NaN"


def with_deviations(metrics_of: MetricsOf, n: int) -> dict[str, MetricValue]:
    """Each metric over all ``n`` samples, with its standard deviation over subsamples."""
    values = metrics_of(np.arange(n, dtype=np.int64))
    if n < MIN_SAMPLES_FOR_DEVIATION:
        return {name: MetricValue(v, float("nan")) for name, v in values.items()}
    rng = np.random.default_rng(SUBSAMPLE_SEED)
    size = int(n * SUBSAMPLE_FRACTION)
    runs = [metrics_of(np.sort(rng.choice(n, size=size, replace=False))) for _ in range(SUBSAMPLES)]
    return {
        name: MetricValue(v, float(np.std([run[name] for run in runs], ddof=1)))
        for name, v in values.items()
    }


def binary_document(samples: ClassSamples) -> dict[str, Any]:
    """``binary_classification_metrics``: matrix, rates, curves, areas and F-scores."""

    def metrics_of(rows: IntArray) -> dict[str, float]:
        actual, predicted = samples.actual[rows], samples.predicted[rows]
        curves = binary_curves(actual, samples.scores[rows])
        return _after_rates(binary_metrics(actual, predicted), curves.auc, curves.au_prc)

    values = with_deviations(metrics_of, samples.actual.size)
    curves = binary_curves(samples.actual, samples.scores)
    matrix = confusion_matrix(samples.actual, samples.predicted, 2)
    document: dict[str, Any] = {"confusion_matrix": confusion_document(matrix, samples.classes)}
    for name, metric in values.items():
        if name == "auc":
            document["receiver_operating_characteristic_curve"] = {
                "false_positive_rates": [json_number(x) for x in curves.false_positive_rates],
                "true_positive_rates": [json_number(x) for x in curves.true_positive_rates],
            }
            document["precision_recall_curve"] = {
                "precisions": [json_number(x) for x in curves.precisions],
                "recalls": [json_number(x) for x in curves.recalls],
            }
        document[name] = metric.to_document()
    return document


def multiclass_document(samples: ClassSamples) -> dict[str, Any]:
    """``multiclass_classification_metrics``: matrix, accuracy and weighted metrics."""
    n_classes = len(samples.classes)

    def metrics_of(rows: IntArray) -> dict[str, float]:
        return multiclass_metrics(samples.actual[rows], samples.predicted[rows], n_classes)

    values = with_deviations(metrics_of, samples.actual.size)
    matrix = confusion_matrix(samples.actual, samples.predicted, n_classes)
    document: dict[str, Any] = {"confusion_matrix": confusion_document(matrix, samples.classes)}
    return document | {name: metric.to_document() for name, metric in values.items()}


def regression_document(samples: RegressionSamples) -> dict[str, Any]:
    """``regression_metrics``: mae, mse, rmse and r2."""

    def metrics_of(rows: IntArray) -> dict[str, float]:
        return regression_metrics(samples.actual[rows], samples.predicted[rows])

    values = with_deviations(metrics_of, samples.actual.size)
    return {name: metric.to_document() for name, metric in values.items()}


def statistics_document(
    section: str, metrics: Mapping[str, Any], item_count: int, evaluated_at: float
) -> dict[str, Any]:
    """The whole statistics.json: version, dataset and the problem type's metrics section."""
    return {
        "version": 0.0,
        "dataset": {"item_count": item_count, "evaluation_time": evaluation_time(evaluated_at)},
        section: dict(metrics),
    }


def evaluation_time(epoch_seconds: float) -> str:
    """ISO-8601 UTC with milliseconds: ``2026-01-01T00:00:00.000Z``."""
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch_seconds))
    return f"{whole}.{int(epoch_seconds % 1 * 1000):03d}Z"


def _after_rates(metrics: dict[str, float], auc: float, au_prc: float) -> dict[str, float]:
    # AWS's example lists the curves and auc between the rates and the F-scores; Kiln puts
    # au_prc (a metric the container publishes) right after auc.
    ordered: dict[str, float] = {}
    for name, value in metrics.items():
        ordered[name] = value
        if name == "false_negative_rate":
            ordered |= {"auc": auc, "au_prc": au_prc}
    return ordered
