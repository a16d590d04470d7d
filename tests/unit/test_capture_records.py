"""SageMaker's capture line: encoding per content type, directions, metadata."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest

from kiln.services.hosting.invocations import CaptureConfig, InvocationRecord, Outcome
from kiln.services.monitoring.capture.records import (
    Encoding,
    capture_line,
    capture_object,
    choose_encoding,
    encode_data,
    inference_time,
)

CONFIG = CaptureConfig(
    sampling_percentage=100,
    destination="s3://capture/data",
    capture_input=True,
    capture_output=True,
    csv_content_types=frozenset({"text/csv"}),
    json_content_types=frozenset({"application/json", "application/jsonlines"}),
)


def invocation(**changes: object) -> InvocationRecord:
    record = InvocationRecord(
        endpoint="ep",
        variant="AllTraffic",
        is_shadow=False,
        replica="r-1",
        event_id="11111111-2222-3333-4444-555555555555",
        inference_id=None,
        arrived_at=1_767_225_600.25,  # 2026-01-01T00:00:00.25Z
        outcome=Outcome.ANSWERED,
        model_status=200,
        model_latency_us=1500,
        overhead_latency_us=200,
        request_body=b"1,2,3",
        request_content_type="text/csv",
        request_accept=None,
        response_body=b'{"predictions": [1]}',
        response_content_type="application/json",
        capture=CONFIG,
    )
    return replace(record, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/csv", Encoding.CSV),
        ("text/csv; charset=utf-8", Encoding.CSV),  # parameters do not count
        ("Text/CSV", Encoding.CSV),  # media types are case-insensitive
        ("application/json", Encoding.JSON),
        ("application/jsonlines", Encoding.JSON),
        ("application/x-npy", Encoding.BASE64),  # in neither list
        ("text/plain", Encoding.BASE64),
        ("", Encoding.BASE64),
        (None, Encoding.BASE64),
    ],
)
def test_encoding_follows_the_configured_content_types(
    content_type: str | None, expected: Encoding
) -> None:
    assert choose_encoding(content_type, CONFIG) is expected


def test_no_content_type_lists_means_base64_for_everything() -> None:
    bare = replace(CONFIG, csv_content_types=frozenset(), json_content_types=frozenset())
    assert choose_encoding("text/csv", bare) is Encoding.BASE64
    assert choose_encoding("application/json", bare) is Encoding.BASE64


@pytest.mark.parametrize(
    ("body", "encoding", "expected"),
    [
        (b"1,2\n3,4\n", Encoding.CSV, ("1,2\n3,4\n", Encoding.CSV)),
        (b'{"a": "\xc3\xa9"}', Encoding.JSON, ('{"a": "\u00e9"}', Encoding.JSON)),
        (b"\x93NUMPY", Encoding.BASE64, ("k05VTVBZ", Encoding.BASE64)),
        # declared CSV but not UTF-8: kept whole as base64, and the encoding says so
        (b"\xff\xfe1,2", Encoding.CSV, ("//4xLDI=", Encoding.BASE64)),
        (b"", Encoding.JSON, ("", Encoding.JSON)),
    ],
)
def test_data_is_text_or_base64(
    body: bytes, encoding: Encoding, expected: tuple[str, Encoding]
) -> None:
    assert encode_data(body, encoding) == expected


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [
        (0, "1970-01-01T00:00:00Z"),
        (1_767_225_600.999, "2026-01-01T00:00:00Z"),  # to the second, as AWS writes it
        (1_644_859_549, "2022-02-14T17:25:49Z"),  # the AWS docs' example
    ],
)
def test_inference_time_is_iso_8601_utc(epoch: float, expected: str) -> None:
    assert inference_time(epoch) == expected


def test_line_has_sagemakers_shape_and_key_order() -> None:
    line = capture_line(invocation(), CONFIG)
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    parsed = json.loads(line)
    assert list(parsed) == ["captureData", "eventMetadata", "eventVersion"]
    assert parsed == {
        "captureData": {
            "endpointInput": {
                "observedContentType": "text/csv",
                "mode": "INPUT",
                "data": "1,2,3",
                "encoding": "CSV",
            },
            "endpointOutput": {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": '{"predictions": [1]}',
                "encoding": "JSON",
            },
        },
        "eventMetadata": {
            "eventId": "11111111-2222-3333-4444-555555555555",
            "inferenceTime": "2026-01-01T00:00:00Z",
        },
        "eventVersion": "0",
    }


def test_inference_id_is_written_only_when_given() -> None:
    metadata = capture_object(invocation(inference_id="req-7"), CONFIG)["eventMetadata"]
    assert metadata == {
        "eventId": "11111111-2222-3333-4444-555555555555",
        "inferenceId": "req-7",
        "inferenceTime": "2026-01-01T00:00:00Z",
    }


@pytest.mark.parametrize(
    ("capture_input", "capture_output", "directions"),
    [
        (True, True, ["endpointInput", "endpointOutput"]),
        (True, False, ["endpointInput"]),  # CaptureMode Input
        (False, True, ["endpointOutput"]),  # CaptureMode Output
    ],
)
def test_only_the_asked_directions_are_written(
    capture_input: bool, capture_output: bool, directions: list[str]
) -> None:
    config = replace(CONFIG, capture_input=capture_input, capture_output=capture_output)
    assert list(capture_object(invocation(), config)["captureData"]) == directions  # type: ignore[call-overload]


def test_binary_bodies_round_trip_through_base64() -> None:
    body = bytes(range(256))
    record = invocation(request_body=body, request_content_type="application/octet-stream")
    written = json.loads(capture_line(record, CONFIG))["captureData"]["endpointInput"]
    assert written["encoding"] == "BASE64"
    assert base64.b64decode(written["data"]) == body
    assert written["observedContentType"] == "application/octet-stream"


def test_a_missing_response_content_type_is_recorded_empty_and_base64() -> None:
    record = invocation(response_content_type=None, response_body=b"ok")
    written = json.loads(capture_line(record, CONFIG))["captureData"]["endpointOutput"]
    assert written == {
        "observedContentType": "",
        "mode": "OUTPUT",
        "data": "b2s=",
        "encoding": "BASE64",
    }
