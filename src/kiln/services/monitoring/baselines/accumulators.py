"""Running per-column state, merged chunk by chunk so memory stays flat in the number of rows.

Two passes: the first learns each column's type counts and range (``ColumnProfile``); the second,
knowing them, computes moments, the ten exact equal-width buckets and a quantile sample for
numeric columns (``NumericAccumulator``) and value counts for string ones
(``CategoricalAccumulator``). Moments merge by Chan et al.'s parallel formula, which keeps the
variance accurate where summing squares would cancel.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from kiln.services.monitoring.baselines.columns import ColumnChunk
from kiln.services.monitoring.baselines.statistics import (
    SKETCH_K,
    InferredType,
    KllBucket,
    NumericalStatistics,
    StringStatistics,
    TypeCounts,
)

NUM_BUCKETS = 10
_SAMPLE_SEED = 0  # the sample is reproducible: the same data gives the same sketch


@dataclass
class ColumnProfile:
    """First pass: a column's presence and type counts and its numeric range."""

    num_present: int = 0
    num_missing: int = 0
    type_counts: TypeCounts = TypeCounts()
    min: float = np.inf
    max: float = -np.inf

    def add(self, column: ColumnChunk) -> None:
        """Fold one chunk of the column in."""
        self.num_missing += column.missing
        self.num_present += column.present
        fractional = len(column.numbers) - column.integral
        self.type_counts += TypeCounts(column.integral, fractional, len(column.texts))
        if len(column.numbers):
            self.min = min(self.min, float(column.numbers.min()))
            self.max = max(self.max, float(column.numbers.max()))

    def merge(self, other: ColumnProfile) -> None:
        """Fold in the profile of other rows of the same column."""
        self.num_missing += other.num_missing
        self.num_present += other.num_present
        self.type_counts += other.type_counts
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def inferred_type(self) -> InferredType:
        """String if any value was text, else Fractional if any was, else Integral (or Unknown)."""
        counts = self.type_counts
        if counts.text:
            return InferredType.STRING
        if counts.fractional:
            return InferredType.FRACTIONAL
        return InferredType.INTEGRAL if counts.integral else InferredType.UNKNOWN

    @property
    def is_numeric(self) -> bool:
        """Whether every present value was a number."""
        return self.inferred_type in (InferredType.INTEGRAL, InferredType.FRACTIONAL)


@dataclass
class NumericAccumulator:
    """Second pass over a numeric column: moments, buckets and a uniform sample."""

    low: float
    high: float
    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    total: float = 0.0
    bucket_counts: npt.NDArray[np.int64] = field(
        default_factory=lambda: np.zeros(NUM_BUCKETS, dtype=np.int64)
    )
    sample: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    seed: int = _SAMPLE_SEED
    _rng: np.random.Generator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def add(self, numbers: npt.NDArray[np.float64]) -> None:
        """Fold one chunk of numbers in."""
        if not len(numbers):
            return
        self._add_moments(numbers)
        self.bucket_counts += bucket_counts(numbers, self.low, self.high)
        self._add_sample(numbers)
        self.count += len(numbers)

    def _add_moments(self, numbers: npt.NDArray[np.float64]) -> None:
        n, chunk_mean = len(numbers), float(numbers.mean())
        chunk_m2 = float(((numbers - chunk_mean) ** 2).sum())
        total = self.count + n
        delta = chunk_mean - self.mean
        self.mean += delta * n / total
        self.m2 += chunk_m2 + delta * delta * self.count * n / total
        self.total += float(numbers.sum())

    def _add_sample(self, numbers: npt.NDArray[np.float64]) -> None:
        # Algorithm R, vectorised: item i (0-based, over the whole column) replaces a random
        # slot with probability k / (i + 1); numpy's last-write-wins keeps the sequential order.
        room = max(0, SKETCH_K - len(self.sample))
        self.sample = np.concatenate([self.sample, numbers[:room]])
        rest = numbers[room:]
        if not len(rest):
            return
        index = np.arange(self.count + room, self.count + room + len(rest))
        chosen = self._rng.random(len(rest)) < SKETCH_K / (index + 1)
        self.sample[self._rng.integers(0, SKETCH_K, int(chosen.sum()))] = rest[chosen]

    def merge(self, other: NumericAccumulator) -> None:
        """Fold in the state of other rows of the same column (same range): moments by Chan et
        al.'s formula, buckets added, and the two samples merged into one uniform sample."""
        if not other.count:
            return
        total = self.count + other.count
        delta = other.mean - self.mean
        self.mean += delta * other.count / total
        self.m2 += other.m2 + delta * delta * self.count * other.count / total
        self.total += other.total
        self.bucket_counts = self.bucket_counts + other.bucket_counts
        self.sample = merge_samples(self.sample, self.count, other.sample, other.count, self._rng)
        self.count = total

    def result(self, num_missing: int) -> NumericalStatistics:
        """The column's numerical statistics."""
        return NumericalStatistics(
            num_present=self.count,
            num_missing=num_missing,
            mean=self.mean,
            sum=self.total,
            # Population standard deviation, as Spark's stddev_pop that the analyzer reports.
            std_dev=float(np.sqrt(self.m2 / self.count)) if self.count else 0.0,
            min=self.low,
            max=self.high,
            buckets=buckets(self.bucket_counts, self.low, self.high),
            sketch=(tuple(np.sort(self.sample).tolist()),),
        )


@dataclass
class CategoricalAccumulator:
    """Second pass over a string column: how often each value occurs."""

    counts: Counter[str] = field(default_factory=Counter)

    def add(self, present: npt.NDArray[np.str_]) -> None:
        """Fold one chunk of present values in."""
        values, counts = np.unique(present, return_counts=True)
        self.counts.update(dict(zip(values.tolist(), counts.tolist(), strict=True)))

    def merge(self, other: CategoricalAccumulator) -> None:
        """Fold in the counts of other rows of the same column."""
        self.counts.update(other.counts)

    def result(self, num_missing: int) -> StringStatistics:
        """The column's string statistics, most frequent value first."""
        ordered = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return StringStatistics(
            num_present=sum(self.counts.values()),
            num_missing=num_missing,
            value_counts=tuple(ordered),
        )


def merge_samples(
    first: npt.NDArray[np.float64],
    first_count: int,
    second: npt.NDArray[np.float64],
    second_count: int,
    rng: np.random.Generator,
) -> npt.NDArray[np.float64]:
    """One uniform sample of up to SKETCH_K values of both sets, from a uniform sample of each
    (``first`` of ``first_count`` values, ``second`` of ``second_count``).

    How many come from the first set is drawn from the hypergeometric law, as if the sample were
    drawn from the union; that many of ``first``'s items, chosen at random, are themselves a
    uniform sample of the first set.
    """
    if len(first) + len(second) <= SKETCH_K:
        return np.concatenate([first, second])
    from_first = int(rng.hypergeometric(first_count, second_count, SKETCH_K))
    return np.concatenate(
        [
            rng.choice(first, from_first, replace=False),
            rng.choice(second, SKETCH_K - from_first, replace=False),
        ]
    )


def bucket_counts(
    numbers: npt.NDArray[np.float64], low: float, high: float
) -> npt.NDArray[np.int64]:
    """Counts in ten equal-width buckets over [low, high]; the last bucket includes high."""
    if high <= low:
        counts = np.zeros(NUM_BUCKETS, dtype=np.int64)
        counts[0] = len(numbers)
        return counts
    counts, _ = np.histogram(numbers, NUM_BUCKETS, (low, high))
    return counts.astype(np.int64)


def buckets(counts: npt.NDArray[np.int64], low: float, high: float) -> tuple[KllBucket, ...]:
    """The buckets' bounds and counts; a constant column has a single bucket [v, v]."""
    if high <= low:
        return (KllBucket(low, high, int(counts.sum())),)
    edges = np.linspace(low, high, NUM_BUCKETS + 1)
    return tuple(
        KllBucket(float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(NUM_BUCKETS)
    )
