"""Which data set format a baseline or a monitoring window is read in, and reading it.

The formats are SageMaker's ``DatasetFormat`` (``Csv`` with ``Header``, ``Json`` with ``Line``,
``Parquet``) plus ``sagemakerCaptureJson``, the data capture lines Model Monitor reads. Several
files are read as one data set, in the order given.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

from kiln.services.monitoring.baselines.analyzer import analyze_chunks
from kiln.services.monitoring.baselines.capture_chunks import CaptureChunks
from kiln.services.monitoring.baselines.columns import Chunk
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS, CsvChunks
from kiln.services.monitoring.baselines.formats import DatasetFormat, DatasetKind
from kiln.services.monitoring.baselines.json_chunks import JsonLinesChunks
from kiln.services.monitoring.baselines.parquet_chunks import ParquetChunks
from kiln.services.monitoring.baselines.statistics import Statistics


class _Source(Iterable[Chunk], Protocol):
    malformed_lines: int


def analyze_dataset(
    paths: Sequence[Path],
    dataset_format: DatasetFormat,
    chunk_rows: int = CHUNK_ROWS,
    feature_names: Sequence[str] = (),
) -> Statistics:
    """Compute SageMaker Model Monitor's statistics of the files at ``paths``, read as one.

    ``feature_names`` name headerless CSV columns (CSV files without a header, captured CSV)
    by position, as SageMaker names a window's columns after the baseline's.
    """
    source = _source(paths, dataset_format, chunk_rows, feature_names)
    return analyze_chunks(source, lambda: source.malformed_lines)


def _source(
    paths: Sequence[Path],
    dataset_format: DatasetFormat,
    chunk_rows: int,
    feature_names: Sequence[str],
) -> _Source:
    kind = dataset_format.kind
    if kind is DatasetKind.CSV:
        return CsvChunks(paths, dataset_format.header, chunk_rows, feature_names)
    if kind is DatasetKind.JSON_LINES:
        return JsonLinesChunks(paths, chunk_rows)
    if kind is DatasetKind.PARQUET:
        return ParquetChunks(paths, chunk_rows)
    return CaptureChunks(paths, chunk_rows, feature_names)
