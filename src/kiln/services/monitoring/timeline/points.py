"""An endpoint's timeline: typed series of ``{t, value}`` points, and their JSON.

Its JSON (``GET /kiln/v1/endpoints/{name}/timeline``, the SDK, a web UI)::

    {"EndpointName": "churn", "StartTime": 1700000000, "EndTime": 1700003600, "Period": 300,
     "Variants": [{"VariantName": "AllTraffic", "Series": [
         {"Metric": "Invocations", "Statistic": "Sum", "Unit": "None",
          "Points": [{"t": 1700000000, "value": 42.0}, …]}, …]}],
     "Features": [{"FeatureName": "age", "MonitoringSchedule": "churn-hourly", "Series": [
         {"Metric": "feature_baseline_drift", "Statistic": "Average", "Unit": "None",
          "Points": [{"t": 1700000000, "value": null}, …]}, …]}]}

Times are epoch seconds; ``t`` is the start of each period. Every series has one point per
period: counts are 0 where nothing happened, other statistics ``null`` (a gap to plot as one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TimePoint:
    """One period's value; None where the period had no data (a gap, not a zero)."""

    t: float
    value: float | None


@dataclass(frozen=True)
class MetricSeries:
    """One statistic of one metric, period by period."""

    metric: str
    statistic: str
    unit: str
    points: tuple[TimePoint, ...]

    def values(self) -> list[float | None]:
        """The values in time order."""
        return [p.value for p in self.points]

    def to_document(self) -> dict[str, Any]:
        """Its JSON."""
        return {
            "Metric": self.metric,
            "Statistic": self.statistic,
            "Unit": self.unit,
            "Points": [{"t": p.t, "value": p.value} for p in self.points],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> MetricSeries:
        """Read its JSON back."""
        points = tuple(TimePoint(p["t"], p["value"]) for p in document["Points"])
        return cls(document["Metric"], document["Statistic"], document["Unit"], points)


def _find(series: tuple[MetricSeries, ...], metric: str, statistic: str) -> MetricSeries | None:
    return next((s for s in series if (s.metric, s.statistic) == (metric, statistic)), None)


@dataclass(frozen=True)
class VariantTimeline:
    """One variant's invocations, latency and errors over time."""

    variant: str
    series: tuple[MetricSeries, ...]

    def find(self, metric: str, statistic: str) -> MetricSeries | None:
        """The series of ``metric``'s ``statistic``; None when absent."""
        return _find(self.series, metric, statistic)


@dataclass(frozen=True)
class FeatureTimeline:
    """One feature's drift metrics over time, as one monitoring schedule published them."""

    feature: str
    schedule: str
    series: tuple[MetricSeries, ...]

    def find(self, metric: str, statistic: str = "Average") -> MetricSeries | None:
        """The series of ``metric``'s ``statistic``; None when absent."""
        return _find(self.series, metric, statistic)


@dataclass(frozen=True)
class Timeline:
    """An endpoint's traffic per variant and drift per feature over one time range."""

    endpoint: str
    start: float
    end: float
    period: int
    variants: tuple[VariantTimeline, ...]
    features: tuple[FeatureTimeline, ...]

    def to_document(self) -> dict[str, Any]:
        """Its JSON (the module docstring shows it)."""
        return {
            "EndpointName": self.endpoint,
            "StartTime": self.start,
            "EndTime": self.end,
            "Period": self.period,
            "Variants": [
                {"VariantName": v.variant, "Series": [s.to_document() for s in v.series]}
                for v in self.variants
            ],
            "Features": [
                {"FeatureName": f.feature, "MonitoringSchedule": f.schedule,
                 "Series": [s.to_document() for s in f.series]}
                for f in self.features
            ],
        }  # fmt: skip

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Timeline:
        """Read its JSON back (what the SDK does with the route's answer)."""

        def series(of: dict[str, Any]) -> tuple[MetricSeries, ...]:
            return tuple(MetricSeries.from_document(s) for s in of["Series"])

        return cls(
            endpoint=document["EndpointName"],
            start=document["StartTime"],
            end=document["EndTime"],
            period=int(document["Period"]),
            variants=tuple(VariantTimeline(v["VariantName"], series(v))
                           for v in document["Variants"]),
            features=tuple(FeatureTimeline(f["FeatureName"], f["MonitoringSchedule"], series(f))
                           for f in document["Features"]),
        )  # fmt: skip
