"""Line-oriented files cut into byte ranges that start and end at line starts.

A parallel analysis hands each worker one span; read in order, the spans yield exactly the lines
of the files, each once. Only formats whose records never span lines (JSON Lines, capture
lines) are cut; CSV, whose quoted fields may hold line breaks, is read whole.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Span:
    """The lines of ``path`` that start at a byte offset in [start, end); ``end`` None: to EOF."""

    path: Path
    start: int = 0
    end: int | None = None


def cut_points(size: int, part_bytes: int) -> list[int]:
    """Offsets at which to cut a file of ``size`` bytes into parts of about ``part_bytes``."""
    parts = max(1, math.ceil(size / max(1, part_bytes)))
    step = size / parts
    return [round(step * i) for i in range(1, parts)]


def split_file(path: Path, part_bytes: int) -> list[Span]:
    """``path`` as spans of about ``part_bytes``, each cut moved to the next line start."""
    starts, size = [0], path.stat().st_size
    with path.open("rb") as file:
        for point in cut_points(size, part_bytes):
            if point <= starts[-1]:
                continue
            file.seek(point - 1)
            file.readline()  # from the byte before the cut: a cut at a line start stays put
            if starts[-1] < file.tell() < size:
                starts.append(file.tell())
    ends: list[int | None] = [*starts[1:], None]
    return [Span(path, start, end) for start, end in zip(starts, ends, strict=True)]


def line_chunks(source: Path | Span, chunk_rows: int) -> Iterator[list[bytes]]:
    """The lines of a file or span, ``chunk_rows`` at a time."""
    span = source if isinstance(source, Span) else Span(source)
    with span.path.open("rb") as file:
        file.seek(span.start)
        left = math.inf if span.end is None else span.end - span.start
        while left > 0 and (lines := list(itertools.islice(file, chunk_rows))):
            if span.end is not None:
                kept = _within(lines, left)
                left = 0 if len(kept) < len(lines) else left - sum(map(len, kept))
                lines = kept
            if lines:
                yield lines


def _within(lines: list[bytes], left: float) -> list[bytes]:
    total = 0
    for i, line in enumerate(lines):
        total += len(line)
        if total > left:
            return lines[:i]
    return lines
