"""One captured invocation as SageMaker writes it: a JSON object on one line.

The format (AWS docs, "Capture data from real-time endpoint"; what Model Monitor's analyzer reads
with ``dataset_format = {"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput",
"endpointOutput"]}}``)::

    {"captureData": {
       "endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                          "data": "1,2,3", "encoding": "CSV"},
       "endpointOutput": {"observedContentType": "text/csv", "mode": "OUTPUT",
                          "data": "0.5", "encoding": "CSV"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<if given>",
                       "inferenceTime": "2026-01-01T00:00:00Z"},
     "eventVersion": "0"}

``encoding`` is ``CSV`` when the observed content type is one of ``CsvContentTypes``, ``JSON``
when one of ``JsonContentTypes`` (``data`` then holds the text itself), else ``BASE64``. Only the
directions ``CaptureOptions`` asks for appear.
"""

from __future__ import annotations

import base64
import time
from enum import Enum

import orjson

from kiln.runtime.media_types import media_type
from kiln.services.hosting.invocations import CaptureConfig, InvocationRecord

EVENT_VERSION = "0"


class Encoding(Enum):
    """How a captured body is written into ``data``."""

    CSV = "CSV"
    JSON = "JSON"
    BASE64 = "BASE64"


def choose_encoding(content_type: str | None, config: CaptureConfig) -> Encoding:
    """The encoding SageMaker records a body of ``content_type`` with under ``config``."""
    observed = media_type(content_type)
    if observed and observed in {media_type(t) for t in config.csv_content_types}:
        return Encoding.CSV
    if observed and observed in {media_type(t) for t in config.json_content_types}:
        return Encoding.JSON
    return Encoding.BASE64


def encode_data(body: bytes, encoding: Encoding) -> tuple[str, Encoding]:
    """``body`` as ``data`` text, and the encoding it really got.

    A body declared CSV or JSON that is not UTF-8 cannot be text in a JSON line without losing
    bytes, so it is recorded as BASE64 instead (its ``encoding`` says so, and readers decode it).
    """
    if encoding is not Encoding.BASE64:
        try:
            return body.decode("utf-8"), encoding
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), Encoding.BASE64


def inference_time(epoch_seconds: float) -> str:
    """ISO-8601 UTC to the second, as AWS writes ``inferenceTime``: ``2026-01-01T00:00:00Z``."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_seconds))


def _direction(
    mode: str, content_type: str | None, body: bytes, config: CaptureConfig
) -> dict[str, str]:
    data, encoding = encode_data(body, choose_encoding(content_type, config))
    return {
        "observedContentType": content_type or "",
        "mode": mode,
        "data": data,
        "encoding": encoding.value,
    }


def capture_object(record: InvocationRecord, config: CaptureConfig) -> dict[str, object]:
    """The capture object of ``record`` under ``config`` (keys in SageMaker's order)."""
    capture: dict[str, object] = {}
    if config.capture_input:
        capture["endpointInput"] = _direction(
            "INPUT", record.request_content_type, record.request_body, config
        )
    if config.capture_output:
        capture["endpointOutput"] = _direction(
            "OUTPUT", record.response_content_type, record.response_body, config
        )
    metadata = {"eventId": record.event_id}
    if record.inference_id is not None:
        metadata["inferenceId"] = record.inference_id
    metadata["inferenceTime"] = inference_time(record.arrived_at)
    return {"captureData": capture, "eventMetadata": metadata, "eventVersion": EVENT_VERSION}


def capture_line(record: InvocationRecord, config: CaptureConfig) -> bytes:
    """``record`` as one line of a capture file, newline included."""
    return orjson.dumps(capture_object(record, config)) + b"\n"
