"""The metrics store is what the data plane and the A/B report take: read by mypy only."""

from __future__ import annotations

from kiln.db.metrics import MetricRows
from kiln.services.hosting.invocations import InvocationObserver
from kiln.services.monitoring.metrics import MetricsStore
from kiln.services.monitoring.traffic import TrafficSource


def _wiring(rows: MetricRows) -> tuple[InvocationObserver, TrafficSource]:
    store = MetricsStore(rows, retention_seconds=86_400)
    return store, store
