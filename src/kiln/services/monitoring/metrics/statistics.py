"""CloudWatch's statistics over an aggregate: SampleCount, Average, Sum, Minimum, Maximum, pNN."""

from __future__ import annotations

import re

from kiln.services.monitoring.metrics.histogram import percentile
from kiln.services.monitoring.metrics.series import Aggregate

STATISTICS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
# CloudWatch's percentile syntax: p0.0 … p100, at most two decimals.
_PERCENTILE = re.compile(r"p(\d{1,2}(?:\.\d{1,2})?|100(?:\.0{1,2})?)")


def is_statistic(name: str) -> bool:
    """Whether ``name`` is one of the five statistics or a percentile (``p99``, ``p99.9``)."""
    return name in STATISTICS or is_percentile(name)


def is_percentile(name: str) -> bool:
    """Whether ``name`` is an extended statistic Kiln answers (``pNN``)."""
    return _PERCENTILE.fullmatch(name) is not None


def statistic(name: str, aggregate: Aggregate) -> float | None:
    """``name``'s value over ``aggregate``; None when it has no samples."""
    if aggregate.count <= 0:
        return None
    match name:
        case "SampleCount":
            return aggregate.count
        case "Sum":
            return aggregate.total
        case "Average":
            return aggregate.total / aggregate.count
        case "Minimum":
            return aggregate.low
        case "Maximum":
            return aggregate.high
    found = _PERCENTILE.fullmatch(name)
    if found is None:
        raise ValueError(f"not a statistic: {name!r}")
    return percentile(aggregate.buckets, float(found.group(1)), aggregate.low, aggregate.high)
