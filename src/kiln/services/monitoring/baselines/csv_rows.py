"""CSV rows to a chunk: numbers parsed in one numpy call, the text path only where needed.

The fast path parses a chunk's lines in one call — Apache Arrow's multithreaded CSV reader when
``pyarrow`` is installed (the ``parquet`` extra; ~3.6× faster than numpy here), else
``numpy.loadtxt`` — and serves when every field is a finite number and every row has the
expected width. A column whose numbers are all whole is
read again as text, since only the text tells ``1`` (Integral) from ``1.0`` (Fractional). Any
other chunk — quoted fields, blanks, words, ``nan``, rows of the wrong width — goes through
Python's ``csv`` module, and rows of the wrong width are counted as malformed and skipped.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Sequence

import numpy as np

from kiln.services.monitoring.baselines.columns import Chunk, ColumnChunk, from_numbers, from_texts


def column_names(
    width: int, header: Sequence[str] | None, feature_names: Sequence[str]
) -> list[str]:
    """The header's names; else the given feature names, then Spark's ``_c<i>`` for the rest."""
    if header is not None:
        return list(header)
    return [feature_names[i] if i < len(feature_names) else f"_c{i}" for i in range(width)]


def rows_chunk(lines: list[str], names: Sequence[str]) -> tuple[Chunk, int]:
    """The chunk of CSV ``lines`` (without their newlines), and how many were malformed."""
    if not all(lines):
        lines = [line for line in lines if line]
    if not lines:
        return Chunk(0), 0
    matrix = _parse(lines, len(names))
    if matrix is None:
        return _text_chunk(lines, names)
    whole = (matrix == np.floor(matrix)).all(axis=0)
    texts = _text_columns(lines) if whole.any() else None
    columns: dict[str, ColumnChunk] = {}
    for i, name in enumerate(names):
        if texts is not None and whole[i]:
            columns[name] = from_texts(texts[i])
        else:
            columns[name] = from_numbers(np.ascontiguousarray(matrix[:, i]))
    return Chunk(len(lines), columns), 0


_HAS_ARROW = importlib.util.find_spec("pyarrow") is not None


def _parse(lines: list[str], width: int) -> np.ndarray | None:
    matrix = _parse_with_arrow(lines, width) if _HAS_ARROW else _parse_with_numpy(lines)
    if matrix is None or matrix.shape != (len(lines), width) or not np.isfinite(matrix).all():
        return None
    return matrix


def _parse_with_numpy(lines: list[str]) -> np.ndarray | None:
    try:  # quoted fields fail to parse as numbers, and so take the text path
        return np.loadtxt(lines, delimiter=",", dtype=np.float64, comments=None, ndmin=2)
    except ValueError:
        return None


def _parse_with_arrow(lines: list[str], width: int) -> np.ndarray | None:
    import pyarrow as pa
    import pyarrow.csv as arrow_csv

    names = [f"c{i}" for i in range(width)]
    try:
        table = arrow_csv.read_csv(
            io.BytesIO("\n".join(lines).encode()),
            read_options=arrow_csv.ReadOptions(column_names=names),
            # No quoting: a quoted field stays text (and fails as a number), as with numpy.
            parse_options=arrow_csv.ParseOptions(quote_char=False),
            convert_options=arrow_csv.ConvertOptions(
                column_types=dict.fromkeys(names, pa.float64()), strings_can_be_null=False
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None  # a word, a row of another width: the text path decides
    if any(column.null_count for column in table.columns):
        return None  # an empty field is a missing value: the text path counts it
    return np.column_stack([column.to_numpy() for column in table.columns])


def _text_columns(lines: list[str]) -> list[np.ndarray]:
    return [np.array(column, dtype=np.str_) for column in zip(*csv.reader(lines), strict=True)]


def _text_chunk(lines: list[str], names: Sequence[str]) -> tuple[Chunk, int]:
    rows = [row for row in csv.reader(lines) if row]
    good = [row for row in rows if len(row) == len(names)]
    malformed = len(rows) - len(good)
    if not good:
        return Chunk(0), malformed
    columns = [np.array(column, dtype=np.str_) for column in zip(*good, strict=True)]
    chunk = Chunk(len(good), {n: from_texts(c) for n, c in zip(names, columns, strict=True)})
    return chunk, malformed
