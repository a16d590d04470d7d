"""Reading one column's texts as numbers, and the type a column's values add up to.

A value is missing when it is empty or only blanks (Spark's CSV reader reads those as null). A
present value is *integral* when it is an optionally signed run of digits, *numeric* when it is
a decimal number with an optional exponent; ``nan``, ``inf`` and the like are strings, as they
are to SageMaker's analyzer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from kiln.services.monitoring.baselines.statistics import InferredType

_INTEGRAL = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


@dataclass(frozen=True)
class ParsedColumn:
    """One chunk of a column: present values, and those of them that are numbers."""

    present: npt.NDArray[np.str_]
    numbers: npt.NDArray[np.float64]
    all_numeric: bool
    all_integral: bool


def present_values(texts: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.str_], int]:
    """A chunk's present (non-blank) texts, and how many were missing."""
    present = texts[np.char.str_len(np.char.strip(texts)) > 0]
    return present, len(texts) - len(present)


def parse_column(texts: npt.NDArray[np.str_]) -> tuple[ParsedColumn, int]:
    """Split a chunk of texts into present values and their numbers; also count the missing."""
    present, missing = present_values(texts)
    numbers, all_numeric = to_numbers(present)
    all_integral = all_numeric and _all_integral(present)
    return ParsedColumn(present, numbers, all_numeric, all_integral), missing


def combine_type(
    current: InferredType, all_numeric: bool, all_integral: bool, any_present: bool
) -> InferredType:
    """The type a column has after one more chunk: numbers widen to strings, never back."""
    if not any_present:
        return current
    chunk = (
        InferredType.INTEGRAL
        if all_integral
        else InferredType.FRACTIONAL
        if all_numeric
        else InferredType.STRING
    )
    order = [
        InferredType.UNKNOWN,
        InferredType.INTEGRAL,
        InferredType.FRACTIONAL,
        InferredType.STRING,
    ]
    return max(current, chunk, key=order.index)


def to_numbers(present: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.float64], bool]:
    """The present values that are numbers, and whether all of them were."""
    try:
        numbers = present.astype(np.float64)
    except (ValueError, OverflowError):
        return _to_numbers_one_by_one(present)
    if np.isfinite(numbers).all():
        return numbers, True
    return _to_numbers_one_by_one(present)


def _to_numbers_one_by_one(
    present: npt.NDArray[np.str_],
) -> tuple[npt.NDArray[np.float64], bool]:
    is_number = np.fromiter(
        (_NUMBER.fullmatch(text) is not None for text in present.tolist()),
        dtype=bool,
        count=len(present),
    )
    return present[is_number].astype(np.float64), bool(is_number.all())


def split_numbers(
    present: npt.NDArray[np.str_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_] | None]:
    """The present values that are numbers, and which ones they are (None: all of them)."""
    try:
        numbers = present.astype(np.float64)
    except (ValueError, OverflowError):
        numbers = None
    if numbers is not None and np.isfinite(numbers).all():
        return numbers, None
    is_number = np.fromiter(
        (_NUMBER.fullmatch(text) is not None for text in present.tolist()),
        dtype=bool,
        count=len(present),
    )
    return present[is_number].astype(np.float64), is_number


def count_integral(texts: npt.NDArray[np.str_], numbers: npt.NDArray[np.float64]) -> int:
    """How many numeric ``texts`` (parsed as ``numbers``) are written as integers."""
    try:
        texts.astype(np.int64)
    except (ValueError, OverflowError):
        whole = numbers == np.floor(numbers)  # only whole numbers can be written as integers
        return sum(1 for text in texts[whole].tolist() if _INTEGRAL.fullmatch(text))
    return len(texts)


def _all_integral(present: npt.NDArray[np.str_]) -> bool:
    try:
        present.astype(np.int64)
    except (ValueError, OverflowError):
        return all(_INTEGRAL.fullmatch(text) is not None for text in present.tolist())
    return True
