"""From a CSV data set to its statistics, in two streaming passes over the file.

Pass one learns each column's type and range; pass two computes what needs them (exact
equal-width buckets between min and max, value counts of string columns). Memory holds one
chunk plus per-column state: flat in the number of rows, linear in the number of distinct values
of string columns. Malformed lines (the wrong number of fields) are counted and skipped.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kiln.services.monitoring.baselines.accumulators import (
    CategoricalAccumulator,
    ColumnProfile,
    NumericAccumulator,
)
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS, CsvChunks
from kiln.services.monitoring.baselines.parsing import present_values, to_numbers
from kiln.services.monitoring.baselines.statistics import (
    FeatureStatistics,
    InferredType,
    Statistics,
)

_Accumulator = NumericAccumulator | CategoricalAccumulator | None


def analyze_csv(path: str | Path, has_header: bool, chunk_rows: int = CHUNK_ROWS) -> Statistics:
    """Compute SageMaker Model Monitor's statistics of a CSV file."""
    chunks = CsvChunks(Path(path), has_header, chunk_rows)
    profiles = _profile(chunks)
    accumulators = [_accumulator(p) for p in profiles]
    for columns in chunks:
        for texts, accumulator in zip(columns, accumulators, strict=True):
            _accumulate(accumulator, texts)
    features = tuple(
        _feature(name, profile, accumulator)
        for name, profile, accumulator in zip(chunks.names, profiles, accumulators, strict=True)
    )
    item_count = features[0].num_present + features[0].num_missing if features else 0
    return Statistics(item_count, features, chunks.malformed_lines)


def _profile(chunks: CsvChunks) -> list[ColumnProfile]:
    profiles: list[ColumnProfile] = []
    for columns in chunks:
        if not profiles:
            profiles = [ColumnProfile() for _ in columns]
        for texts, profile in zip(columns, profiles, strict=True):
            profile.add_texts(texts)
    return profiles or [ColumnProfile() for _ in chunks.names]


def _accumulator(profile: ColumnProfile) -> _Accumulator:
    if profile.is_numeric:
        return NumericAccumulator(profile.min, profile.max)
    if profile.inferred_type is InferredType.STRING:
        return CategoricalAccumulator()
    return None


def _accumulate(accumulator: _Accumulator, texts: npt.NDArray[np.str_]) -> None:
    if accumulator is None:
        return
    present, _ = present_values(texts)
    if isinstance(accumulator, NumericAccumulator):
        accumulator.add(to_numbers(present)[0])
    else:
        accumulator.add(present)


def _feature(name: str, profile: ColumnProfile, accumulator: _Accumulator) -> FeatureStatistics:
    feature = FeatureStatistics(
        name, profile.inferred_type, profile.num_present, profile.num_missing
    )
    if isinstance(accumulator, NumericAccumulator):
        return replace(feature, numerical=accumulator.result(profile.num_missing))
    if isinstance(accumulator, CategoricalAccumulator):
        return replace(feature, string=accumulator.result(profile.num_missing))
    return feature
