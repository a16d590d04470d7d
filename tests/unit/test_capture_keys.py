"""Where capture files go: SageMaker's endpoint/variant/yyyy/mm/dd/hh/MM-SS-mmm-uuid.jsonl."""

from __future__ import annotations

import uuid

import pytest

from kiln.errors import ValidationError
from kiln.services.monitoring.capture.keys import (
    FileGroup,
    capture_file_uri,
    file_name,
    hour_folder,
    hour_of,
)

FILE_ID = uuid.UUID("cee08c3a-02ce-4790-b8ba-3173cfc12813")
# 2020-03-11T12:32:18.648Z, the time in AWS's sample key .../2020/03/11/12/32-18-648-<uuid>.jsonl
SAMPLE = 1_583_929_938.648


@pytest.mark.parametrize(
    ("epoch", "hour"),
    [
        (SAMPLE, 1_583_928_000),  # 12:32:18 → 12:00:00
        (1_583_928_000, 1_583_928_000),  # on the hour: its own hour
        (1_583_927_999.999, 1_583_924_400),  # a millisecond before: the hour before
    ],
)
def test_hour_of_is_the_start_of_the_utc_hour(epoch: float, hour: int) -> None:
    assert hour_of(epoch) == hour


def test_hour_folder_is_yyyy_mm_dd_hh_in_utc() -> None:
    assert hour_folder(hour_of(SAMPLE)) == "2020/03/11/12"


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (SAMPLE, "32-18-648-cee08c3a-02ce-4790-b8ba-3173cfc12813.jsonl"),
        (1_583_928_000.0, "00-00-000-cee08c3a-02ce-4790-b8ba-3173cfc12813.jsonl"),
        (1_583_928_000.007, "00-00-007-cee08c3a-02ce-4790-b8ba-3173cfc12813.jsonl"),
    ],
)
def test_file_name_is_minute_second_millis_and_uuid(first: float, expected: str) -> None:
    assert file_name(first, FILE_ID) == expected


@pytest.mark.parametrize(
    ("destination", "key"),
    [
        ("s3://bucket/model-monitor/data-capture", "model-monitor/data-capture/"),
        ("s3://bucket/model-monitor/data-capture/", "model-monitor/data-capture/"),
        ("s3://bucket", ""),
    ],
)
def test_capture_file_uri_is_sagemakers_layout(destination: str, key: str) -> None:
    group = FileGroup(destination, "churn-ep", "AllTraffic", hour_of(SAMPLE))
    uri = capture_file_uri(group, SAMPLE, FILE_ID)
    assert uri.bucket == "bucket"
    assert uri.key == (
        f"{key}churn-ep/AllTraffic/2020/03/11/12/32-18-648-cee08c3a-02ce-4790-b8ba-3173cfc12813.jsonl"
    )


def test_a_destination_that_is_no_s3_uri_is_refused() -> None:
    group = FileGroup("https://example.com/x", "ep", "v", 0)
    with pytest.raises(ValidationError, match="https://example.com/x"):
        capture_file_uri(group, 0, FILE_ID)
