"""CSV files read as one data set, chunk by chunk, with malformed lines counted and skipped.

Columns are named by the first file's header row (later files' header rows are skipped), or,
without a header, by ``feature_names`` and then Spark's ``_c0``, ``_c1``, … (the names
SageMaker's analyzer uses). The first row fixes how many fields a line must have. Lines are read
in chunks; a chunk never ends inside a quoted field that spans lines.
"""

from __future__ import annotations

import csv
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from kiln.services.monitoring.baselines.columns import Chunk
from kiln.services.monitoring.baselines.csv_rows import column_names, rows_chunk

CHUNK_ROWS = 65_536


@dataclass
class CsvChunks:
    """Reads CSV files chunk by chunk; counts the lines it had to skip."""

    paths: Sequence[Path]
    has_header: bool
    chunk_rows: int = CHUNK_ROWS
    feature_names: Sequence[str] = ()
    names: list[str] = field(default_factory=list)
    malformed_lines: int = 0

    def __iter__(self) -> Iterator[Chunk]:
        """Yield each chunk of rows of every file, in order."""
        self.malformed_lines = 0
        self.names = []
        for path in self.paths:
            with path.open(newline="", encoding="utf-8", errors="replace") as file:
                yield from self._file_chunks(file)

    def _file_chunks(self, file: TextIO) -> Iterator[Chunk]:
        first = next(csv.reader([next(file, "")]), None)
        if first is None:
            return
        if not self.names:
            header = first if self.has_header else None
            self.names = column_names(len(first), header, self.feature_names)
        if not self.has_header:
            file.seek(0)
        while lines := _read_lines(file, self.chunk_rows):
            chunk, malformed = rows_chunk(lines, self.names)
            self.malformed_lines += malformed
            if chunk.rows:
                yield chunk


def _read_lines(file: TextIO, count: int) -> list[str]:
    lines = [line.rstrip("\r\n") for line in itertools.islice(file, count)]
    # An odd number of quotes: the last field goes on past the line break.
    while lines and sum(line.count('"') for line in lines) % 2:
        more = file.readline()
        if not more:
            break
        lines[-1] += "\n" + more.rstrip("\r\n")
    return lines
