"""Where a prediction sits in a captured answer: SageMaker's ``InferenceAttribute`` and
``ProbabilityAttribute``.

The SageMaker Python SDK documents both as "Index or JSONpath": for a CSV answer the attribute is
a zero-based column index (``"0"``); for a JSON answer it is a path of keys and list indices
(``"predictions[0].score"``, ``"$.score"``, or ``"0"`` on a JSON list). With no attribute, the
prediction is the first CSV column, or the JSON answer itself when it is a scalar (the first
element when it is a list).
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any

import orjson

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


class UnreadableValue(ValueError):
    """The answer (or label) has no readable value where the attribute points."""


def value_from_csv(text: str, attribute: str | None) -> str:
    """The cell ``attribute`` (a column index) of a one-record CSV answer."""
    rows = [row for row in csv.reader(io.StringIO(text)) if row]
    if len(rows) != 1:
        raise UnreadableValue(f"expected one CSV record, got {len(rows)}")
    index = _column_index(attribute)
    if index >= len(rows[0]):
        raise UnreadableValue(f"column {index} is past the record's {len(rows[0])} columns")
    return rows[0][index].strip()


def value_from_json(text: str, attribute: str | None) -> Any:
    """The value at ``attribute`` (a key/index path) of a JSON answer."""
    try:
        document: Any = orjson.loads(text)
    except orjson.JSONDecodeError as error:
        raise UnreadableValue(f"not JSON: {error}") from error
    if attribute is None:
        return _scalar(document)
    for key, index in _steps(attribute):
        document = _step(document, key, index)
    return _scalar(document)


def _column_index(attribute: str | None) -> int:
    if attribute is None:
        return 0
    if not attribute.strip().isdigit():
        raise UnreadableValue(f"a CSV answer needs a column index, not {attribute!r}")
    return int(attribute)


def _steps(attribute: str) -> list[tuple[str | None, int | None]]:
    path = attribute.strip().removeprefix("$").removeprefix(".")
    steps: list[tuple[str | None, int | None]] = []
    for key, index in _STEP.findall(path):
        steps.append((key or None, int(index) if index else None))
    if not steps:
        raise UnreadableValue(f"cannot read the attribute path {attribute!r}")
    return steps


def _step(document: Any, key: str | None, index: int | None) -> Any:
    if key is not None and isinstance(document, list) and key.isdigit():
        index, key = int(key), None
    if key is not None:
        if not isinstance(document, dict) or key not in document:
            raise UnreadableValue(f"no key {key!r} in the answer")
        return document[key]
    if not isinstance(document, list) or index is None or index >= len(document):
        raise UnreadableValue(f"no element [{index}] in the answer")
    return document[index]


def _scalar(value: Any) -> Any:
    if isinstance(value, list) and value:
        value = value[0]
    if isinstance(value, dict | list) or value is None:
        raise UnreadableValue("the value at the attribute is not a single value")
    return value
