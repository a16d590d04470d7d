"""From a data set, read as chunks, to its statistics, in two passes.

Pass one learns each feature's type and range and writes each chunk, already parsed, to a
temporary file; pass two reads them back and computes what needs the range (exact equal-width
buckets between min and max) or the type (value counts of string features). So the text is
parsed once, and memory holds one chunk plus per-feature state: flat in the number of rows,
linear in the number of distinct values of string features. Features are listed in the order
they first appear; a feature first seen in a later chunk was missing in every earlier row.
"""

from __future__ import annotations

import pickle
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import IO

from kiln.services.monitoring.baselines.accumulators import (
    CategoricalAccumulator,
    ColumnProfile,
    NumericAccumulator,
)
from kiln.services.monitoring.baselines.columns import Chunk, ColumnChunk
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS, CsvChunks
from kiln.services.monitoring.baselines.statistics import (
    FeatureStatistics,
    InferredType,
    Statistics,
)

_Accumulator = NumericAccumulator | CategoricalAccumulator | None


def analyze_csv(path: str | Path, has_header: bool, chunk_rows: int = CHUNK_ROWS) -> Statistics:
    """Compute SageMaker Model Monitor's statistics of a CSV file."""
    chunks = CsvChunks([Path(path)], has_header, chunk_rows)
    return analyze_chunks(chunks, lambda: chunks.malformed_lines)


def analyze_chunks(chunks: Iterable[Chunk], malformed_lines: Callable[[], int]) -> Statistics:
    """Compute the statistics of the rows ``chunks`` yields; ``malformed_lines`` is read last."""
    with tempfile.TemporaryFile(prefix="kiln-analyzer-") as spill:
        profiles, rows, count = _first_pass(chunks, spill)
        spill.seek(0)
        accumulators = {name: _accumulator(p) for name, p in profiles.items()}
        for _ in range(count):
            chunk: Chunk = pickle.load(spill)  # our own temporary file, written above
            for name, column in chunk.columns.items():
                _accumulate(accumulators[name], column)
    features = tuple(_feature(name, p, accumulators[name]) for name, p in profiles.items())
    return Statistics(rows, features, malformed_lines())


def _first_pass(
    chunks: Iterable[Chunk], spill: IO[bytes]
) -> tuple[dict[str, ColumnProfile], int, int]:
    profiles: dict[str, ColumnProfile] = {}
    rows = count = 0
    for chunk in chunks:
        for name, column in chunk.columns.items():
            if name not in profiles:
                profiles[name] = ColumnProfile(num_missing=rows)
            profiles[name].add(column)
        for name in profiles.keys() - chunk.columns.keys():
            profiles[name].num_missing += chunk.rows
        rows += chunk.rows
        pickle.dump(chunk, spill, protocol=pickle.HIGHEST_PROTOCOL)
        count += 1
    return profiles, rows, count


def _accumulator(profile: ColumnProfile) -> _Accumulator:
    if profile.is_numeric:
        return NumericAccumulator(profile.min, profile.max)
    if profile.inferred_type is InferredType.STRING:
        return CategoricalAccumulator()
    return None


def _accumulate(accumulator: _Accumulator, column: ColumnChunk) -> None:
    if isinstance(accumulator, NumericAccumulator):
        accumulator.add(column.numbers)
    elif isinstance(accumulator, CategoricalAccumulator) and column.present:
        accumulator.add(column.as_texts())


def _feature(name: str, profile: ColumnProfile, accumulator: _Accumulator) -> FeatureStatistics:
    feature = FeatureStatistics(
        name,
        profile.inferred_type,
        profile.num_present,
        profile.num_missing,
        type_counts=profile.type_counts,
    )
    if isinstance(accumulator, NumericAccumulator):
        return replace(feature, numerical=accumulator.result(profile.num_missing))
    if isinstance(accumulator, CategoricalAccumulator):
        return replace(feature, string=accumulator.result(profile.num_missing))
    return feature
