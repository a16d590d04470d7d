"""statistics.json and constraints.json read back: Kiln's own round-trip, AWS's are tolerated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiln.services.monitoring.baselines import (
    Constraints,
    InferredType,
    Statistics,
    analyze_csv,
    suggest_constraints,
)
from kiln.services.monitoring.baselines.monitoring_config import (
    CategoricalDriftMethod,
    ComparisonMethod,
)

# A statistics.json as SageMaker's analyzer writes it: counts as floats, a two-level KLL
# sketch, fields Kiln does not read (``distinct_count`` is derived, ``kiln_extra`` is unknown).
AWS_STATISTICS: dict[str, Any] = {
    "version": 0.0,
    "dataset": {"item_count": 4.0},
    "kiln_extra": {"ignored": True},
    "features": [
        {
            "name": "age",
            "inferred_type": "Integral",
            "numerical_statistics": {
                "common": {"num_present": 4.0, "num_missing": 0.0},
                "mean": 2.5, "sum": 10.0, "std_dev": 1.118, "min": 1.0, "max": 4.0,
                "distribution": {"kll": {
                    "buckets": [{"lower_bound": 1.0, "upper_bound": 4.0, "count": 4.0}],
                    "sketch": {"parameters": {"c": 0.64, "k": 2048.0},
                               "data": [[1.0, 2.0], [3.5]]},
                }},
            },
        },
        {
            "name": "colour",
            "inferred_type": "String",
            "string_statistics": {
                "common": {"num_present": 3.0, "num_missing": 1.0},
                "distinct_count": 2.0,
                "distribution": {"categorical": {"buckets": [
                    {"value": "red", "count": 2.0}, {"value": "blue", "count": 1.0}]}},
            },
        },
        {"name": "empty", "inferred_type": "Unknown"},
    ],
}  # fmt: skip

AWS_CONSTRAINTS: dict[str, Any] = {
    "version": 0.0,
    "features": [
        {"name": "age", "inferred_type": "Integral", "completeness": 1.0,
         "num_constraints": {"is_non_negative": True}},
        {"name": "colour", "inferred_type": "String", "completeness": 0.75,
         "string_constraints": {"domains": ["red", "blue"]}, "monitoringConfigOverrides": {}},
    ],
    "monitoring_config": {
        "evaluate_constraints": "Enabled", "emit_metrics": "Disabled",
        "datatype_check_threshold": 0.1, "domain_content_threshold": 0.2,
        "distribution_constraints": {
            "perform_comparison": "Disabled", "comparison_threshold": 0.3,
            "comparison_method": "Simple", "categorical_comparison_threshold": 0.4,
            "categorical_drift_method": "ChiSquared",
        },
    },
}  # fmt: skip


def test_aws_statistics_are_read_with_their_sketch_levels() -> None:
    statistics = Statistics.from_document(AWS_STATISTICS)
    age, colour, empty = statistics.features
    assert statistics.item_count == 4
    assert age.numerical is not None
    assert age.numerical.sketch == ((1.0, 2.0), (3.5,))
    values, weights = age.numerical.weighted_sketch()
    assert (values.tolist(), weights.tolist()) == ([1.0, 2.0, 3.5], [1.0, 1.0, 2.0])
    assert colour.string is not None
    assert colour.string.value_counts == (("red", 2), ("blue", 1))
    assert (colour.num_present, colour.num_missing) == (3, 1)
    assert empty.inferred_type is InferredType.UNKNOWN
    assert empty.numerical is None


def test_aws_statistics_document_round_trips() -> None:
    document = Statistics.from_document(AWS_STATISTICS).to_document()
    assert Statistics.from_document(document).to_document() == document
    assert document["features"][0]["numerical_statistics"]["distribution"]["kll"]["sketch"][
        "data"
    ] == [[1.0, 2.0], [3.5]]


def test_kiln_statistics_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("n,f,c,e\n1,0.5,x,\n2,1.5,y,\n3,,x,\n", encoding="utf-8")
    document = analyze_csv(path, has_header=True).to_document()
    assert Statistics.from_document(document).to_document() == document


def test_aws_constraints_keep_monitoring_config_as_typed_fields() -> None:
    constraints = Constraints.from_document(AWS_CONSTRAINTS)
    config = constraints.monitoring_config
    assert (config.evaluate_constraints, config.emit_metrics) == (True, False)
    assert (config.datatype_check_threshold, config.domain_content_threshold) == (0.1, 0.2)
    assert (config.perform_comparison, config.comparison_threshold) == (False, 0.3)
    assert config.comparison_method is ComparisonMethod.SIMPLE
    assert config.categorical_comparison_threshold == 0.4
    assert config.categorical_drift_method is CategoricalDriftMethod.CHI_SQUARED
    age, colour = constraints.features
    assert (age.is_non_negative, age.domains) == (True, None)
    assert (colour.completeness, colour.domains) == (0.75, ("red", "blue"))


def test_constraints_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "data.csv"
    path.write_text("n,c\n1,x\n-2,x\n3,y\n4,y\n", encoding="utf-8")
    for document in (
        suggest_constraints(analyze_csv(path, has_header=True)).to_document(),
        Constraints.from_document(AWS_CONSTRAINTS).to_document(),
    ):
        assert Constraints.from_document(document).to_document() == document


def test_missing_monitoring_config_fields_keep_sagemakers_defaults() -> None:
    config = Constraints.from_document({"features": []}).monitoring_config
    assert config.comparison_method is ComparisonMethod.ROBUST
    assert (config.comparison_threshold, config.datatype_check_threshold) == (0.1, 1.0)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"features": {}}, "features: expected an array"),
        ({"features": [{"inferred_type": "String"}]}, r"features\[0\].name"),
        ({"dataset": {"item_count": -1}}, "dataset.item_count: expected a count"),
        ({"dataset": {"item_count": "many"}}, "dataset.item_count: expected a number"),
    ],
)
def test_bad_statistics_name_the_field(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Statistics.from_document(document)


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"evaluate_constraints": "On"}, "expected 'Enabled' or 'Disabled'"),
        ({"distribution_constraints": {"comparison_method": "Fancy"}}, "'Robust', 'Simple'"),
        ({"datatype_check_threshold": True}, "expected a number"),
    ],
)
def test_bad_constraints_name_the_field(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Constraints.from_document({"features": [], "monitoring_config": config})


def test_unknown_inferred_type_reads_as_unknown() -> None:
    document = {"features": [{"name": "x", "inferred_type": "Boolean"}]}
    assert Statistics.from_document(document).features[0].inferred_type is InferredType.UNKNOWN
