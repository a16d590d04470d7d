"""The metrics store: every number Kiln keeps, as 1-minute points of CloudWatch series.

Three kinds of writer: the invocation observer (``observe``: Kiln's one invocation counter,
``InvocationSlots``, plain counters per 10-second slot on the event loop, no lock), training
jobs' ``MetricDefinitions`` and users' ``PutMetricData`` (``put``, from threads, under a lock),
and samplers (CPU and memory). A flusher thread moves every minute that can no longer change to
the database (``MetricRows``) and trims what is older than the retention; readers see the
database and the minutes still in memory as one. At stop every minute in memory is flushed, so
points survive a restart. The same slots answer the alarms' 10 s datapoints and the autoscaler's
per-second rate (``counts``); with ``publish_invocations`` off (``KILN_INVOCATION_METRICS=0``)
they are still counted for the autoscaler but never become CloudWatch points, totals or alarm
datapoints.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.exc import SQLAlchemyError

from kiln.db.metrics import MetricRow, MetricRows
from kiln.services.hosting.invocations import InvocationRecord
from kiln.services.monitoring.metrics import counting
from kiln.services.monitoring.metrics.fine import (
    InvocationSlots,
    VariantSlot,
    minute_points,
    variant_of,
)
from kiln.services.monitoring.metrics.series import (
    MINUTE,
    Aggregate,
    Point,
    Series,
    merged,
    minute_of,
)
from kiln.services.monitoring.metrics.statistics import statistic
from kiln.services.monitoring.traffic import VariantTraffic

log = logging.getLogger(__name__)

# A minute is final once no invocation that arrived in it can still be answered: the router's
# 60 s timeout plus a minute's slack.
_SETTLE_SECONDS = 2 * MINUTE
_FLUSH_EVERY = 10.0
_TRIM_EVERY = 600.0

Clock = Callable[[], float]


@dataclass(frozen=True)
class VariantTotals:
    """A variant's counts since the server started (what ``/metrics`` exposes)."""

    endpoint: str
    variant: str
    invocations: int
    client_errors: int
    server_errors: int
    model_errors: int
    model_latency: Aggregate
    overhead_latency: Aggregate


class MetricsStore:
    """One store for all numbers: counts in memory, 1-minute points in the database."""

    def __init__(
        self,
        rows: MetricRows,
        *,
        retention_seconds: float,
        instances: Callable[[str, str], int] = lambda _endpoint, _variant: 0,
        clock: Clock = time.time,
        publish_invocations: bool = True,
    ) -> None:
        self._rows = rows
        self._retention = retention_seconds
        self._clock = clock
        self._samplers: list[Callable[[float], None]] = []
        # Counted even when not published: the autoscaler and scale to zero read them.
        self.counts = InvocationSlots(instances=instances, published=publish_invocations)
        self._other: dict[tuple[Series, int], Aggregate] = {}
        self._totals: dict[tuple[str, str], counting.VariantMinute] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._trimmed_at = 0.0

    # -- writing ---------------------------------------------------------------------------

    def observe(self, record: InvocationRecord) -> None:
        """Count one invocation (an ``InvocationObserver``; shadows under their own variant)."""
        self.counts.observe(record)

    def put(self, series: Series, at: float, aggregate: Aggregate) -> None:
        """Add ``aggregate`` to ``series``' minute at ``at``."""
        key = (series, minute_of(at))
        with self._lock:
            found = self._other.get(key)
            if found is None:
                self._other[key] = aggregate.copy()
            else:
                found.merge(aggregate)

    def put_value(self, series: Series, at: float, value: float, unit: str = "None") -> None:
        """Add one value to ``series`` at ``at``."""
        aggregate = Aggregate(unit=unit)
        aggregate.add(value)
        self.put(series, at, aggregate)

    def training_metric(self, job: str, host: str, name: str, value: float, at: float) -> None:
        """A training job's ``MetricDefinitions`` value, as SageMaker publishes it."""
        dimensions = {"Host": f"{job}/{host}"}
        self.put_value(Series.of("/aws/sagemaker/TrainingJobs", name, dimensions), at, value)

    def add_sampler(self, sample: Callable[[float], None]) -> None:
        """Call ``sample(now)`` on the flusher's thread before each flush (CPU, memory)."""
        self._samplers.append(sample)

    # -- reading ---------------------------------------------------------------------------

    def minutes(self, series: Series, start: float, end: float) -> dict[int, Aggregate]:
        """``series``' aggregate per minute with ``start <= minute < end``."""
        first, last = minute_of(start), _ceil_minute(end)
        found: dict[int, Aggregate] = {}
        with self._lock:
            rows = self._rows.read(series.namespace, series.metric, first, last, series.dimensions)
            live = self._live_points_of(series)
        for point in [_point(row) for row in rows] + live:
            if first <= point.minute < last:
                found.setdefault(point.minute, Aggregate()).merge(point.aggregate)
        return found

    def series(self, since: float) -> list[Series]:
        """Every series with a point at or after ``since``, sorted."""
        with self._lock:
            stored = {Series(*found) for found in self._rows.series(minute_of(since))}
            live = {p.series for p in self._live_points() if p.minute >= minute_of(since)}
        return sorted(stored | live)

    def totals(self) -> list[VariantTotals]:
        """Each variant's counts since the server started (flushed minutes and live ones)."""
        summed: dict[tuple[str, str], counting.VariantMinute] = {}
        with self._lock:
            sources = list(self._totals.items()) + [
                ((endpoint, variant), counts)
                for (endpoint, variant, _), slots in self._live_minutes().items()
                for counts in slots
            ]
        for key, counts in sources:
            counting.add_counts(summed.setdefault(key, counting.VariantMinute()), counts)
        return [
            VariantTotals(
                endpoint,
                variant,
                c.invocations,
                c.client_errors,
                c.server_errors,
                c.model_errors,
                c.model_latency,
                c.overhead,
            )  # fmt: skip
            for (endpoint, variant), c in sorted(summed.items())
        ]

    def variant_traffic(self, endpoint: str, start: float, end: float) -> list[VariantTraffic]:
        """Every variant of ``endpoint`` seen between ``start`` and ``end`` (``TrafficSource``)."""
        variants = sorted(
            dict(s.dimensions)["VariantName"]
            for s in self.series(start)
            if s.namespace == counting.NAMESPACE
            and s.metric == counting.INVOCATIONS
            and dict(s.dimensions).get("EndpointName") == endpoint
            and "VariantName" in dict(s.dimensions)
        )
        return [self._traffic(endpoint, variant, start, end) for variant in variants]

    def _traffic(self, endpoint: str, variant: str, start: float, end: float) -> VariantTraffic:
        dimensions = {"EndpointName": endpoint, "VariantName": variant}

        def total(metric: str) -> Aggregate:
            series = Series.of(counting.NAMESPACE, metric, dimensions)
            return merged(self.minutes(series, start, end).values())

        latency = total(counting.MODEL_LATENCY)
        return VariantTraffic(
            variant=variant,
            invocations=int(total(counting.INVOCATIONS).total),
            client_errors=int(total(counting.CLIENT_ERRORS).total),
            server_errors=int(total(counting.SERVER_ERRORS).total),
            model_errors=int(total(counting.MODEL_ERRORS).total),
            latency_p50_us=statistic("p50", latency),
            latency_p95_us=statistic("p95", latency),
            latency_p99_us=statistic("p99", latency),
        )

    # -- flushing --------------------------------------------------------------------------

    def start(self) -> None:
        """Start the flusher thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kiln-metrics", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the flusher and store every minute still in memory."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        try:
            self.flush(everything=True)
        except SQLAlchemyError:
            log.error("metrics: the last minutes could not be stored", exc_info=True)

    def flush(self, *, everything: bool = False) -> int:
        """Store the settled minutes (all of them with ``everything``); how many points."""
        now = self._clock()
        settled = minute_of(now - _SETTLE_SECONDS) if not everything else None
        with self._lock:
            minutes = self.counts.settled_minutes(settled)
            published = minutes if self.counts.published else {}
            other_keys = [key for key in self._other if settled is None or key[1] < settled]
            points = [
                point for key, slots in published.items() for point in minute_points(key, slots)
            ] + [Point(series, minute, self._other[(series, minute)])
                 for series, minute in other_keys]  # fmt: skip
            self._rows.add([_row(point) for point in points])
            # Stored: out of the live minutes (kept for the alarms), into the totals.
            self.counts.retire(minutes)
            for (endpoint, variant, _), slots in published.items():
                totals = self._totals.setdefault((endpoint, variant), counting.VariantMinute())
                for counts in slots:
                    counting.add_counts(totals, counts)
            for other in other_keys:
                del self._other[other]
        self.counts.trim(now)
        if now - self._trimmed_at >= _TRIM_EVERY:
            self._trimmed_at = now
            self._rows.trim(minute_of(now - self._retention))
        return len(points)

    def _run(self) -> None:
        while not self._stop.wait(_FLUSH_EVERY):
            now = self._clock()
            for sample in self._samplers:
                sample(now)
            try:
                self.flush()
            except SQLAlchemyError:
                # The database is away (a full disk, a server down): the minutes stay in
                # memory and the next round stores them.
                log.warning("metrics: could not store points; will retry", exc_info=True)

    def _live_minutes(self) -> dict[tuple[str, str, int], list[VariantSlot]]:
        return self.counts.settled_minutes(None) if self.counts.published else {}

    def _live_points_of(self, series: Series) -> list[Point]:
        """The points of ``series`` still in memory, built for it alone (readers ask often)."""
        found = [
            Point(series, minute, aggregate)
            for (other, minute), aggregate in list(self._other.items())
            if other == series
        ]
        variant = variant_of(series)
        if variant is None or not self.counts.published:
            return found
        for key, slots in self.counts.settled_minutes_of(*variant).items():
            found += [p for p in minute_points(key, slots) if p.series == series]
        return found

    def _live_points(self) -> list[Point]:
        minutes = self._live_minutes().items()
        return [
            point for key, slots in minutes for point in minute_points(key, slots)
        ] + [Point(series, minute, aggregate)
             for (series, minute), aggregate in list(self._other.items())]  # fmt: skip


def _ceil_minute(at: float) -> int:
    floor = minute_of(at)
    return floor if floor == at else floor + MINUTE


def _row(point: Point) -> MetricRow:
    a = point.aggregate
    return MetricRow(
        point.series.namespace, point.series.metric, point.series.dimensions, point.minute,
        a.count, a.total, a.low, a.high, a.unit, dict(a.buckets),
    )  # fmt: skip


def _point(row: MetricRow) -> Point:
    aggregate = Aggregate(row.count, row.total, row.low, row.high, dict(row.buckets), row.unit)
    return Point(Series(row.namespace, row.metric, row.dimensions), row.minute, aggregate)
