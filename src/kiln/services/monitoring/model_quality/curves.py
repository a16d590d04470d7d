"""ROC and precision-recall curves and their areas, as SageMaker's model quality container
writes them.

Its curves follow Apache Spark's ``BinaryClassificationMetrics`` (the shape of AWS's example
output shows it): one point per distinct score, taken as a threshold from the highest down; the
ROC curve starts at (0, 0) and ends at (1, 1); the PR curve starts at recall 0 with the
precision of the first threshold. Areas are trapezoidal sums over those points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Curves:
    """The ROC and PR points of one set of scores, and the areas under them."""

    false_positive_rates: FloatArray
    true_positive_rates: FloatArray
    precisions: FloatArray
    recalls: FloatArray

    @property
    def auc(self) -> float:
        """Area under the ROC curve."""
        return _area(self.false_positive_rates, self.true_positive_rates)

    @property
    def au_prc(self) -> float:
        """Area under the precision-recall curve."""
        return _area(self.recalls, self.precisions)


def binary_curves(actual: IntArray, scores: FloatArray) -> Curves:
    """The curves of ``scores`` against ``actual`` labels in {0, 1}."""
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_actual = scores[order], actual[order]
    # The last index of each run of equal scores: every sample at or above that threshold.
    ends = np.flatnonzero(np.diff(sorted_scores, append=-np.inf) != 0)
    true_positives = np.cumsum(sorted_actual)[ends].astype(np.float64)
    false_positives = (ends + 1) - true_positives
    positives, negatives = float(actual.sum()), float(actual.size - actual.sum())
    with np.errstate(divide="ignore", invalid="ignore"):
        tpr = true_positives / positives
        fpr = false_positives / negatives
        precision = true_positives / (true_positives + false_positives)
    first_precision = precision[:1] if precision.size else np.array([np.nan])
    return Curves(
        false_positive_rates=np.concatenate([[0.0], fpr, [1.0]]),
        true_positive_rates=np.concatenate([[0.0], tpr, [1.0]]),
        precisions=np.concatenate([first_precision, precision]),
        recalls=np.concatenate([[0.0], tpr]),
    )


def _area(x: FloatArray, y: FloatArray) -> float:
    if x.size < 2 or not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        return float("nan")
    return float(np.sum(np.diff(x) * (y[1:] + y[:-1]) / 2.0))
