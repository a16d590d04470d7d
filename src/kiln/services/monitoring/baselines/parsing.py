"""Reading one column's texts: which are missing, which are numbers, which are integers.

A value is missing when it is empty or only blanks (Spark's CSV reader reads those as null). A
present value is *integral* when it is an optionally signed run of digits, *numeric* when it is
a decimal number with an optional exponent; ``nan``, ``inf`` and the like are strings, as they
are to SageMaker's analyzer.
"""

from __future__ import annotations

import re

import numpy as np
import numpy.typing as npt

_INTEGRAL = re.compile(r"\s*[+-]?\d+\s*")
_NUMBER = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*")


def present_values(texts: npt.NDArray[np.str_]) -> tuple[npt.NDArray[np.str_], int]:
    """A chunk's present (non-blank) texts, and how many were missing."""
    present = texts[np.char.str_len(np.char.strip(texts)) > 0]
    return present, len(texts) - len(present)


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
