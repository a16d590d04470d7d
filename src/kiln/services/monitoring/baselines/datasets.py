"""Which data set format a baseline or a monitoring window is read in, and reading it.

The formats are SageMaker's ``DatasetFormat`` (``Csv`` with ``Header``, ``Json`` with ``Line``,
``Parquet``) plus ``sagemakerCaptureJson``, the data capture lines Model Monitor reads. Several
files are read as one data set, in the order given. Large line-format data sets (capture lines,
JSON Lines) are analyzed by several processes (``parallel.py``), with the same result.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kiln.services.monitoring.baselines.analyzer import analyze_chunks
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS
from kiln.services.monitoring.baselines.formats import DatasetFormat
from kiln.services.monitoring.baselines.parallel import analyze_parts, default_workers, plan
from kiln.services.monitoring.baselines.sources import open_source
from kiln.services.monitoring.baselines.statistics import Statistics
from kiln.services.monitoring.baselines.workers import WorkersBrokenError


def analyze_dataset(
    paths: Sequence[Path],
    dataset_format: DatasetFormat,
    chunk_rows: int = CHUNK_ROWS,
    feature_names: Sequence[str] = (),
    workers: int | None = None,
) -> Statistics:
    """Compute SageMaker Model Monitor's statistics of the files at ``paths``, read as one.

    ``feature_names`` name headerless CSV columns (CSV files without a header, captured CSV)
    by position, as SageMaker names a window's columns after the baseline's. ``workers``: how
    many processes may share the work (default: the cores, at most ``parallel.MAX_WORKERS``;
    1: this process only).
    """
    workers = default_workers() if workers is None else workers
    spans = plan(paths, dataset_format.kind, workers)
    if len(spans) > 1:
        try:
            return analyze_parts(spans, dataset_format, chunk_rows, feature_names, workers)
        except WorkersBrokenError:
            pass  # a worker could not start or died: one process computes the same statistics
    source = open_source(paths, dataset_format, chunk_rows, feature_names)
    return analyze_chunks(source, lambda: source.malformed_lines)
