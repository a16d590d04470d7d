"""The A/B report as a pure function: planted differences found, none invented, shadows marked."""

from __future__ import annotations

import random

import pytest

from kiln.db.inferences import Label, LabelledPrediction
from kiln.services.monitoring.ab_test import (
    MIN_LABELLED,
    build_report,
    is_correct,
    latest_predictions,
    problem_type,
)
from kiln.services.monitoring.report import AbReport, ProblemType
from kiln.services.monitoring.traffic import VariantTraffic

WINDOW = (0.0, 3600.0)


def _labelled(
    variant: str, n: int, accuracy: float, *, shadow: bool = False, seed: int = 0
) -> list[LabelledPrediction]:
    """``n`` labelled answers of ``variant``, the first ``accuracy`` share of them right."""
    rng = random.Random(seed)
    right = round(n * accuracy)
    rows = []
    for i in range(n):
        label = float(rng.randint(0, 1))
        prediction = label if i < right else 1.0 - label
        rows.append(
            LabelledPrediction(f"{variant}-{i}", variant, shadow, prediction, label, float(i))
        )
    return rows


def _regression(variant: str, n: int, noise: float, seed: int) -> list[LabelledPrediction]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = rng.uniform(0, 100)
        rows.append(
            LabelledPrediction(
                f"{variant}-{i}", variant, False, label + rng.gauss(0, noise), label, float(i)
            )
        )
    return rows


def _report(
    labelled: list[LabelledPrediction],
    production: tuple[str, ...] = ("A", "B"),
    traffic: tuple[VariantTraffic, ...] = (),
) -> AbReport:
    return build_report("ep", WINDOW, production, traffic, labelled)


def test_a_planted_accuracy_difference_is_found() -> None:
    report = _report(_labelled("A", 1000, 0.70) + _labelled("B", 1000, 0.80))
    (comparison,) = report.comparisons
    assert comparison.p_value is not None
    assert comparison.p_value < 0.001
    assert report.verdict == "B is more accurate than A (p < 0.001)"


def test_no_difference_is_reported_where_there_is_none() -> None:
    report = _report(_labelled("A", 400, 0.80, seed=1) + _labelled("B", 400, 0.80, seed=2))
    (comparison,) = report.comparisons
    assert comparison.p_value == pytest.approx(1.0)
    assert report.verdict.startswith("no difference between A and B")


def test_a_small_effect_says_how_many_more_labels_are_needed() -> None:
    # 80 % vs 85 % needs 906 per variant (Fleiss); 100 each are labelled: 806 more.
    report = _report(_labelled("A", 100, 0.80) + _labelled("B", 100, 0.85))
    (comparison,) = report.comparisons
    assert comparison.samples_needed == 806
    assert report.verdict == (
        "no significant difference yet between A and B (p = 0.457); "
        "about 806 more labelled requests per variant needed"
    )


def test_regression_labels_are_compared_by_rmse() -> None:
    report = _report(
        _regression("A", 200, noise=5.0, seed=1) + _regression("B", 200, noise=2.0, seed=2)
    )
    assert report.problem_type is ProblemType.REGRESSION
    a, b = report.variants
    assert a.rmse == pytest.approx(5.0, rel=0.2)
    assert b.rmse == pytest.approx(2.0, rel=0.2)
    assert a.accuracy is None
    assert report.comparisons[0].test == "Welch's t-test on squared errors"
    assert report.verdict == "B has lower error (RMSE) than A (p < 0.001)"


def test_tiny_samples_say_not_enough_data() -> None:
    report = _report(_labelled("A", 5, 0.2) + _labelled("B", 5, 1.0))
    (comparison,) = report.comparisons
    assert comparison.p_value is None
    assert comparison.test is None
    assert report.verdict == (
        f"not enough data: A has 5 labelled requests and B 5; at least {MIN_LABELLED} each "
        "are needed for a test"
    )


def test_shadow_variants_are_reported_and_marked() -> None:
    report = _report(
        _labelled("A", 500, 0.70) + _labelled("S", 500, 0.90, shadow=True), production=("A",)
    )
    shadow = next(v for v in report.variants if v.variant == "S")
    assert shadow.is_shadow
    assert report.verdict == "shadow S is more accurate than A (p < 0.001)"


def test_the_baseline_is_the_production_variant_with_most_labels() -> None:
    report = _report(_labelled("A", 30, 0.8) + _labelled("B", 60, 0.8))
    assert [(c.baseline, c.challenger) for c in report.comparisons] == [("B", "A")]


def test_traffic_gives_shares_latency_in_ms_and_error_rates() -> None:
    traffic = (
        VariantTraffic("A", 300, 3, 0, 6, 1000.0, 2000.0, 4000.0),
        VariantTraffic("B", 100, 0, 1, 0, 1500.0, 2500.0, 5000.0),
    )
    a, b = _report([], traffic=traffic).variants
    assert (a.traffic_share, b.traffic_share) == (0.75, 0.25)
    assert (b.latency_p50_ms, b.latency_p95_ms, b.latency_p99_ms) == (1.5, 2.5, 5.0)
    assert (a.client_error_rate, a.model_error_rate, b.server_error_rate) == (0.01, 0.02, 0.01)


def test_without_labels_the_verdict_says_where_to_send_them() -> None:
    report = _report([])
    assert report.problem_type is None
    assert report.comparisons == ()
    assert "POST /kiln/v1/endpoints/ep/feedback" in report.verdict


def test_the_report_survives_its_json_document() -> None:
    report = _report(_labelled("A", 50, 0.7) + _labelled("B", 50, 0.9))
    assert AbReport.from_document(report.to_document()) == report


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        (["cat", "dog"], ProblemType.CLASSIFICATION),
        ([0.0, 1.0, 1.0], ProblemType.CLASSIFICATION),
        ([float(i) for i in range(21)], ProblemType.REGRESSION),  # 21 distinct whole numbers
        ([0.5, 1.25, 3.0], ProblemType.REGRESSION),
    ],
)
def test_the_labels_decide_the_problem_type(labels: list[Label], expected: ProblemType) -> None:
    assert problem_type(labels) is expected


@pytest.mark.parametrize(
    ("prediction", "label", "is_binary", "expected"),
    [
        (1.0, "1", False, True),  # 1.0 and "1" are one class
        ("cat", "cat ", False, True),
        ("cat", "dog", False, False),
        (0.73, 1.0, True, True),  # a binary score: class 1 from 0.5 up
        (0.49, 1.0, True, False),
        (0.73, 1.0, False, False),  # not binary: a number is its own class
    ],
)
def test_right_answers(prediction: Label, label: Label, is_binary: bool, expected: bool) -> None:
    assert is_correct(prediction, label, is_binary=is_binary) is expected


def test_a_reused_inference_id_counts_its_latest_prediction() -> None:
    first = LabelledPrediction("x", "A", False, 0.0, 1.0, 1.0)
    second = LabelledPrediction("x", "A", False, 1.0, 1.0, 2.0)
    unreadable = LabelledPrediction("y", "A", False, None, 1.0, 3.0)
    assert latest_predictions([second, first, unreadable]) == [second]


def test_the_endpoints_shadow_is_marked_and_its_share_is_of_production_traffic() -> None:
    traffic = (VariantTraffic("A", 10, 0, 0, 0, None, None, None),
               VariantTraffic("S", 10, 0, 0, 0, None, None, None))  # fmt: skip
    a, s = build_report("ep", WINDOW, ("A",), traffic, [], ("S",)).variants
    assert (a.is_shadow, s.is_shadow) == (False, True)
    assert (a.traffic_share, s.traffic_share) == (1.0, 1.0)  # S mirrors all of A's traffic


def test_a_former_production_variant_is_not_taken_for_a_shadow() -> None:
    report = _report(_labelled("A", 30, 0.8) + _labelled("OLD", 30, 0.8), production=("A",))
    assert [v.is_shadow for v in report.variants] == [False, False]


def test_a_variant_the_endpoint_no_longer_has_is_production_not_shadow() -> None:
    traffic = (
        VariantTraffic("Old", 1, 0, 0, 0, 1000.0, 1000.0, 1000.0),
        VariantTraffic("A", 99, 0, 0, 0, 1000.0, 1000.0, 1000.0),
    )
    report = build_report("ep", WINDOW, ("A",), traffic, _labelled("A", 30, 0.8), ("S",))
    assert {v.variant: v.is_shadow for v in report.variants} == {
        "A": False, "Old": False, "S": True,
    }  # fmt: skip


def test_variants_without_labels_are_not_compared() -> None:
    report = _report(_labelled("A", 500, 0.70), production=("A", "B"))
    assert report.comparisons == ()
    assert report.verdict == "only A has labelled requests: nothing to compare yet"
