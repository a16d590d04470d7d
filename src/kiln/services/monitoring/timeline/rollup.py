"""Rolls the store's 1-minute aggregates up into a timeline's periods and reads statistics off.

Aggregates merge exactly (counts, sums, min, max, histogram buckets), so a period's p99 is the
percentile of every sample in it, not an average of the minutes' p99s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from kiln.services.monitoring.metrics.series import Aggregate
from kiln.services.monitoring.metrics.statistics import statistic
from kiln.services.monitoring.timeline.points import MetricSeries, TimePoint
from kiln.services.monitoring.timeline.window import Window


def rollup(minutes: Mapping[int, Aggregate], window: Window) -> list[Aggregate]:
    """One aggregate per period of ``window``, of the minutes that fall in it."""
    periods = [Aggregate() for _ in window.buckets()]
    for minute, aggregate in minutes.items():
        index = (minute - window.start) // window.period
        if 0 <= index < len(periods):
            periods[index].merge(aggregate)
    return periods


def series_of(
    metric: str,
    stat: str,
    unit: str,
    periods: Sequence[Aggregate],
    window: Window,
    *,
    is_count: bool = False,
) -> MetricSeries:
    """``stat`` of each period as a series; a count's empty period is 0, any other's a gap."""
    empty = 0.0 if is_count else None
    points = tuple(
        TimePoint(t, empty if aggregate.count <= 0 else statistic(stat, aggregate))
        for t, aggregate in zip(window.buckets(), periods, strict=True)
    )
    return MetricSeries(metric, stat, unit, points)


def has_data(periods: Sequence[Aggregate]) -> bool:
    """Whether any period holds a sample."""
    return any(aggregate.count > 0 for aggregate in periods)
