"""Kiln's one invocation counter: 10-second slots with per-second counts.

Every invocation is counted once, by ``InvocationSlots.observe`` (through the metrics store's
``observe``), into its (endpoint, variant, 10-second slot): a dict lookup and a few integer
additions on the event loop, no lock. Three readers share the slots:

- the metrics store builds each 1-minute point of ``AWS/SageMaker`` from the minute's six slots
  and, once the minute is stored, rolls them out of ``live``;
- the alarms read 10 s (and 30 s) datapoints from the slots of the last ``keep_seconds``;
- the autoscaler reads invocations per second over the last few seconds and the time of the
  last invocation.

Slots rolled into stored minutes stay for the alarms until ``keep_seconds`` old, then go; so the
memory held is bounded by the variants seen in the last ``keep_seconds`` plus the minutes not
yet stored (the store flushes every 10 s, two minutes behind).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from kiln.services.hosting.invocations import InvocationRecord
from kiln.services.monitoring.metrics import counting
from kiln.services.monitoring.metrics.series import MINUTE, Aggregate, Point, Series

SLOT = 10

Instances = Callable[[str, str], int]
SlotKey = tuple[str, str, int]
"""(endpoint, variant, the slot's start in epoch seconds)."""


class VariantSlot(counting.VariantMinute):
    """One variant's invocations in one 10-second slot, with a count per second."""

    __slots__ = ("last_at", "seconds")

    def __init__(self, instances: int = 0) -> None:
        super().__init__(instances)
        self.seconds = [0] * SLOT
        self.last_at = 0.0

    def count(self, record: InvocationRecord) -> None:
        """Add ``record`` (on the event loop, for every invocation)."""
        super().count(record)
        at = record.arrived_at
        self.seconds[int(at) % SLOT] += 1
        if at > self.last_at:
            self.last_at = at


class InvocationSlots:
    """Every invocation, counted once per endpoint, variant and 10-second slot."""

    def __init__(
        self,
        keep_seconds: float = 900.0,
        instances: Instances = lambda _endpoint, _variant: 0,
        *,
        published: bool = True,
    ) -> None:
        self._keep = keep_seconds
        self._instances = instances
        self.published = published
        """Whether the counts become CloudWatch points (``KILN_INVOCATION_METRICS``)."""
        # Written on the event loop without a lock; other threads copy before they iterate.
        self._live: dict[SlotKey, VariantSlot] = {}
        # Slots already in stored minutes, kept for the alarms.
        self._stored: dict[SlotKey, VariantSlot] = {}
        # The newest arrival of slots trimmed away: the scaler's idle clock outlives the window.
        self._last_at: dict[tuple[str, str], float] = {}

    def observe(self, record: InvocationRecord) -> None:
        """Count one invocation (shadow copies under their own variant)."""
        key = (record.endpoint, record.variant, int(record.arrived_at) // SLOT * SLOT)
        counts = self._live.get(key)
        if counts is None:
            instances = self._instances(record.endpoint, record.variant)
            counts = self._live[key] = VariantSlot(instances)
        counts.count(record)

    # -- the metrics store -----------------------------------------------------------------

    def settled_minutes(self, before: int | None) -> dict[SlotKey, list[VariantSlot]]:
        """The live slots of minutes before ``before`` (all with None), by minute."""
        live = list(self._live.items())
        return _by_minute([(k, c) for k, c in live if before is None or k[2] < before])

    def retire(self, minutes: Iterable[SlotKey]) -> None:
        """Move the slots of these (stored) minutes out of the live ones; the alarms keep them."""
        stored = set(minutes)
        for key in [k for k in list(self._live) if (k[0], k[1], k[2] // MINUTE * MINUTE) in stored]:
            counts = self._live.pop(key)
            kept = self._stored.get(key)
            if kept is None:
                self._stored[key] = counts
            else:
                _add_counts(kept, counts)

    # -- the alarms ------------------------------------------------------------------------

    def covers(self, series: Series, start: float, now: float) -> bool:
        """Whether the slots can answer ``series`` from ``start`` on."""
        return self.published and variant_of(series) is not None and start >= now - self._keep

    def settled_minutes_of(self, endpoint: str, variant: str) -> dict[SlotKey, list[VariantSlot]]:
        """The live slots of one variant, by minute."""
        live = list(self._live.items())
        return _by_minute([(k, c) for k, c in live if k[0] == endpoint and k[1] == variant])

    def slots(self, series: Series, start: float, end: float) -> dict[int, Aggregate]:
        """``series``' aggregate per 10-second slot with ``start <= slot < end``."""
        dimensions = dict(series.dimensions)
        endpoint, variant = dimensions["EndpointName"], dimensions["VariantName"]
        found: dict[int, Aggregate] = {}
        for (e, v, slot), counts in list(self._stored.items()) + list(self._live.items()):
            if e != endpoint or v != variant or not start <= slot < end:
                continue
            for point in counts.points(e, v, slot):
                if point.series.metric == series.metric:
                    found.setdefault(slot, Aggregate()).merge(point.aggregate)
        return found

    def trim(self, now: float) -> None:
        """Forget the stored slots older than the window (from the flusher's thread)."""
        oldest = now - self._keep
        for key in [k for k in list(self._stored) if k[2] < oldest]:
            counts = self._stored.pop(key, None)
            if counts is not None:
                variant = key[:2]
                self._last_at[variant] = max(self._last_at.get(variant, 0.0), counts.last_at)

    # -- the autoscaler --------------------------------------------------------------------

    def per_second(self, endpoint: str, variant: str, seconds: int, now: float) -> float:
        """Mean invocations per second over the ``seconds`` whole seconds before ``now``."""
        if not 1 <= seconds <= self._keep:
            raise ValueError(f"seconds={seconds} must be 1 to {int(self._keep)}")
        last = int(now)
        total = 0
        for second in range(last - seconds, last):
            key = (endpoint, variant, second // SLOT * SLOT)
            for counts in (self._live.get(key), self._stored.get(key)):
                if counts is not None:
                    total += counts.seconds[second % SLOT]
        return total / seconds

    def last_invocation_at(self, endpoint: str, variant: str) -> float | None:
        """When the latest invocation of ``variant`` arrived (epoch seconds), if any since start."""
        found = [
            counts.last_at
            for (e, v, _), counts in list(self._live.items()) + list(self._stored.items())
            if e == endpoint and v == variant
        ]
        trimmed = self._last_at.get((endpoint, variant))
        if trimmed is not None:
            found.append(trimmed)
        return max(found) if found else None


def variant_of(series: Series) -> tuple[str, str] | None:
    """The (endpoint, variant) of an ``AWS/SageMaker`` invocation series; None for any other."""
    dimensions = dict(series.dimensions)
    if series.namespace != counting.NAMESPACE or set(dimensions) != {"EndpointName", "VariantName"}:
        return None
    return dimensions["EndpointName"], dimensions["VariantName"]


def minute_points(key: SlotKey, slots: list[VariantSlot]) -> list[Point]:
    """The 1-minute points of every invocation metric from the minute's slots."""
    endpoint, variant, minute = key
    merged: dict[Series, Aggregate] = {}
    for counts in slots:
        for point in counts.points(endpoint, variant, minute):
            found = merged.get(point.series)
            if found is None:
                merged[point.series] = point.aggregate
            else:
                found.merge(point.aggregate)
    return [Point(series, minute, aggregate) for series, aggregate in merged.items()]


def _by_minute(slots: list[tuple[SlotKey, VariantSlot]]) -> dict[SlotKey, list[VariantSlot]]:
    found: dict[SlotKey, list[VariantSlot]] = {}
    for (endpoint, variant, slot), counts in slots:
        found.setdefault((endpoint, variant, slot // MINUTE * MINUTE), []).append(counts)
    return found


def _add_counts(into: VariantSlot, counts: VariantSlot) -> None:
    counting.add_counts(into, counts)
    into.seconds = [a + b for a, b in zip(into.seconds, counts.seconds, strict=True)]
    into.last_at = max(into.last_at, counts.last_at)
