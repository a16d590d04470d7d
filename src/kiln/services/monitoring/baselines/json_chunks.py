"""JSON Lines files read as one data set: one object per line, its top-level keys the features.

Values keep their JSON types, as Spark's JSON reader does: numbers are numbers (``3`` Integral,
``3.0`` Fractional), strings are strings even when they look like numbers, ``null`` is missing,
booleans are the strings ``true``/``false``, and nested objects and arrays are kept whole as
their JSON text (a String feature; they are not flattened). A line that is not a JSON object is
malformed: counted and skipped. Blank lines are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from kiln.services.monitoring.baselines.columns import Chunk, from_values
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS
from kiln.services.monitoring.baselines.spans import Span, line_chunks


@dataclass
class JsonLinesChunks:
    """Reads JSON Lines files chunk by chunk; counts the lines it had to skip."""

    paths: Sequence[Path | Span]
    chunk_rows: int = CHUNK_ROWS
    malformed_lines: int = 0

    def __iter__(self) -> Iterator[Chunk]:
        """Yield each chunk of objects of every file, in order."""
        self.malformed_lines = 0
        for path in self.paths:
            for lines in line_chunks(path, self.chunk_rows):
                records = [r for r in map(self._record, lines) if r is not None]
                if records:
                    yield records_chunk(records)

    def _record(self, line: bytes) -> dict[str, Any] | None:
        if not line.strip():
            return None
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            record = None
        if not isinstance(record, dict):
            self.malformed_lines += 1
            return None
        return record


def records_chunk(records: Sequence[dict[str, Any]]) -> Chunk:
    """A chunk of objects, one feature per key any of them has (absent keys are missing)."""
    names = dict.fromkeys(key for record in records for key in record)
    return Chunk(
        len(records), {name: from_values([r.get(name) for r in records]) for name in names}
    )
