"""``DataCaptureConfig``: parsed and validated into the ``CaptureConfig`` the data plane samples by.

Validation raises ``ValidationException``s that name the field, before anything is written.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.errors import ValidationError
from kiln.services.hosting.invocations import CaptureConfig

_MODES = ("Input", "Output", "InputAndOutput")


@dataclass(frozen=True, slots=True)
class DataCapture:
    """An endpoint config's ``DataCaptureConfig``: whether it is on, and what it asks for."""

    enabled: bool
    config: CaptureConfig
    kms_key_id: str

    @property
    def active(self) -> CaptureConfig | None:
        """The config the data plane samples by, or None when capture is off."""
        return self.config if self.enabled else None

    def to_dict(self) -> dict[str, Any]:
        """The ``DataCaptureConfig`` request shape (as stored)."""
        modes = [m for m, on in (("Input", self.config.capture_input),
                                 ("Output", self.config.capture_output)) if on]  # fmt: skip
        answer: dict[str, Any] = {
            "EnableCapture": self.enabled,
            "InitialSamplingPercentage": self.config.sampling_percentage,
            "DestinationS3Uri": self.config.destination,
            "CaptureOptions": [{"CaptureMode": m} for m in modes],
        }
        if self.kms_key_id:
            answer["KmsKeyId"] = self.kms_key_id
        header: dict[str, list[str]] = {}
        if self.config.csv_content_types:
            header["CsvContentTypes"] = sorted(self.config.csv_content_types)
        if self.config.json_content_types:
            header["JsonContentTypes"] = sorted(self.config.json_content_types)
        if header:
            answer["CaptureContentTypeHeader"] = header
        return answer

    def summary(self) -> dict[str, Any]:
        """``DescribeEndpoint``'s ``DataCaptureConfigSummary``."""
        return {
            "EnableCapture": self.enabled,
            "CaptureStatus": "Started" if self.enabled else "Stopped",
            "CurrentSamplingPercentage": self.config.sampling_percentage,
            "DestinationS3Uri": self.config.destination,
            "KmsKeyId": self.kms_key_id,
        }


def parse_data_capture(request: Mapping[str, Any] | None) -> DataCapture | None:
    """``DataCaptureConfig`` as a request gives it, validated; None when absent."""
    if not request:
        return None
    percentage = request.get("InitialSamplingPercentage")
    if (
        not isinstance(percentage, int)
        or isinstance(percentage, bool)
        or not 0 <= percentage <= 100
    ):
        raise ValidationError(
            "DataCaptureConfig.InitialSamplingPercentage must be an integer from 0 to 100, "
            f"not {percentage!r}"
        )
    destination = request.get("DestinationS3Uri", "")
    if (
        not isinstance(destination, str)
        or not destination.startswith("s3://")
        or (len(destination) <= len("s3://"))
    ):
        raise ValidationError(
            f"DataCaptureConfig.DestinationS3Uri must be an s3:// URI, not {destination!r}"
        )
    options = request.get("CaptureOptions") or []
    modes = [o.get("CaptureMode") if isinstance(o, Mapping) else None for o in options]
    if not modes or any(m not in _MODES for m in modes):
        raise ValidationError(
            "DataCaptureConfig.CaptureOptions must list CaptureMode Input and/or Output, "
            f"not {options!r}"
        )
    header = request.get("CaptureContentTypeHeader") or {}
    csv = _content_types(header, "CsvContentTypes")
    json = _content_types(header, "JsonContentTypes")
    config = CaptureConfig(
        sampling_percentage=percentage,
        destination=destination,
        capture_input=any(m in ("Input", "InputAndOutput") for m in modes),
        capture_output=any(m in ("Output", "InputAndOutput") for m in modes),
        csv_content_types=csv,
        json_content_types=json,
    )
    return DataCapture(
        bool(request.get("EnableCapture", True)), config, request.get("KmsKeyId", "")
    )


def _content_types(header: Mapping[str, Any], key: str) -> frozenset[str]:
    values = header.get(key) or []
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        raise ValidationError(
            f"DataCaptureConfig.CaptureContentTypeHeader.{key} must be a list of content "
            f"types, not {values!r}"
        )
    return frozenset(values)
