"""constraint_violations.json: each check of a window against hand-made baseline statistics."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from kiln.services.monitoring.baselines import (
    CategoricalDriftMethod,
    CheckType,
    ComparisonMethod,
    Constraints,
    InferredType,
    MonitoringConfig,
    Statistics,
    check_constraints,
    suggest_constraints,
)
from kiln.services.monitoring.baselines.accumulators import bucket_counts, buckets
from kiln.services.monitoring.baselines.statistics import (
    FeatureStatistics,
    NumericalStatistics,
    StringStatistics,
    TypeCounts,
)


def numeric(name: str, values: list[float], missing: int = 0) -> FeatureStatistics:
    array = np.array(values, dtype=np.float64)
    whole = int((array == np.floor(array)).sum())
    kind = InferredType.INTEGRAL if whole == len(array) else InferredType.FRACTIONAL
    low, high = float(array.min()), float(array.max())
    stats = NumericalStatistics(
        num_present=len(array), num_missing=missing, mean=float(array.mean()),
        sum=float(array.sum()), std_dev=float(array.std()), min=low, max=high,
        buckets=buckets(bucket_counts(array, low, high), low, high),
        sketch=(tuple(sorted(values)),),
    )  # fmt: skip
    counts = TypeCounts(integral=whole, fractional=len(array) - whole)
    return FeatureStatistics(name, kind, len(array), missing, numerical=stats, type_counts=counts)


def strings(name: str, counts: dict[str, int], missing: int = 0) -> FeatureStatistics:
    present = sum(counts.values())
    stats = StringStatistics(present, missing, tuple(counts.items()))
    return FeatureStatistics(
        name,
        InferredType.STRING,
        present,
        missing,
        string=stats,
        type_counts=TypeCounts(text=present),
    )


def dataset(*features: FeatureStatistics) -> Statistics:
    rows = features[0].num_present + features[0].num_missing if features else 0
    return Statistics(rows, features)


BASELINE = dataset(
    numeric("age", [float(v) for v in range(1, 101)]),
    numeric("score", [v / 10 for v in range(100)]),
    strings("colour", {"red": 60, "blue": 40}),
)
CONSTRAINTS = suggest_constraints(BASELINE)


def checks(current: Statistics, constraints: Constraints = CONSTRAINTS) -> list[tuple[str, str]]:
    violations = check_constraints(current, BASELINE, constraints).violations
    return sorted((v.feature_name, str(v.check)) for v in violations)


def with_config(**changes: object) -> Constraints:
    return replace(CONSTRAINTS, monitoring_config=replace(MonitoringConfig(), **changes))


@pytest.mark.parametrize(
    ("current", "expected"),
    [
        (BASELINE, []),
        # age absent, a new column present: one violation each, no crash
        (dataset(BASELINE.features[1], BASELINE.features[2], strings("new", {"x": 1})),
         [("age", "missing_column_check"), ("new", "extra_column_check")]),
        # 50 of 100 ages fractional: 50 % Integral < 100 %
        (dataset(numeric("age", [v + (0.5 if v % 2 else 0.0) for v in range(1, 101)]),
                 *BASELINE.features[1:]),
         [("age", "data_type_check")]),
        # integers where the baseline is Fractional: integral values are fractional ones too
        (dataset(BASELINE.features[0], numeric("score", [float(v % 10) for v in range(100)]),
                 BASELINE.features[2]),
         []),
        # 10 of 100 ages missing: completeness 0.9 < 1.0
        (dataset(numeric("age", [float(v) for v in range(1, 91)], missing=10),
                 *BASELINE.features[1:]),
         [("age", "completeness_check")]),
        # a negative age where the baseline's were all non-negative
        (dataset(numeric("age", [-1.0] + [float(v) for v in range(2, 101)]),
                 *BASELINE.features[1:]),
         [("age", "non_negative_check")]),
        # a colour outside the domain, and red's share down 0.3: above 0.1 even after the
        # correction 1.8 √((100 + 1000) / (100 × 1000)) ≈ 0.19
        (dataset(*BASELINE.features[:2],
                 strings("colour", {"red": 300, "blue": 400, "green": 300})),
         [("colour", "baseline_drift_check"), ("colour", "categorical_values_check")]),
        # every score moved past the baseline's range: the CDFs never meet (distance 1)
        (dataset(BASELINE.features[0], numeric("score", [v / 10 + 20 for v in range(100)]),
                 BASELINE.features[2]),
         [("score", "baseline_drift_check")]),
        # ages as text: 0 % Integral
        (dataset(strings("age", {"old": 100}), *BASELINE.features[1:]),
         [("age", "data_type_check")]),
    ],
)  # fmt: skip
def test_each_check_flags_its_feature(current: Statistics, expected: list[tuple[str, str]]) -> None:
    assert checks(current) == expected


def test_data_type_description_says_expected_and_observed() -> None:
    current = dataset(numeric("age", [1.5, 2.0]), *BASELINE.features[1:])
    (violation,) = check_constraints(current, BASELINE, CONSTRAINTS).violations
    assert violation.to_document() == {
        "feature_name": "age",
        "constraint_check_type": "data_type_check",
        "description": "Data type match requirement is not met. Expected data type: Integral, "
        "Expected match: 100.0%. Observed: Only 50.0% of data is Integral.",
    }


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, [("age", "data_type_check"), ("score", "baseline_drift_check")]),
        ({"datatype_check_threshold": 0.5}, [("score", "baseline_drift_check")]),
        ({"evaluate_constraints": False}, [("score", "baseline_drift_check")]),
        ({"perform_comparison": False}, [("age", "data_type_check")]),
        ({"comparison_threshold": 1.0}, [("age", "data_type_check")]),
    ],
)
def test_monitoring_config_switches_and_thresholds_are_honoured(
    changes: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    current = dataset(
        numeric("age", [1.5, 2.0] + [float(v) for v in range(3, 101)]),
        numeric("score", [v / 10 + 20 for v in range(100)]),
        BASELINE.features[2],
    )
    assert checks(current, with_config(**changes)) == expected


@pytest.mark.parametrize(
    ("method", "expected"),
    [
        # 5 points vs 100, all past the baseline: Simple 1.0; Robust 1 - 1.8 √(105/500) ≈ 0.18
        (ComparisonMethod.SIMPLE, [("score", "baseline_drift_check")]),
        (ComparisonMethod.ROBUST, [("score", "baseline_drift_check")]),
    ],
)
def test_robust_distance_subtracts_the_small_sample_term(
    method: ComparisonMethod, expected: list[tuple[str, str]]
) -> None:
    current = dataset(
        BASELINE.features[0], numeric("score", [30.0, 31, 32, 33, 34]), BASELINE.features[2]
    )
    assert checks(current, with_config(comparison_method=method)) == expected
    robust_only = with_config(comparison_method=method, comparison_threshold=0.5)
    assert checks(current, robust_only) == (expected if method is ComparisonMethod.SIMPLE else [])


def test_chi_squared_compares_the_p_value_with_the_threshold() -> None:
    config = {"categorical_drift_method": CategoricalDriftMethod.CHI_SQUARED}
    same_law = dataset(*BASELINE.features[:2], strings("colour", {"red": 59, "blue": 41}))
    moved = dataset(*BASELINE.features[:2], strings("colour", {"red": 30, "blue": 70}))
    assert checks(same_law, with_config(**config)) == []
    assert checks(moved, with_config(**config)) == [("colour", "baseline_drift_check")]


def test_statistics_read_back_from_documents_are_checked_alike() -> None:
    current = dataset(numeric("age", [1.5, 2.0]), *BASELINE.features[1:])
    baseline = Statistics.from_document(BASELINE.to_document())
    constraints = Constraints.from_document(CONSTRAINTS.to_document())
    read_back = Statistics.from_document(current.to_document())  # type counts lost: 0 % Integral
    violations = check_constraints(read_back, baseline, constraints).violations
    assert [(v.feature_name, str(v.check)) for v in violations] == [("age", "data_type_check")]


def test_empty_window_has_no_violations_but_missing_columns() -> None:
    empty = Statistics(0, ())
    assert checks(empty) == [
        ("age", "missing_column_check"),
        ("colour", "missing_column_check"),
        ("score", "missing_column_check"),
    ]
    assert CheckType.MISSING_COLUMN == "missing_column_check"
