"""Feedback batches: checked whole, then record by record; Model Monitor's ground-truth format."""

from __future__ import annotations

import json
import uuid

import pytest

from kiln.db.inferences import GroundTruth
from kiln.errors import ValidationError
from kiln.services.monitoring.feedback import (
    LABELLED,
    REPEATED,
    UNKNOWN,
    Rejection,
    parse_feedback,
    sort_feedback,
)
from kiln.services.monitoring.ground_truth import csv_value, ground_truth_lines, ground_truth_uri
from kiln.storage import S3Uri


def test_a_batch_parses_into_labels_and_numbers() -> None:
    document = {"Records": [{"InferenceId": "a", "GroundTruth": "cat"},
                            {"InferenceId": "b", "GroundTruth": 1}]}  # fmt: skip
    assert parse_feedback(document) == [GroundTruth("a", "cat"), GroundTruth("b", 1.0)]


@pytest.mark.parametrize(
    ("document", "quoted"),
    [
        ([], "Records"),
        ({"Records": []}, "Records"),
        ({"Records": [{"InferenceId": "a"}]}, "Records[0]"),
        ({"Records": [{"InferenceId": "", "GroundTruth": 1}]}, "Records[0].InferenceId"),
        ({"Records": [{"InferenceId": "x" * 65, "GroundTruth": 1}]}, "Records[0].InferenceId"),
        ({"Records": [{"InferenceId": "a", "GroundTruth": True}]}, "Records[0].GroundTruth"),
        ({"Records": [{"InferenceId": "a", "GroundTruth": None}]}, "Records[0].GroundTruth"),
        ({"Records": [{"InferenceId": "a", "GroundTruth": " "}]}, "Records[0].GroundTruth"),
        ({"Records": [{"InferenceId": "a", "GroundTruth": 1, "Extra": 2}]}, "Records[0]"),
    ],
)
def test_a_malformed_batch_is_refused_naming_the_field(document: object, quoted: str) -> None:
    with pytest.raises(ValidationError, match=quoted.replace("[", r"\[").replace("]", r"\]")):
        parse_feedback(document)


def test_a_batch_of_more_than_1000_is_refused() -> None:
    records = [{"InferenceId": str(i), "GroundTruth": 1} for i in range(1001)]
    with pytest.raises(ValidationError, match="1 to 1000"):
        parse_feedback({"Records": records})


@pytest.mark.parametrize(
    ("ids", "known", "labelled", "accepted", "rejected"),
    [
        (["a", "b"], {"a", "b"}, set(), ["a", "b"], []),
        (["a", "z"], {"a"}, set(), ["a"], [("z", UNKNOWN)]),
        (["a", "b"], {"a", "b"}, {"b"}, ["a"], [("b", LABELLED)]),
        (["a", "a"], {"a"}, set(), ["a"], [("a", REPEATED)]),
        (["z", "z"], set(), set(), [], [("z", UNKNOWN), ("z", REPEATED)]),
    ],
)
def test_each_record_is_accepted_or_rejected_with_its_reason(
    ids: list[str],
    known: set[str],
    labelled: set[str],
    accepted: list[str],
    rejected: list[tuple[str, str]],
) -> None:
    batch = [GroundTruth(i, 1.0) for i in ids]
    taken, refused = sort_feedback(batch, known, labelled)
    assert [g.inference_id for g in taken] == accepted
    assert refused == [Rejection(i, reason) for i, reason in rejected]


def test_ground_truth_lines_are_model_monitors_records() -> None:
    lines = ground_truth_lines([GroundTruth("req-1", 1.0), GroundTruth("req-2", "a,b")])
    first, second = (json.loads(line) for line in lines.decode().splitlines())
    assert first == {
        "groundTruthData": {"data": "1", "encoding": "CSV"},
        "eventMetadata": {"eventId": "req-1"},
        "eventVersion": "0",
    }
    assert second["groundTruthData"]["data"] == '"a,b"'


@pytest.mark.parametrize(("label", "cell"), [(1.0, "1"), (0.25, "0.25"), ("cat", "cat")])
def test_csv_value(label: float | str, cell: str) -> None:
    assert csv_value(label) == cell


def test_ground_truth_files_go_under_endpoint_and_utc_hour() -> None:
    # 2026-03-04T05:06:07.089Z
    file_id = uuid.UUID(int=7)
    uri = ground_truth_uri(S3Uri("b", "gt"), "churn", 1772600767.089, file_id)
    assert str(uri) == f"s3://b/gt/churn/2026/03/04/05/06-07-089-{file_id}.jsonl"
