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
from dataclasses import dataclass, replace
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

Accumulator = NumericAccumulator | CategoricalAccumulator | None


def analyze_csv(path: str | Path, has_header: bool, chunk_rows: int = CHUNK_ROWS) -> Statistics:
    """Compute SageMaker Model Monitor's statistics of a CSV file."""
    chunks = CsvChunks([Path(path)], has_header, chunk_rows)
    return analyze_chunks(chunks, lambda: chunks.malformed_lines)


def analyze_chunks(chunks: Iterable[Chunk], malformed_lines: Callable[[], int]) -> Statistics:
    """Compute the statistics of the rows ``chunks`` yields; ``malformed_lines`` is read last."""
    with tempfile.TemporaryFile(prefix="kiln-analyzer-") as spill:
        scan = first_pass(chunks, spill)
        spill.seek(0)
        accumulators = accumulators_for(scan.profiles)
        second_pass(spill, scan.chunks, accumulators)
    return statistics_of(scan.profiles, scan.rows, accumulators, malformed_lines())


@dataclass
class Scan:
    """What pass one learnt of some rows: each feature's profile, the rows, the chunks spilled."""

    profiles: dict[str, ColumnProfile]
    rows: int
    chunks: int


def first_pass(chunks: Iterable[Chunk], spill: IO[bytes]) -> Scan:
    """Profile each chunk's features and write the chunk, parsed, to ``spill``."""
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
    return Scan(profiles, rows, count)


def accumulators_for(profiles: dict[str, ColumnProfile], seed: int = 0) -> dict[str, Accumulator]:
    """Pass two's state for each feature, knowing its type and range."""
    return {name: _accumulator(profile, seed) for name, profile in profiles.items()}


def second_pass(spill: IO[bytes], count: int, accumulators: dict[str, Accumulator]) -> None:
    """Fold the ``count`` chunks spilled in pass one into ``accumulators``."""
    for _ in range(count):
        chunk: Chunk = pickle.load(spill)  # our own temporary file, written in pass one
        for name, column in chunk.columns.items():
            _accumulate(accumulators[name], column)


def statistics_of(
    profiles: dict[str, ColumnProfile],
    rows: int,
    accumulators: dict[str, Accumulator],
    malformed_lines: int,
) -> Statistics:
    """The data set's statistics from both passes' state."""
    features = tuple(_feature(name, p, accumulators[name]) for name, p in profiles.items())
    return Statistics(rows, features, malformed_lines)


def _accumulator(profile: ColumnProfile, seed: int) -> Accumulator:
    if profile.is_numeric:
        return NumericAccumulator(profile.min, profile.max, seed=seed)
    if profile.inferred_type is InferredType.STRING:
        return CategoricalAccumulator()
    return None


def _accumulate(accumulator: Accumulator, column: ColumnChunk) -> None:
    if isinstance(accumulator, NumericAccumulator):
        accumulator.add(column.numbers)
    elif isinstance(accumulator, CategoricalAccumulator) and column.present:
        accumulator.add(column.as_texts())


def _feature(name: str, profile: ColumnProfile, accumulator: Accumulator) -> FeatureStatistics:
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
