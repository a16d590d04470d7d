"""Classification metrics with the names, order and conventions of SageMaker's model quality
container (``model-monitor-model-quality-metrics.md``).

Confusion matrices are keyed actual class → predicted class (AWS's examples only add up so).
Conventions where a ratio has no denominator (Spark's ``MulticlassMetrics``, which the container
is built on): precision is 0 when nothing was predicted positive; rates over an empty class
(recall with no positives, false positive rate with no negatives) are NaN; an F-score is 0 when
precision and recall are both 0. The true negative and false negative rates are the complements
of the false positive and true positive rates, as AWS's example prints them.

The "best constant classifier" always predicts the positive class (binary) or the greatest class
(multiclass): the one reading that fits both of AWS's example outputs (see docs/model-quality.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]

F_BETAS = (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0))


def confusion_matrix(actual: IntArray, predicted: IntArray, n_classes: int) -> IntArray:
    """Counts indexed [actual class, predicted class]."""
    flat = np.bincount(actual * n_classes + predicted, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes).astype(np.int64)


def confusion_document(matrix: IntArray, classes: tuple[str, ...]) -> dict[str, dict[str, int]]:
    """SageMaker's ``confusion_matrix`` object: {actual: {predicted: count}}."""
    return {
        actual: {predicted: int(matrix[i, j]) for j, predicted in enumerate(classes)}
        for i, actual in enumerate(classes)
    }


def f_beta(precision: float, recall: float, beta: float) -> float:
    """The F-beta score of one precision and recall (0 when both are 0)."""
    if np.isnan(precision) or np.isnan(recall):
        return float("nan")
    denominator = beta * beta * precision + recall
    if denominator == 0:
        return 0.0
    return float((1 + beta * beta) * precision * recall / denominator)


def binary_metrics(actual: IntArray, predicted: IntArray) -> dict[str, float]:
    """The threshold metrics of binary predictions, in SageMaker's order (no curves, no AUC)."""
    (tn, fp), (fn, tp) = confusion_matrix(actual, predicted, 2).tolist()
    n, positives = tn + fp + fn + tp, fn + tp
    recall = _ratio(tp, positives)
    precision = _ratio(tp, tp + fp, empty=0.0)
    false_positive_rate = _ratio(fp, tn + fp)
    constant_precision = _ratio(positives, n)
    constant_recall = _ratio(positives, positives)
    metrics = {
        "recall": recall,
        "precision": precision,
        "accuracy": _ratio(tp + tn, n),
        "recall_best_constant_classifier": constant_recall,
        "precision_best_constant_classifier": constant_precision,
        "accuracy_best_constant_classifier": constant_precision,
        "true_positive_rate": recall,
        "true_negative_rate": 1.0 - false_positive_rate,
        "false_positive_rate": false_positive_rate,
        "false_negative_rate": 1.0 - recall,
    }
    metrics |= {name: f_beta(precision, recall, beta) for name, beta in F_BETAS}
    metrics |= {
        f"{name}_best_constant_classifier": f_beta(constant_precision, constant_recall, beta)
        for name, beta in F_BETAS
    }
    return metrics


def multiclass_metrics(actual: IntArray, predicted: IntArray, n_classes: int) -> dict[str, float]:
    """Accuracy and support-weighted metrics, and the best constant classifier's."""
    matrix = confusion_matrix(actual, predicted, n_classes)
    metrics = {"accuracy": _ratio(int(np.trace(matrix)), int(matrix.sum()))}
    metrics |= _weighted(matrix, prefix="weighted_", suffix="")
    constant = np.zeros_like(matrix)
    constant[:, n_classes - 1] = matrix.sum(axis=1)
    metrics["accuracy_best_constant_classifier"] = _ratio(
        int(np.trace(constant)), int(constant.sum())
    )
    metrics |= _weighted(constant, prefix="weighted_", suffix="_best_constant_classifier")
    return metrics


def _weighted(matrix: IntArray, prefix: str, suffix: str) -> dict[str, float]:
    support = matrix.sum(axis=1).astype(np.float64)
    total = support.sum()
    if total == 0:
        nan = float("nan")
        names = ["recall", "precision", *(name for name, _ in F_BETAS)]
        return {f"{prefix}{name}{suffix}": nan for name in names}
    weights = support / total
    hits = np.diag(matrix).astype(np.float64)
    predicted = matrix.sum(axis=0).astype(np.float64)
    recalls = np.divide(hits, support, out=np.zeros_like(hits), where=support > 0)
    precisions = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    metrics = {
        f"{prefix}recall{suffix}": float(weights @ recalls),
        f"{prefix}precision{suffix}": float(weights @ precisions),
    }
    for name, beta in F_BETAS:
        scores = np.array([f_beta(p, r, beta) for p, r in zip(precisions, recalls, strict=True)])
        metrics[f"{prefix}{name}{suffix}"] = float(weights @ scores)
    return metrics


def _ratio(numerator: int, denominator: int, empty: float = float("nan")) -> float:
    return numerator / denominator if denominator else empty
