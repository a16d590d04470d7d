"""DataCaptureConfig parsing: what is accepted, and the ValidationException for what is not."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.errors import ValidationError
from kiln.services.hosting.capture_config import parse_data_capture
from kiln.services.hosting.invocations import CaptureConfig

GOOD: dict[str, Any] = {
    "EnableCapture": True,
    "InitialSamplingPercentage": 50,
    "DestinationS3Uri": "s3://bucket/capture",
    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
}


def test_absent_config_is_none() -> None:
    assert parse_data_capture(None) is None


def test_good_config_parses_to_the_capture_config() -> None:
    capture = parse_data_capture(GOOD)
    assert capture is not None
    assert capture.enabled
    assert capture.active == CaptureConfig(
        50, "s3://bucket/capture", True, True, frozenset({"text/csv"}), frozenset()
    )


def test_disabled_capture_has_no_active_config_and_reports_stopped() -> None:
    capture = parse_data_capture({**GOOD, "EnableCapture": False})
    assert capture is not None
    assert capture.active is None
    assert capture.summary()["CaptureStatus"] == "Stopped"


@pytest.mark.parametrize(
    ("mode", "wants_input", "wants_output"),
    [("Input", True, False), ("Output", False, True), ("InputAndOutput", True, True)],
)
def test_capture_modes(mode: str, wants_input: bool, wants_output: bool) -> None:
    capture = parse_data_capture({**GOOD, "CaptureOptions": [{"CaptureMode": mode}]})
    assert capture is not None
    assert (capture.config.capture_input, capture.config.capture_output) == (
        wants_input,
        wants_output,
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"InitialSamplingPercentage": 101}, "InitialSamplingPercentage"),
        ({"InitialSamplingPercentage": -1}, "InitialSamplingPercentage"),
        ({"InitialSamplingPercentage": "50"}, "InitialSamplingPercentage"),
        ({"DestinationS3Uri": "https://bucket/x"}, "DestinationS3Uri"),
        ({"DestinationS3Uri": "s3://"}, "DestinationS3Uri"),
        ({"CaptureOptions": []}, "CaptureOptions"),
        ({"CaptureOptions": [{"CaptureMode": "Both"}]}, "CaptureOptions"),
        ({"CaptureContentTypeHeader": {"JsonContentTypes": [""]}}, "JsonContentTypes"),
    ],
)
def test_bad_values_are_validation_errors_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError, match=field):
        parse_data_capture({**GOOD, **change})


def test_stored_form_parses_back_to_the_same_capture() -> None:
    capture = parse_data_capture(GOOD)
    assert capture is not None
    assert parse_data_capture(capture.to_dict()) == capture
