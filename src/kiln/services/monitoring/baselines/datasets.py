"""Which data set format a baseline or a monitoring window is read in, and reading it.

The formats are SageMaker's ``DatasetFormat`` (``Csv`` with ``Header``, ``Json`` with ``Line``,
``Parquet``) plus ``sagemakerCaptureJson``, the data capture lines Model Monitor reads.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln.services.monitoring.baselines.analyzer import analyze_csv
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS
from kiln.services.monitoring.baselines.statistics import Statistics


class DatasetKind(enum.StrEnum):
    """The kinds of files the analyzer reads."""

    CSV = "csv"
    JSON_LINES = "json"
    PARQUET = "parquet"
    CAPTURE = "sagemakerCaptureJson"


@dataclass(frozen=True)
class DatasetFormat:
    """A data set's kind; ``header`` only matters for CSV."""

    kind: DatasetKind
    header: bool = False


def analyze_dataset(
    paths: Sequence[Path], dataset_format: DatasetFormat, chunk_rows: int = CHUNK_ROWS
) -> Statistics:
    """Compute SageMaker Model Monitor's statistics of the files at ``paths``, read as one."""
    if dataset_format.kind is DatasetKind.CSV and len(paths) == 1:
        return analyze_csv(paths[0], dataset_format.header, chunk_rows)
    raise NotImplementedError(f"{dataset_format} over {len(paths)} files")
