"""The metrics store and what reads it: CloudWatch's metric API, Prometheus text, the CLI."""

from kiln.services.monitoring.metrics.cloudwatch import CloudWatchMetrics
from kiln.services.monitoring.metrics.series import Aggregate, Point, Series
from kiln.services.monitoring.metrics.store import MetricsStore, VariantTotals

__all__ = ["Aggregate", "CloudWatchMetrics", "MetricsStore", "Point", "Series", "VariantTotals"]
