"""The chunk reader for a data set format: one place that maps a format to its reader, used by
a single-process analysis and by each worker of a parallel one."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from kiln.services.monitoring.baselines.capture_chunks import CaptureChunks
from kiln.services.monitoring.baselines.columns import Chunk
from kiln.services.monitoring.baselines.csv_chunks import CsvChunks
from kiln.services.monitoring.baselines.formats import DatasetFormat, DatasetKind
from kiln.services.monitoring.baselines.json_chunks import JsonLinesChunks
from kiln.services.monitoring.baselines.parquet_chunks import ParquetChunks
from kiln.services.monitoring.baselines.spans import Span


class Source(Iterable[Chunk], Protocol):
    """Chunks of a data set, and how many malformed lines reading them met."""

    malformed_lines: int


def open_source(
    paths: Sequence[Path | Span],
    dataset_format: DatasetFormat,
    chunk_rows: int,
    feature_names: Sequence[str],
    csv_width: int | None = None,
) -> Source:
    """The reader of ``paths`` in ``dataset_format`` (spans only for line formats)."""
    kind = dataset_format.kind
    if kind is DatasetKind.JSON_LINES:
        return JsonLinesChunks(paths, chunk_rows)
    if kind is DatasetKind.CAPTURE:
        return CaptureChunks(paths, chunk_rows, feature_names, csv_width)
    files = [p for p in paths if isinstance(p, Path)]
    if len(files) != len(paths):
        raise ValueError(f"{kind} files are read whole, not in spans")
    if kind is DatasetKind.CSV:
        return CsvChunks(files, dataset_format.header, chunk_rows, feature_names)
    return ParquetChunks(files, chunk_rows)
