"""A data set analyzed by several processes, merged into what one reader computes.

Line formats (JSON Lines, capture lines) are cut into spans at line starts (``spans.py``); each
worker profiles its parts and spills them (pass one), the parent merges the profiles in the
parts' order (so features keep their order of first appearance and a feature first seen in a
later part was missing in every earlier row), then each worker folds its own spill with the
merged types and ranges (pass two) and the parent merges the folds in order. Counts, types,
min/max, exact buckets and value counts equal the single-process result; mean, sum and standard
deviation equal it up to float rounding (sums in another order); the quantile sample is a
uniform sample of the same data, equal in distribution (``merge_samples``).

Captured CSV rows take their width from the data set's first CSV row: a part whose own first
row has another width is read again with the data set's, as one reader would have read it.
Workers are plain subprocesses (``workers.py``). Memory: each worker holds one chunk at a time.
"""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kiln.services.monitoring.baselines.accumulators import (
    CategoricalAccumulator,
    ColumnProfile,
    NumericAccumulator,
)
from kiln.services.monitoring.baselines.analyzer import (
    Accumulator,
    Scan,
    accumulators_for,
    first_pass,
    second_pass,
    statistics_of,
)
from kiln.services.monitoring.baselines.capture_chunks import CaptureChunks
from kiln.services.monitoring.baselines.formats import DatasetFormat, DatasetKind
from kiln.services.monitoring.baselines.sources import open_source
from kiln.services.monitoring.baselines.spans import Span, split_file
from kiln.services.monitoring.baselines.statistics import Statistics
from kiln.services.monitoring.baselines.workers import Workers

MIN_PART_BYTES = 32 << 20  # below this a part is not worth a process's start (~0.5 s)
MAX_WORKERS = 3  # a worker peaks near 290 MB with Arrow's reader: 3 keep the total under 1 GB
SPLITTABLE = (DatasetKind.CAPTURE, DatasetKind.JSON_LINES)


def default_workers() -> int:
    """How many processes to analyze with when the caller does not say."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(usable or 1, MAX_WORKERS))


def part_bytes(sizes: Sequence[int], workers: int, min_part_bytes: int = MIN_PART_BYTES) -> int:
    """How big a part to cut: about two per worker for balance, never below ``min_part_bytes``."""
    return max(min_part_bytes, math.ceil(sum(sizes) / max(1, 2 * workers)))


def plan(
    paths: Sequence[Path], kind: DatasetKind, workers: int, min_part_bytes: int = MIN_PART_BYTES
) -> list[Span]:
    """The parts a parallel analysis reads, in order; fewer than two means: read in one process."""
    if workers < 2 or kind not in SPLITTABLE:
        return []
    size = part_bytes([p.stat().st_size for p in paths], workers, min_part_bytes)
    return [span for path in paths for span in split_file(path, size)]


@dataclass(frozen=True)
class _Part:
    span: Span
    dataset_format: DatasetFormat
    chunk_rows: int
    feature_names: tuple[str, ...]
    spill: Path
    seed: int
    csv_width: int | None = None


@dataclass(frozen=True)
class _PartScan:
    scan: Scan
    malformed_lines: int
    first_csv_width: int | None


def analyze_parts(
    spans: Sequence[Span],
    dataset_format: DatasetFormat,
    chunk_rows: int,
    feature_names: Sequence[str],
    workers: int,
) -> Statistics:
    """The statistics of ``spans`` read as one data set, by ``workers`` processes."""
    with (
        tempfile.TemporaryDirectory(prefix="kiln-analyzer-") as folder,
        Workers(min(workers, len(spans))) as pool,
    ):
        parts = [
            _Part(
                span, dataset_format, chunk_rows, tuple(feature_names), Path(folder, str(i)), i + 1
            )
            for i, span in enumerate(spans)
        ]
        scans = list(pool.map(_scan, parts))
        widths = [s.first_csv_width for s in scans if s.first_csv_width is not None]
        again = [i for i, s in enumerate(scans) if s.first_csv_width not in (None, *widths[:1])]
        for i in again:
            parts[i] = replace(parts[i], csv_width=widths[0])
        for i, scan in zip(again, pool.map(_scan, [parts[i] for i in again]), strict=True):
            scans[i] = scan
        profiles, rows = merge_scans([s.scan for s in scans])
        folds = pool.imap(_fold, parts, [s.scan.chunks for s in scans], [profiles] * len(parts))
        accumulators = accumulators_for(profiles)
        for fold in folds:
            merge_accumulators(accumulators, fold)
    malformed = sum(s.malformed_lines for s in scans)
    return statistics_of(profiles, rows, accumulators, malformed)


def merge_scans(scans: Sequence[Scan]) -> tuple[dict[str, ColumnProfile], int]:
    """The profiles and row count of consecutive parts, as one pass over all of them gives."""
    profiles: dict[str, ColumnProfile] = {}
    rows = 0
    for scan in scans:
        for name, profile in scan.profiles.items():
            if name not in profiles:
                profiles[name] = ColumnProfile(num_missing=rows)
            profiles[name].merge(profile)
        for name in profiles.keys() - scan.profiles.keys():
            profiles[name].num_missing += scan.rows
        rows += scan.rows
    return profiles, rows


def merge_accumulators(into: dict[str, Accumulator], other: dict[str, Accumulator]) -> None:
    """Fold one part's pass-two state into the data set's."""
    for name, mine in into.items():
        theirs = other.get(name)
        if isinstance(mine, NumericAccumulator) and isinstance(theirs, NumericAccumulator):
            mine.merge(theirs)
        elif isinstance(mine, CategoricalAccumulator) and isinstance(
            theirs, CategoricalAccumulator
        ):
            mine.merge(theirs)


def _scan(part: _Part) -> _PartScan:
    source = open_source(
        [part.span], part.dataset_format, part.chunk_rows, part.feature_names, part.csv_width
    )
    with part.spill.open("wb") as spill:
        scan = first_pass(source, spill)
    width = source.first_csv_width if isinstance(source, CaptureChunks) else None
    return _PartScan(scan, source.malformed_lines, width)


def _fold(part: _Part, chunks: int, profiles: dict[str, ColumnProfile]) -> dict[str, Accumulator]:
    accumulators = accumulators_for(profiles, part.seed)
    with part.spill.open("rb") as spill:
        second_pass(spill, chunks, accumulators)
    part.spill.unlink()
    return accumulators
