"""A 10-second view of the invocation metrics, for alarms whose period is under a minute.

The store keeps 1-minute points; a 10 s or 30 s alarm needs finer ones. ``FineWindow`` is an
``InvocationObserver`` fed the same records as the store, counting them per endpoint, variant
and 10-second slot with the store's own ``VariantMinute`` (a dict lookup and a few additions on
the event loop, no lock), and keeps the last ``keep_seconds`` of slots.
"""

from __future__ import annotations

from kiln.services.hosting.invocations import InvocationRecord
from kiln.services.monitoring.metrics import counting
from kiln.services.monitoring.metrics.series import Aggregate, Series
from kiln.services.monitoring.metrics.store import Instances

SLOT = 10


class FineWindow:
    """Invocation metrics per 10-second slot, for the last few minutes."""

    def __init__(
        self,
        keep_seconds: float = 900.0,
        instances: Instances = lambda _endpoint, _variant: 0,
    ) -> None:
        self._keep = keep_seconds
        self._instances = instances
        # (endpoint, variant, slot start) → counts: written on the event loop without a lock.
        self._slots: dict[tuple[str, str, int], counting.VariantMinute] = {}

    def observe(self, record: InvocationRecord) -> None:
        """Count one invocation (an ``InvocationObserver``)."""
        key = (record.endpoint, record.variant, int(record.arrived_at) // SLOT * SLOT)
        counts = self._slots.get(key)
        if counts is None:
            instances = self._instances(record.endpoint, record.variant)
            counts = self._slots[key] = counting.VariantMinute(instances)
        counts.count(record)

    def covers(self, series: Series, start: float, now: float) -> bool:
        """Whether this window can answer ``series`` from ``start`` on."""
        dimensions = dict(series.dimensions)
        return (
            series.namespace == counting.NAMESPACE
            and set(dimensions) == {"EndpointName", "VariantName"}
            and start >= now - self._keep
        )

    def slots(self, series: Series, start: float, end: float) -> dict[int, Aggregate]:
        """``series``' aggregate per 10-second slot with ``start <= slot < end``."""
        dimensions = dict(series.dimensions)
        endpoint, variant = dimensions["EndpointName"], dimensions["VariantName"]
        found: dict[int, Aggregate] = {}
        for (e, v, slot), counts in list(self._slots.items()):
            if e != endpoint or v != variant or not start <= slot < end:
                continue
            for point in counts.points(e, v, slot):
                if point.series.metric == series.metric:
                    found[slot] = point.aggregate
        return found

    def trim(self, now: float) -> None:
        """Forget the slots older than the window (called from the evaluator's thread)."""
        oldest = now - self._keep
        for key in [k for k in list(self._slots) if k[2] < oldest]:
            self._slots.pop(key, None)
