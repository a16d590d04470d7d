"""An endpoint's traffic per variant and drift per feature over time, read from the metrics store.

``points`` holds the typed timeline and its JSON (no server-side imports: the SDK reads it),
``window`` the range and period decisions, ``rollup`` the minutes-to-periods arithmetic and
``reader`` the service that puts them together.
"""

from kiln.services.monitoring.timeline.points import (
    FeatureTimeline,
    MetricSeries,
    Timeline,
    TimePoint,
    VariantTimeline,
)

__all__ = ["FeatureTimeline", "MetricSeries", "TimePoint", "Timeline", "VariantTimeline"]
