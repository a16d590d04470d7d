"""A model's answer read as one prediction, where its content type allows."""

from __future__ import annotations

import pytest

from kiln.db.inferences import Label
from kiln.services.monitoring.predictions import MAX_BODY_BYTES, decode_prediction


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b"0.0254181120544672\n", "text/csv", 0.0254181120544672),
        (b"1", "text/csv; charset=utf-8", 1.0),
        (b"cat\n", "text/csv", "cat"),
        (b"0.1,0.9", "text/csv", None),  # two values: not one prediction
        (b"1\n0\n", "text/csv", None),  # a batch
        (b"0.7", "application/json", 0.7),
        (b'"dog"', "application/json", "dog"),
        (b"[[3]]", "application/json", 3.0),
        (b'{"predictions": [1]}', "application/json", 1.0),
        (b'{"predictions": [1, 0]}', "application/json", None),
        (b'{"label": 1}', "application/json", None),
        (b"true", "application/json", None),
        (b"not json", "application/json", None),
        (b"\x93NUMPY", "application/x-npy", None),
        (b"", "text/csv", None),
        (b"1" * (MAX_BODY_BYTES + 1), "text/csv", None),
    ],
)
def test_decode_prediction(body: bytes, content_type: str, expected: Label | None) -> None:
    assert decode_prediction(body, content_type) == expected
