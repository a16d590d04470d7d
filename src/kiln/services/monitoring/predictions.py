"""A model's answer read as one prediction (a number or a class label), where its type allows.

Read: ``text/csv`` (one value), JSON scalars, one-element JSON lists (nested too: ``[[0.9]]``)
and ``{"predictions": [...]}`` (TensorFlow Serving's and the sagemaker SDK's shape). A batch
answer (several values) is not one prediction: feedback labels one InferenceId with one value.
"""

from __future__ import annotations

import csv
import io
import math

import orjson

from kiln.db.inferences import Label
from kiln.runtime.media_types import media_type

MAX_BODY_BYTES = 16 * 1024
"""Answers longer than this are not one prediction; the log does not hold on to them."""


def decode_prediction(body: bytes, content_type: str | None) -> Label | None:
    """``body`` as one number or label; None when it holds none or several."""
    if not body or len(body) > MAX_BODY_BYTES:
        return None
    media = media_type(content_type)
    if media == "text/csv":
        return _from_csv(body)
    if media == "application/json" or media.endswith("+json"):
        return _from_json(body)
    return None


def _from_csv(body: bytes) -> Label | None:
    try:
        rows = [row for row in csv.reader(io.StringIO(body.decode())) if row]
    except (UnicodeDecodeError, csv.Error):
        return None
    if len(rows) != 1 or len(rows[0]) != 1:
        return None
    return as_label(rows[0][0].strip())


def _from_json(body: bytes) -> Label | None:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, dict) and set(value) == {"predictions"}:
        value = value["predictions"]
    while isinstance(value, list) and len(value) == 1:
        value = value[0]
    return _scalar(value)


def _scalar(value: object) -> Label | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, str):
        return as_label(value)
    return None


def as_label(text: str) -> Label | None:
    """A CSV cell or JSON string as a label: numeric text becomes a number; empty is None."""
    if not text:
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return number if math.isfinite(number) else text
