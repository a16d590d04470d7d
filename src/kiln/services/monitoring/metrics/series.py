"""A metric's identity and its 1-minute aggregates: what the metrics store holds.

A ``Series`` is CloudWatch's identity of a metric (namespace, name, the full set of dimensions);
an ``Aggregate`` is what one series collected in one minute: sample count, sum, minimum,
maximum and a histogram for percentiles. Aggregates merge, so minutes roll up to any period.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kiln.services.monitoring.metrics.histogram import bucket_of

MINUTE = 60


@dataclass(frozen=True, order=True)
class Series:
    """One metric: namespace, name and dimensions (sorted by name, as CloudWatch compares them)."""

    namespace: str
    metric: str
    dimensions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, namespace: str, metric: str, dimensions: Mapping[str, str]) -> Series:
        """A series with its dimensions in canonical order."""
        return cls(namespace, metric, tuple(sorted(dimensions.items())))


@dataclass
class Aggregate:
    """What one series collected over a span: count, sum, min, max and a histogram."""

    count: float = 0.0
    total: float = 0.0
    low: float = math.inf
    high: float = -math.inf
    buckets: dict[int, int] = field(default_factory=dict)
    unit: str = "None"

    def add(self, value: float, times: int = 1) -> None:
        """Count ``value`` ``times`` times."""
        self.count += times
        self.total += value * times
        if value < self.low:
            self.low = value
        if value > self.high:
            self.high = value
        bucket = bucket_of(value)
        self.buckets[bucket] = self.buckets.get(bucket, 0) + times

    def add_set(self, count: float, total: float, low: float, high: float) -> None:
        """Count a statistic set (``StatisticValues``); percentiles only see it when min = max."""
        if low == high and count == int(count):
            self.add(low, int(count))
            self.total += total - low * count  # keep the sum the caller gave
            return
        self.count += count
        self.total += total
        self.low = min(self.low, low)
        self.high = max(self.high, high)

    def merge(self, other: Aggregate) -> None:
        """Fold ``other`` into this one."""
        self.count += other.count
        self.total += other.total
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)
        for bucket, times in other.buckets.items():
            self.buckets[bucket] = self.buckets.get(bucket, 0) + times
        if other.unit != "None":
            self.unit = other.unit

    def copy(self) -> Aggregate:
        """An independent copy."""
        return Aggregate(self.count, self.total, self.low, self.high, dict(self.buckets), self.unit)


@dataclass(frozen=True)
class Point:
    """One series' aggregate over the minute starting at ``minute`` (epoch seconds)."""

    series: Series
    minute: int
    aggregate: Aggregate


def minute_of(at: float) -> int:
    """The start of the minute ``at`` falls in (epoch seconds)."""
    return int(at) // MINUTE * MINUTE


def merged(aggregates: Iterable[Aggregate]) -> Aggregate:
    """One aggregate of all of them."""
    out = Aggregate()
    for aggregate in aggregates:
        out.merge(aggregate)
    return out
