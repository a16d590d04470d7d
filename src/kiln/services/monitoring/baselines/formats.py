"""The data set formats the analyzer reads: SageMaker's ``DatasetFormat`` (``Csv`` with
``Header``, ``Json`` with ``Line``, ``Parquet``) plus ``sagemakerCaptureJson``, the data capture
lines Model Monitor reads. Apart from the analyzer so that naming a format loads no numpy."""

from __future__ import annotations

import enum
from dataclasses import dataclass


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
