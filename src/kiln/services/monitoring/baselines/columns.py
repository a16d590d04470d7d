"""One chunk of a data set as the analyzer sees it: per feature, its numbers and its texts.

Row order does not matter to any statistic, so a chunk keeps, per feature, the present values
that are numbers (and how many of them are integral), the present values that are not, and how
many rows lack the feature. Readers build chunks from texts (CSV), from numbers parsed in one
numpy call (CSV's fast path), or from JSON values; a feature that a chunk does not mention is
missing in each of its rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from kiln.services.monitoring.baselines.parsing import count_integral, present_values, split_numbers

Floats = npt.NDArray[np.float64]
Texts = npt.NDArray[np.str_]

_NO_TEXTS: Texts = np.empty(0, dtype=np.str_)


@dataclass(frozen=True)
class ColumnChunk:
    """One feature's values in one chunk; ``number_texts`` are the numbers as written, if known."""

    numbers: Floats
    integral: int
    texts: Texts
    missing: int
    number_texts: Texts | None = None

    @property
    def present(self) -> int:
        """How many rows have a value."""
        return len(self.numbers) + len(self.texts)

    def as_texts(self) -> Texts:
        """Every present value as text (numbers as written, else in their shortest form)."""
        written = self.number_texts
        if written is None:
            written = np.array([_number_text(x) for x in self.numbers.tolist()], dtype=np.str_)
        return np.concatenate([written, self.texts]) if len(self.texts) else written


@dataclass(frozen=True)
class Chunk:
    """Some rows of a data set, column by column."""

    rows: int
    columns: dict[str, ColumnChunk] = field(default_factory=dict)


def from_texts(texts: Texts) -> ColumnChunk:
    """A column of CSV texts: blank ones are missing, numeric ones are numbers."""
    present, missing = present_values(texts)
    numbers, is_number = split_numbers(present)
    number_texts = present if is_number is None else present[is_number]
    others = _NO_TEXTS if is_number is None else present[~is_number]
    return ColumnChunk(
        numbers, count_integral(number_texts, numbers), others, missing, number_texts
    )


def from_numbers(numbers: Floats) -> ColumnChunk:
    """A column parsed as numbers that are not all whole: whole ones count as integral."""
    return ColumnChunk(numbers, int((numbers == np.floor(numbers)).sum()), _NO_TEXTS, 0)


def from_values(values: Sequence[Any]) -> ColumnChunk:
    """A column of JSON values: ints are integral, floats fractional, null missing, the rest
    text (booleans as ``true``/``false``, nested objects and arrays as their JSON)."""
    kinds = {type(v) for v in values}
    if kinds <= {int, float}:
        numbers = np.array(values, dtype=np.float64)
        integral = sum(1 for v in values if type(v) is int)
        return ColumnChunk(numbers, integral, _NO_TEXTS, 0)
    numbers_list: list[float] = []
    texts: list[str] = []
    integral = missing = 0
    for value in values:
        if value is None:
            missing += 1
        elif isinstance(value, bool):
            texts.append("true" if value else "false")
        elif isinstance(value, int | float):
            numbers_list.append(float(value))
            integral += isinstance(value, int)
        elif isinstance(value, str):
            texts.append(value)
        else:
            texts.append(orjson.dumps(value).decode())
    return ColumnChunk(
        np.array(numbers_list, dtype=np.float64), integral, np.array(texts, dtype=np.str_), missing
    )


def merge(a: Chunk, b: Chunk) -> Chunk:
    """Two chunks' rows as one chunk."""
    columns = dict(a.columns)
    for name, column in b.columns.items():
        mine = columns.get(name)
        columns[name] = _concat(mine, column) if mine else _pad(column, a.rows)
    for name in a.columns.keys() - b.columns.keys():
        columns[name] = _pad(columns[name], b.rows)
    return Chunk(a.rows + b.rows, columns)


def _pad(column: ColumnChunk, absent_rows: int) -> ColumnChunk:
    return ColumnChunk(
        column.numbers,
        column.integral,
        column.texts,
        column.missing + absent_rows,
        column.number_texts,
    )


def _concat(a: ColumnChunk, b: ColumnChunk) -> ColumnChunk:
    written = (
        None
        if a.number_texts is None or b.number_texts is None
        else np.concatenate([a.number_texts, b.number_texts])
    )
    return ColumnChunk(
        np.concatenate([a.numbers, b.numbers]),
        a.integral + b.integral,
        np.concatenate([a.texts, b.texts]),
        a.missing + b.missing,
        written,
    )


def _number_text(value: float) -> str:
    return str(int(value)) if value == int(value) and abs(value) < 2**53 else repr(value)
