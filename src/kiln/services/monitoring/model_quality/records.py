"""Captured answers and ground-truth labels read from their JSON Lines files.

Captures are ``sagemakerCaptureJson`` lines (see ``monitoring.capture.records``): the answer is
``captureData.endpointOutput.data`` in its ``encoding`` (``CSV``, ``JSON`` or ``BASE64``; a
BASE64 body is JSON when its ``observedContentType`` says so, else CSV). A capture is keyed by
``eventMetadata.inferenceId``, or by its ``eventId`` when it has none — Model Monitor's merge
rule (``model-monitor-model-quality-merge.md``). Labels are ground-truth lines (see
``monitoring.ground_truth``) keyed by ``eventMetadata.eventId``. A line that is not such an
object is counted as malformed and skipped, never fatal.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson


@dataclass(frozen=True)
class Body:
    """A captured or fed-back payload as text, and whether it is JSON (else CSV)."""

    text: str
    is_json: bool


@dataclass(frozen=True)
class CapturedAnswer:
    """One captured invocation's answer and the id it joins on."""

    key: str
    body: Body
    by_event_id: bool


@dataclass(frozen=True)
class FedBackLabel:
    """One ground-truth line: the inference id it labels and the label's payload."""

    key: str
    body: Body


@dataclass(frozen=True)
class CaptureRead:
    """Every answer read from capture files, and the lines that gave none."""

    answers: tuple[CapturedAnswer, ...]
    malformed_lines: int
    without_output: int
    without_id: int


@dataclass(frozen=True)
class LabelRead:
    """Every label read from ground-truth files, and the lines that gave none."""

    labels: tuple[FedBackLabel, ...]
    malformed_lines: int


def read_captures(paths: Sequence[Path]) -> CaptureRead:
    """The answers in ``paths`` (read in sorted order), with what could not be read counted."""
    answers: list[CapturedAnswer] = []
    malformed = without_output = without_id = 0
    for line in _objects(paths):
        if line is None:
            malformed += 1
            continue
        output = _get(line, "captureData", "endpointOutput")
        key, by_event_id = _capture_key(line)
        if output is None:
            without_output += 1
        elif key is None:
            without_id += 1
        elif (body := _body(output)) is None:
            malformed += 1
        else:
            answers.append(CapturedAnswer(key, body, by_event_id))
    return CaptureRead(tuple(answers), malformed, without_output, without_id)


def read_labels(paths: Sequence[Path]) -> LabelRead:
    """The labels in ``paths`` (read in sorted order), with unreadable lines counted."""
    labels: list[FedBackLabel] = []
    malformed = 0
    for line in _objects(paths):
        key = _text(_get(line, "eventMetadata", "eventId")) if line is not None else None
        data = _get(line, "groundTruthData") if line is not None else None
        body = _body(data) if data is not None else None
        if key is None or body is None:
            malformed += 1
        else:
            labels.append(FedBackLabel(key, body))
    return LabelRead(tuple(labels), malformed)


def _objects(paths: Sequence[Path]) -> Iterator[dict[str, Any] | None]:
    # Sorted paths are time order under the yyyy/mm/dd/hh layout, so a later label wins.
    for path in sorted(paths):
        with path.open("rb") as lines:
            for raw in lines:
                if not raw.strip():
                    continue
                try:
                    parsed = orjson.loads(raw)
                except orjson.JSONDecodeError:
                    yield None
                    continue
                yield parsed if isinstance(parsed, dict) else None


def _capture_key(line: dict[str, Any]) -> tuple[str | None, bool]:
    inference_id = _text(_get(line, "eventMetadata", "inferenceId"))
    if inference_id is not None:
        return inference_id, False
    return _text(_get(line, "eventMetadata", "eventId")), True


def _body(direction: Any) -> Body | None:
    if not isinstance(direction, dict) or not isinstance(direction.get("data"), str):
        return None
    data: str = direction["data"]
    encoding = direction.get("encoding", "CSV")
    observed = str(direction.get("observedContentType", "")).lower()
    if encoding == "CSV":
        return Body(data, is_json=False)
    if encoding == "JSON":
        return Body(data, is_json=True)
    if encoding == "BASE64":
        try:
            text = base64.b64decode(data, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return Body(text, is_json="json" in observed)
    return None


def _get(document: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
