"""Model quality end to end on files: reading captures and labels, the join, and the report."""

from __future__ import annotations

import base64
import math
from pathlib import Path
from typing import Any

import orjson
import pytest

from kiln.services.monitoring.baselines.violations import CheckType
from kiln.services.monitoring.model_quality import (
    InvalidConstraints,
    ModelQualityConfig,
    ProblemType,
    evaluate_model_quality,
    suggest_constraints,
)
from kiln.services.monitoring.model_quality.attributes import (
    UnreadableValue,
    value_from_csv,
    value_from_json,
)

BINARY = ModelQualityConfig(ProblemType.BINARY_CLASSIFICATION, probability_attribute="0")


def _capture(
    answer: str,
    inference_id: str | None,
    encoding: str = "CSV",
    content_type: str = "text/csv",
    event_id: str = "event",
) -> dict[str, Any]:
    metadata = {"eventId": event_id}
    if inference_id is not None:
        metadata["inferenceId"] = inference_id
    output = {"observedContentType": content_type, "mode": "OUTPUT", "data": answer}
    return {
        "captureData": {"endpointOutput": output | {"encoding": encoding}},
        "eventMetadata": metadata,
        "eventVersion": "0",
    }


def _label(inference_id: str, label: str) -> dict[str, Any]:
    return {
        "groundTruthData": {"data": label, "encoding": "CSV"},
        "eventMetadata": {"eventId": inference_id},
        "eventVersion": "0",
    }


def _jsonl(path: Path, lines: list[Any]) -> list[Path]:
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return [path]


@pytest.mark.parametrize(
    ("text", "attribute", "expected"),
    [
        ("0.7", None, "0.7"),
        ("0.2,0.7,1", "1", "0.7"),
        ("'a b',2", "0", "'a b'"),
    ],
)
def test_csv_attribute_is_a_column_index(text: str, attribute: str | None, expected: str) -> None:
    assert value_from_csv(text, attribute) == expected


@pytest.mark.parametrize(
    ("text", "attribute", "expected"),
    [
        ('{"score": 0.7}', "score", 0.7),
        ('{"predictions": [{"score": 0.3}]}', "predictions[0].score", 0.3),
        ('{"predictions": [{"score": 0.3}]}', "$.predictions[0].score", 0.3),
        ("[0.1, 0.9]", "1", 0.9),
        ("0.4", None, 0.4),
        ("[0.4]", None, 0.4),
    ],
)
def test_json_attribute_is_a_key_and_index_path(
    text: str, attribute: str | None, expected: Any
) -> None:
    assert value_from_json(text, attribute) == expected


@pytest.mark.parametrize(
    ("text", "attribute"),
    [('{"score": 0.7}', "label"), ("[0.1]", "3"), ('{"a": {"b": 1}}', "a"), ("not json", None)],
)
def test_json_attribute_that_finds_no_single_value_is_unreadable(
    text: str, attribute: str | None
) -> None:
    with pytest.raises(UnreadableValue):
        value_from_json(text, attribute)


def test_join_scores_only_captures_with_a_label(tmp_path: Path) -> None:
    captures = _jsonl(
        tmp_path / "c.jsonl",
        [_capture("0.9", "a"), _capture("0.2", "b"), _capture("0.8", "unlabelled")],
    )
    labels = _jsonl(
        tmp_path / "g.jsonl", [_label("a", "1"), _label("b", "0"), _label("never-captured", "1")]
    )
    report = evaluate_model_quality(captures, labels, BINARY, None)
    assert report.matched == 2
    assert report.counts.unlabelled == 1
    assert report.counts.unknown_ids == 1
    assert report.metrics["accuracy"] == 1.0


def test_capture_without_inference_id_joins_on_its_event_id(tmp_path: Path) -> None:
    # AWS: "If inferenceId is not present in captured data, model monitor uses eventId".
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.9", None, event_id="e-1")])
    labels = _jsonl(tmp_path / "g.jsonl", [_label("e-1", "1")])
    report = evaluate_model_quality(captures, labels, BINARY, None)
    assert report.matched == 1
    assert report.counts.keyed_by_event_id == 1


def test_capture_without_any_id_or_output_is_counted_not_scored(tmp_path: Path) -> None:
    no_id = _capture("0.9", None)
    del no_id["eventMetadata"]["eventId"]
    input_only = _capture("0.9", "x")
    del input_only["captureData"]["endpointOutput"]
    captures = _jsonl(tmp_path / "c.jsonl", [no_id, input_only])
    report = evaluate_model_quality(captures, _jsonl(tmp_path / "g.jsonl", []), BINARY, None)
    assert (report.counts.without_id, report.counts.without_output) == (1, 1)
    assert report.matched == 0


def test_later_label_for_an_id_replaces_the_earlier(tmp_path: Path) -> None:
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.9", "a")])
    (tmp_path / "gt").mkdir()
    first = _jsonl(tmp_path / "gt" / "00-00.jsonl", [_label("a", "0")])
    later = _jsonl(tmp_path / "gt" / "30-00.jsonl", [_label("a", "1")])
    report = evaluate_model_quality(captures, later + first, BINARY, None)
    assert report.counts.duplicate_labels == 1
    assert report.metrics["accuracy"] == 1.0


def test_repeated_inference_id_joins_each_capture(tmp_path: Path) -> None:
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.9", "a"), _capture("0.1", "a")])
    labels = _jsonl(tmp_path / "g.jsonl", [_label("a", "1")])
    report = evaluate_model_quality(captures, labels, BINARY, None)
    assert report.matched == 2
    assert report.counts.duplicate_captures == 1
    assert report.metrics["recall"] == 0.5


def test_malformed_lines_and_unreadable_pairs_are_counted_not_fatal(tmp_path: Path) -> None:
    captures = _jsonl(
        tmp_path / "c.jsonl",
        [b"{not json", b"[1, 2]", _capture("0.9", "a"), _capture("yes", "b")],
    )
    labels = _jsonl(tmp_path / "g.jsonl", [b"nope", _label("a", "1"), _label("b", "1")])
    report = evaluate_model_quality(captures, labels, BINARY, None)
    assert report.counts.malformed_lines == 3
    assert report.counts.unreadable == 1
    assert report.malformed_lines == 4
    assert report.matched == 1


def test_empty_join_is_an_empty_report(tmp_path: Path) -> None:
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.9", "a")])
    report = evaluate_model_quality(captures, _jsonl(tmp_path / "g.jsonl", []), BINARY, None)
    assert report.is_empty
    assert report.statistics["dataset"]["item_count"] == 0
    assert report.statistics["binary_classification_metrics"] == {}
    assert report.violations.violations == ()


def test_probability_threshold_decides_the_predicted_class(tmp_path: Path) -> None:
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.6", "a"), _capture("0.4", "b")])
    labels = _jsonl(tmp_path / "g.jsonl", [_label("a", "1"), _label("b", "1")])
    strict = ModelQualityConfig(
        ProblemType.BINARY_CLASSIFICATION, probability_attribute="0", probability_threshold=0.7
    )
    assert evaluate_model_quality(captures, labels, BINARY, None).metrics["recall"] == 0.5
    assert evaluate_model_quality(captures, labels, strict, None).metrics["recall"] == 0.0


def test_json_and_base64_answers_are_read(tmp_path: Path) -> None:
    encoded = base64.b64encode(b'{"label": "cat"}').decode()
    captures = _jsonl(
        tmp_path / "c.jsonl",
        [
            _capture('{"label": "dog"}', "a", "JSON", "application/json"),
            _capture(encoded, "b", "BASE64", "application/json"),
        ],
    )
    labels = _jsonl(tmp_path / "g.jsonl", [_label("a", "dog"), _label("b", "dog")])
    config = ModelQualityConfig(ProblemType.MULTICLASS_CLASSIFICATION, inference_attribute="label")
    report = evaluate_model_quality(captures, labels, config, None)
    matrix = report.statistics["multiclass_classification_metrics"]["confusion_matrix"]
    assert matrix == {"cat": {"cat": 0, "dog": 0}, "dog": {"cat": 1, "dog": 1}}


def test_regression_statistics_shape(tmp_path: Path) -> None:
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("2.0", "a"), _capture("4", "b")])
    labels = _jsonl(tmp_path / "g.jsonl", [_label("a", "1"), _label("b", "4")])
    config = ModelQualityConfig(ProblemType.REGRESSION)
    statistics = evaluate_model_quality(captures, labels, config, None).statistics
    assert statistics["version"] == 0.0
    assert statistics["dataset"]["item_count"] == 2
    assert statistics["regression_metrics"]["mae"] == {"value": 0.5, "standard_deviation": "NaN"}
    assert list(statistics["regression_metrics"]) == ["mae", "mse", "rmse", "r2"]


def test_binary_statistics_keys_follow_sagemakers_order(tmp_path: Path) -> None:
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.9", "a"), _capture("0.2", "b")])
    labels = _jsonl(tmp_path / "g.jsonl", [_label("a", "1"), _label("b", "0")])
    section = evaluate_model_quality(captures, labels, BINARY, None).statistics[
        "binary_classification_metrics"
    ]
    names = list(section)
    assert names[:4] == ["confusion_matrix", "recall", "precision", "accuracy"]
    curves = names.index("receiver_operating_characteristic_curve")
    assert names[curves - 1 : curves + 4] == [
        "false_negative_rate",
        "receiver_operating_characteristic_curve",
        "precision_recall_curve",
        "auc",
        "au_prc",
    ]
    assert names[-1] == "f2_best_constant_classifier"


def _baseline_and_window(tmp_path: Path) -> tuple[dict[str, Any], Any]:
    good = _jsonl(tmp_path / "c1.jsonl", [_capture("0.9", "a"), _capture("0.1", "b")])
    window = _jsonl(tmp_path / "c2.jsonl", [_capture("0.1", "a"), _capture("0.1", "b")])
    labels = _jsonl(tmp_path / "g.jsonl", [_label("a", "1"), _label("b", "0")])
    baseline = evaluate_model_quality(good, labels, BINARY, None)
    constraints = suggest_constraints(baseline.statistics)
    return constraints, evaluate_model_quality(window, labels, BINARY, constraints)


def test_suggested_constraints_bound_each_metric_by_its_baseline_value(tmp_path: Path) -> None:
    constraints, _ = _baseline_and_window(tmp_path)
    bounds = constraints["binary_classification_constraints"]
    assert constraints["version"] == 0.0
    assert bounds["recall"] == {"threshold": 1.0, "comparison_operator": "LessThanThreshold"}
    assert bounds["false_positive_rate"] == {
        "threshold": 0.0,
        "comparison_operator": "GreaterThanThreshold",
    }


def test_window_worse_than_baseline_violates_with_the_failed_comparison(tmp_path: Path) -> None:
    _, report = _baseline_and_window(tmp_path)
    by_metric = {v.feature_name: v for v in report.violations.violations}
    assert by_metric["recall"].check is CheckType.LESS_THAN_THRESHOLD
    assert by_metric["false_negative_rate"].check is CheckType.GREATER_THAN_THRESHOLD
    assert "false_positive_rate" not in by_metric
    assert report.violations.to_document()["violations"][0] == {
        "constraint_check_type": "LessThanThreshold",
        "description": "Metric recall with 0.0 was LessThanThreshold 1.0",
        "metric_name": "recall",
    }


@pytest.mark.parametrize(
    "constraints",
    [
        {"version": 0.0, "regression_constraints": {}},
        {"binary_classification_constraints": {"auc": {"threshold": 0.9}}},
        {
            "binary_classification_constraints": {
                "auc": {"comparison_operator": "LessThanThreshold"}
            }
        },
    ],
)
def test_constraints_that_cannot_be_checked_are_refused(
    tmp_path: Path, constraints: dict[str, Any]
) -> None:
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.9", "a")])
    with pytest.raises(InvalidConstraints):
        evaluate_model_quality(captures, [], BINARY, constraints)


def test_nan_metric_is_not_a_violation(tmp_path: Path) -> None:
    # Only positives: the false positive rate is undefined, so its bound is not checked.
    captures = _jsonl(tmp_path / "c.jsonl", [_capture("0.9", "a")])
    labels = _jsonl(tmp_path / "g.jsonl", [_label("a", "1")])
    constraints = {
        "binary_classification_constraints": {
            "false_positive_rate": {"threshold": 0.0, "comparison_operator": "GreaterThanThreshold"}
        }
    }
    report = evaluate_model_quality(captures, labels, BINARY, constraints)
    assert math.isnan(report.metrics["false_positive_rate"])
    assert report.violations.violations == ()
