"""A compact latency histogram: log-spaced buckets, so any percentile is answered within ~2 %.

A value ``v > 0`` falls in bucket ``floor(log(v) / log(GROWTH)) + _OFFSET``; every bucket is 4 %
wide, so the bucket's middle is within 2 % of any value in it. Zero and negative values share
bucket 0 (CloudWatch serves no percentiles over negative values). A minute of a busy variant
holds a few dozen buckets: small enough to store per 1-minute point.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

GROWTH = 1.04
_LOG_GROWTH = math.log(GROWTH)
# Bucket 1 holds everything at or below GROWTH ** (1 - _OFFSET) ≈ 1e-17.
_OFFSET = 1000


def bucket_of(value: float) -> int:
    """The bucket ``value`` is counted in."""
    if value <= 0:
        return 0
    return max(1, math.floor(math.log(value) / _LOG_GROWTH) + _OFFSET)


def bucket_middle(bucket: int) -> float:
    """The geometric middle of ``bucket``: what a percentile falling in it answers."""
    if bucket <= 0:
        return 0.0
    return float(GROWTH ** (bucket - _OFFSET + 0.5))


def bucket_upper(bucket: int) -> float:
    """The upper edge of ``bucket`` (Prometheus' ``le`` buckets are cumulated from these)."""
    if bucket <= 0:
        return 0.0
    return float(GROWTH ** (bucket - _OFFSET + 1))


def percentile(buckets: Mapping[int, int], q: float, low: float, high: float) -> float | None:
    """The ``q``-th percentile (0–100, nearest rank) of the counted values, kept in [low, high]."""
    total = sum(buckets.values())
    if total == 0:
        return None
    rank = max(1, math.ceil(q / 100 * total))
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= rank:
            return min(max(bucket_middle(bucket), low), high)
    return high  # pragma: no cover - the ranks always reach the total
