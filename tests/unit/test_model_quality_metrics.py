"""Model quality metrics: hand-checked tables, AWS's own example outputs, and sklearn's numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn import metrics as skm
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from kiln.services.monitoring.model_quality.classification import (
    binary_metrics,
    confusion_document,
    confusion_matrix,
    multiclass_metrics,
)
from kiln.services.monitoring.model_quality.curves import binary_curves
from kiln.services.monitoring.model_quality.regression import regression_metrics
from kiln.services.monitoring.model_quality.samples import ClassSamples
from kiln.services.monitoring.model_quality.statistics import (
    binary_document,
    json_number,
    with_deviations,
)


def _ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def test_binary_metrics_reproduce_aws_example_output() -> None:
    # AWS's example: confusion {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}} (actual → predicted).
    metrics = binary_metrics(_ints([0, 0, 0, 1]), _ints([0, 1, 1, 1]))
    assert metrics == {
        "recall": 1.0,
        "precision": 0.3333333333333333,
        "accuracy": 0.5,
        "recall_best_constant_classifier": 1.0,
        "precision_best_constant_classifier": 0.25,
        "accuracy_best_constant_classifier": 0.25,
        "true_positive_rate": 1.0,
        "true_negative_rate": 0.33333333333333337,
        "false_positive_rate": 0.6666666666666666,
        "false_negative_rate": 0.0,
        "f0_5": 0.3846153846153846,
        "f1": 0.5,
        "f2": 0.7142857142857143,
        "f0_5_best_constant_classifier": 0.29411764705882354,
        "f1_best_constant_classifier": 0.4,
        "f2_best_constant_classifier": 0.625,
    }


def test_multiclass_metrics_reproduce_aws_example_output() -> None:
    # AWS's example confusion matrix: actual 0 → {0: 1180, 1: 510}, actual 1 → {0: 268, 1: 138}.
    actual = _ints([0] * 1690 + [1] * 406)
    predicted = _ints([0] * 1180 + [1] * 510 + [0] * 268 + [1] * 138)
    expected = {
        "accuracy": 0.6288167938931297,
        "weighted_recall": 0.6288167938931297,
        "weighted_precision": 0.6983172269629505,
        "weighted_f0_5": 0.6803947317178771,
        "weighted_f1": 0.6571162346664904,
        "weighted_f2": 0.6384024354394601,
        "accuracy_best_constant_classifier": 0.19370229007633588,
        "weighted_recall_best_constant_classifier": 0.19370229007633588,
        "weighted_precision_best_constant_classifier": 0.03752057718081697,
        "weighted_f0_5_best_constant_classifier": 0.04473443104152011,
        "weighted_f1_best_constant_classifier": 0.06286421244683643,
        "weighted_f2_best_constant_classifier": 0.10570313141262414,
    }
    metrics = multiclass_metrics(actual, predicted, 2)
    assert list(metrics) == list(expected)
    assert metrics == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    ("actual", "predicted", "n_classes", "expected"),
    [
        # Every prediction right: the diagonal holds the class counts.
        ([0, 1, 1], [0, 1, 1], 2, [[1, 0], [0, 2]]),
        # Rows are the actual class: two actual 1s predicted 0 land in row 1, column 0.
        ([1, 1, 0], [0, 0, 0], 2, [[1, 0], [2, 0]]),
        # A class only ever predicted still gets its row (of zeros).
        ([0, 1, 0], [2, 1, 0], 3, [[1, 0, 1], [0, 1, 0], [0, 0, 0]]),
    ],
)
def test_confusion_matrix_counts_actual_by_predicted(
    actual: list[int], predicted: list[int], n_classes: int, expected: list[list[int]]
) -> None:
    assert confusion_matrix(_ints(actual), _ints(predicted), n_classes).tolist() == expected


def test_confusion_document_keys_rows_by_actual_class_name() -> None:
    matrix = confusion_matrix(_ints([0, 0, 0, 1]), _ints([0, 1, 1, 1]), 2)
    assert confusion_document(matrix, ("0", "1")) == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}


@pytest.mark.parametrize(
    ("actual", "predicted", "name", "expected"),
    [
        # Nothing predicted positive: precision 0 (Spark's rule), not NaN.
        ([1, 0], [0, 0], "precision", 0.0),
        # No actual positives: recall has no denominator.
        ([0, 0], [1, 0], "recall", math.nan),
        # No actual negatives: the false positive rate has none either.
        ([1, 1], [1, 0], "false_positive_rate", math.nan),
        # Precision and recall both 0: F1 is 0.
        ([1, 0], [0, 1], "f1", 0.0),
    ],
)
def test_binary_metrics_without_a_denominator(
    actual: list[int], predicted: list[int], name: str, expected: float
) -> None:
    value = binary_metrics(_ints(actual), _ints(predicted))[name]
    assert value == expected or (math.isnan(expected) and math.isnan(value))


def test_multiclass_best_constant_classifier_predicts_the_greatest_class() -> None:
    # Classes 0, 1, 2 with supports 3, 1, 1: always predicting class 2 is right once in five.
    metrics = multiclass_metrics(_ints([0, 0, 0, 1, 2]), _ints([0, 0, 0, 1, 2]), 3)
    assert metrics["accuracy"] == 1.0
    assert metrics["accuracy_best_constant_classifier"] == pytest.approx(0.2)
    # Weighted precision: only class 2 (weight 1/5) has precision 1/5.
    assert metrics["weighted_precision_best_constant_classifier"] == pytest.approx(0.04)


@pytest.mark.parametrize(
    ("actual", "predicted", "expected"),
    [
        # Errors 1, -1, 2, 0: mae 4/4 = 1, mse (1+1+4+0)/4 = 1.5, rmse sqrt(1.5);
        # labels mean 2.5, total sum of squares 5, r2 = 1 - 6/5 = -0.2.
        ([1, 2, 3, 4], [2, 1, 5, 4], {"mae": 1.0, "mse": 1.5, "rmse": 1.5**0.5, "r2": -0.2}),
        # Perfect predictions: no error, r2 = 1.
        ([1, 2, 3], [1, 2, 3], {"mae": 0.0, "mse": 0.0, "rmse": 0.0, "r2": 1.0}),
        # Errors all 3: mae 3, mse 9, rmse 3; residuals 27 over a total sum of squares of 2,
        # r2 = 1 - 27/2 = -12.5.
        ([0, 1, 2], [3, 4, 5], {"mae": 3.0, "mse": 9.0, "rmse": 3.0, "r2": -12.5}),
    ],
)
def test_regression_metrics(
    actual: list[float], predicted: list[float], expected: dict[str, float]
) -> None:
    metrics = regression_metrics(np.array(actual, float), np.array(predicted, float))
    assert metrics == pytest.approx(expected)


def test_regression_r2_is_nan_when_labels_never_vary() -> None:
    assert math.isnan(regression_metrics(np.ones(3), np.array([1.0, 2.0, 3.0]))["r2"])


def test_roc_and_pr_curves_follow_sparks_points() -> None:
    # Scores 0.9 (1), 0.8 (1), 0.8 (0), 0.3 (0): thresholds 0.9, 0.8, 0.3.
    curves = binary_curves(_ints([1, 1, 0, 0]), np.array([0.9, 0.8, 0.8, 0.3]))
    assert curves.false_positive_rates.tolist() == [0.0, 0.0, 0.5, 1.0, 1.0]
    assert curves.true_positive_rates.tolist() == [0.0, 0.5, 1.0, 1.0, 1.0]
    assert curves.recalls.tolist() == [0.0, 0.5, 1.0, 1.0]
    assert curves.precisions.tolist() == [1.0, 1.0, 2 / 3, 0.5]
    # ROC area: 0.5 * (0.5 + 1) / 2 + 0.5 * 1 = 0.875 (the tie counts half).
    assert curves.auc == pytest.approx(0.875)
    # PR area: 0.5 * 1 + 0.5 * (1 + 2/3) / 2 = 0.9166…
    assert curves.au_prc == pytest.approx(0.5 + 0.5 * (1 + 2 / 3) / 2)


def test_deviations_are_nan_below_two_hundred_samples() -> None:
    values = with_deviations(lambda rows: {"count": float(rows.size)}, 199)
    assert values["count"].value == 199.0
    assert json_number(values["count"].standard_deviation) == "NaN"


def test_deviations_spread_a_metric_over_subsamples() -> None:
    noise = np.random.default_rng(1).normal(size=1000)
    values = with_deviations(lambda rows: {"mean": float(noise[rows].mean())}, noise.size)
    # The mean of 800 of 1,000 draws varies by about sqrt(0.2/800) ~ 0.016.
    assert 0.002 < values["mean"].standard_deviation < 0.05


def _breast_cancer_predictions() -> tuple[np.ndarray, np.ndarray]:
    features, labels = load_breast_cancer(return_X_y=True)
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=0.4, random_state=0
    )
    model = make_pipeline(StandardScaler(), LogisticRegression(C=0.01)).fit(train_x, train_y)
    return test_y.astype(np.int64), model.predict_proba(test_x)[:, 1]


def test_breast_cancer_binary_document_agrees_with_sklearn() -> None:
    labels, probabilities = _breast_cancer_predictions()
    predicted = (probabilities >= 0.5).astype(np.int64)
    document = binary_document(ClassSamples(("0", "1"), labels, predicted, probabilities, 0))

    def value(name: str) -> float:
        return float(document[name]["value"])

    (tn, fp), (fn, tp) = skm.confusion_matrix(labels, predicted).tolist()
    assert document["confusion_matrix"] == {"0": {"0": tn, "1": fp}, "1": {"0": fn, "1": tp}}
    assert value("accuracy") == pytest.approx(skm.accuracy_score(labels, predicted))
    assert value("precision") == pytest.approx(skm.precision_score(labels, predicted))
    assert value("recall") == pytest.approx(skm.recall_score(labels, predicted))
    for name, beta in (("f0_5", 0.5), ("f1", 1.0), ("f2", 2.0)):
        assert value(name) == pytest.approx(skm.fbeta_score(labels, predicted, beta=beta))
    assert value("auc") == pytest.approx(skm.roc_auc_score(labels, probabilities))
    # Spark's PR area: sklearn's curve points (less its closing (recall 0, precision 1)),
    # started at recall 0 with the first threshold's precision, summed by trapezoids.
    precision, recall, _ = skm.precision_recall_curve(labels, probabilities)
    precision, recall = precision[:-1][::-1], recall[:-1][::-1]
    spark_points = np.concatenate([[0.0], recall]), np.concatenate([[precision[0]], precision])
    assert value("au_prc") == pytest.approx(skm.auc(*spark_points))
    # 228 samples: enough for standard deviations.
    assert isinstance(document["auc"]["standard_deviation"], float)
