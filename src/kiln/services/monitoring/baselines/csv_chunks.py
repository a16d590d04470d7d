"""A CSV file as chunks of columns, with malformed lines counted and skipped.

Columns are named by the header row, or ``_c0``, ``_c1``, … (Spark's names, which SageMaker's
analyzer uses) when there is none; the first row fixes how many columns a line must have.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

CHUNK_ROWS = 65_536


@dataclass
class CsvChunks:
    """Reads one CSV file chunk by chunk; counts the lines it had to skip."""

    path: Path
    has_header: bool
    chunk_rows: int = CHUNK_ROWS
    names: list[str] = field(default_factory=list)
    malformed_lines: int = 0

    def __iter__(self) -> Iterator[list[npt.NDArray[np.str_]]]:
        """Yield each chunk as one array of texts per column."""
        self.malformed_lines = 0
        with self.path.open(newline="", encoding="utf-8") as file:
            reader = csv.reader(file)
            first = next(reader, None)
            if first is None:
                return
            self.names = column_names(first, self.has_header)
            rows = reader if self.has_header else itertools.chain([first], reader)
            while chunk := list(itertools.islice(rows, self.chunk_rows)):
                columns = self._columns(chunk)
                if columns:
                    yield columns

    def _columns(self, chunk: list[list[str]]) -> list[npt.NDArray[np.str_]]:
        width = len(self.names)
        good = [row for row in chunk if len(row) == width]
        # csv yields [] for a blank line: nothing there to count as malformed.
        self.malformed_lines += sum(1 for row in chunk if row and len(row) != width)
        if not good:
            return []
        return [np.array(column, dtype=np.str_) for column in zip(*good, strict=True)]


def column_names(first_row: list[str], has_header: bool) -> list[str]:
    """The header's names, or Spark's ``_c<i>`` when the file has no header."""
    if has_header:
        return list(first_row)
    return [f"_c{i}" for i in range(len(first_row))]
