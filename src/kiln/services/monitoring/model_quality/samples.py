"""Joined pairs read into arrays: the label, the prediction and (binary) the score of each.

Binary classification: the label must be 0 or 1 (``true``/``false`` also read). With a
``probability_attribute`` the score is that probability and the predicted class is 1 when it is
at least ``probability_threshold`` (0.5 when unset); without one, the predicted class is read at
the ``inference_attribute`` and also serves as the score. Multiclass: classes are compared as
text, a whole number written as ``1.0`` being the class ``1``. Regression: numbers.
A pair whose label or prediction cannot be read so is counted as unreadable, never fatal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from kiln.services.monitoring.model_quality.attributes import (
    UnreadableValue,
    value_from_csv,
    value_from_json,
)
from kiln.services.monitoring.model_quality.join import Pair
from kiln.services.monitoring.model_quality.records import Body

DEFAULT_PROBABILITY_THRESHOLD = 0.5

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class ClassSamples:
    """Classification pairs as class indices into ``classes`` (binary: 0 and 1)."""

    classes: tuple[str, ...]
    actual: IntArray
    predicted: IntArray
    scores: FloatArray
    unreadable: int


@dataclass(frozen=True)
class RegressionSamples:
    """Regression pairs as numbers."""

    actual: FloatArray
    predicted: FloatArray
    unreadable: int


def read_value(body: Body, attribute: str | None) -> Any:
    """The value at ``attribute`` in ``body`` (CSV column index or JSON path)."""
    if body.is_json:
        return value_from_json(body.text, attribute)
    return value_from_csv(body.text, attribute)


def binary_samples(
    pairs: Sequence[Pair],
    inference_attribute: str | None,
    probability_attribute: str | None,
    threshold: float | None,
) -> ClassSamples:
    """Binary pairs: labels and predictions in {0, 1}, scores in [0, 1] or the prediction."""
    cut = DEFAULT_PROBABILITY_THRESHOLD if threshold is None else threshold
    rows: list[tuple[int, int, float]] = []
    for pair in pairs:
        try:
            label = as_binary(read_value(pair.label, None))
            if probability_attribute is not None:
                score = as_number(read_value(pair.answer, probability_attribute))
                predicted = int(score >= cut)
            else:
                predicted = as_binary(read_value(pair.answer, inference_attribute))
                score = float(predicted)
        except UnreadableValue:
            continue
        rows.append((label, predicted, score))
    actual, predicted_classes, scores = _columns(rows)
    return ClassSamples(
        ("0", "1"),
        actual.astype(np.int64),
        predicted_classes.astype(np.int64),
        scores,
        len(pairs) - len(rows),
    )


def multiclass_samples(pairs: Sequence[Pair], inference_attribute: str | None) -> ClassSamples:
    """Multiclass pairs: classes as text, indexed into their sorted union."""
    rows: list[tuple[str, str]] = []
    for pair in pairs:
        try:
            label = as_class(read_value(pair.label, None))
            predicted = as_class(read_value(pair.answer, inference_attribute))
        except UnreadableValue:
            continue
        rows.append((label, predicted))
    classes = sort_classes({c for row in rows for c in row})
    index = {c: i for i, c in enumerate(classes)}
    return ClassSamples(
        classes,
        np.array([index[a] for a, _ in rows], dtype=np.int64),
        np.array([index[p] for _, p in rows], dtype=np.int64),
        np.zeros(len(rows)),
        len(pairs) - len(rows),
    )


def regression_samples(pairs: Sequence[Pair], inference_attribute: str | None) -> RegressionSamples:
    """Regression pairs as (label, prediction) numbers."""
    rows: list[tuple[float, float]] = []
    for pair in pairs:
        try:
            rows.append(
                (
                    as_number(read_value(pair.label, None)),
                    as_number(read_value(pair.answer, inference_attribute)),
                )
            )
        except UnreadableValue:
            continue
    values = np.array(rows, dtype=np.float64).reshape(-1, 2)
    return RegressionSamples(values[:, 0].copy(), values[:, 1].copy(), len(pairs) - len(rows))


def as_number(value: Any) -> float:
    """``value`` as a finite float."""
    if isinstance(value, bool):
        return float(value)
    try:
        number = float(value)
    except (TypeError, ValueError) as error:
        raise UnreadableValue(f"not a number: {value!r}") from error
    if not math.isfinite(number):
        raise UnreadableValue(f"not a finite number: {value!r}")
    return number


def as_binary(value: Any) -> int:
    """``value`` as a binary class: 0 or 1 (``true``/``false`` read as 1/0)."""
    if isinstance(value, str) and value.strip().lower() in {"true", "false"}:
        return int(value.strip().lower() == "true")
    number = as_number(value)
    if number not in (0.0, 1.0):
        raise UnreadableValue(f"a binary class is 0 or 1, not {value!r}")
    return int(number)


def as_class(value: Any) -> str:
    """``value`` as a class name: whole numbers without ``.0``, text stripped."""
    if isinstance(value, bool):
        return str(int(value))
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        return text
    return str(int(number)) if number.is_integer() else text


def sort_classes(classes: set[str]) -> tuple[str, ...]:
    """Classes in numeric order when all are numbers, else in text order."""
    try:
        return tuple(sorted(classes, key=float))
    except ValueError:
        return tuple(sorted(classes))


def _columns(rows: list[tuple[int, int, float]]) -> tuple[FloatArray, FloatArray, FloatArray]:
    values = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return values[:, 0].copy(), values[:, 1].copy(), values[:, 2].copy()
