"""``GET /metrics``: the metrics store in Prometheus' text format (prometheus-client).

    kiln_invocations_total{endpoint,variant}                 counter (SageMaker's Invocations)
    kiln_invocation_4xx_errors_total / _5xx_ / _model_       counters (Invocation4XXErrors, …)
    kiln_model_latency_seconds{endpoint,variant}             histogram (ModelLatency)
    kiln_overhead_latency_seconds{endpoint,variant}          histogram (OverheadLatency)
    kiln_endpoint_instances{endpoint,variant}                gauge: replicas in the route now
    kiln_capture_records_total{endpoint,outcome}             counter: captured | dropped records
    kiln_capture_failed_writes_total{endpoint}               counter: failed capture file writes
    kiln_shadow_copies_dropped_total                         counter: shadow copies shed
    process_*, python_*                                      the server process (prometheus-client)

Counts run since the server started (Prometheus' counters reset with it). Histogram buckets
come from the store's log-spaced buckets, so each ``le`` count is exact to one store bucket (4 %).
Behind the auth gate as ``cloudwatch:GetMetricData``: scrapers send a bearer key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kiln.services.monitoring.capture.writer import CaptureCounters
from kiln.services.monitoring.metrics import Aggregate, MetricsStore
from kiln.services.monitoring.metrics.histogram import bucket_upper

# Seconds: 1 ms to 60 s, where model and overhead latencies fall.
_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0)
_LABELS = ["endpoint", "variant"]

# (endpoint, variant, instances) for every variant being served.
InstanceCounts = Callable[[], Iterable[tuple[str, str, int]]]


class CaptureCounts(Protocol):
    """The capture writer's per-endpoint counters."""

    def counters(self, endpoint: str) -> CaptureCounters:
        """``endpoint``'s counters so far."""


@dataclass(frozen=True)
class DataPathSources:
    """What ``/metrics`` reads besides the store: capture and shadow counters."""

    capture: CaptureCounts
    shadow_dropped: Callable[[], int]


class _StoreCollector(Collector):
    def __init__(
        self, store: MetricsStore, instances: InstanceCounts, sources: DataPathSources | None
    ) -> None:
        self._store = store
        self._instances = instances
        self._sources = sources

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily | HistogramMetricFamily]:
        counters = {
            "invocations": ("Invocations (SageMaker's Invocations metric)", "invocations"),
            "invocation_4xx_errors": ("Answers the model gave as 4xx", "client_errors"),
            "invocation_5xx_errors": ("Answers that were 5xx", "server_errors"),
            "invocation_model_errors": ("Invocations the model did not answer 2xx", "model_errors"),
        }
        totals = self._store.totals()
        for name, (text, field) in counters.items():
            family = CounterMetricFamily(f"kiln_{name}", text, labels=_LABELS)
            for t in totals:
                family.add_metric([t.endpoint, t.variant], getattr(t, field))
            yield family
        for name, text, field in (
            ("model_latency", "SageMaker's ModelLatency", "model_latency"),
            ("overhead_latency", "SageMaker's OverheadLatency", "overhead_latency"),
        ):
            histogram = HistogramMetricFamily(f"kiln_{name}_seconds", text, labels=_LABELS)
            for t in totals:
                buckets, total = _histogram(getattr(t, field))
                histogram.add_metric([t.endpoint, t.variant], buckets, total)
            yield histogram
        gauge = GaugeMetricFamily("kiln_endpoint_instances", "Replicas serving", labels=_LABELS)
        served = list(self._instances())
        for endpoint, variant, count in served:
            gauge.add_metric([endpoint, variant], count)
        yield gauge
        if self._sources is not None:
            yield from _data_path(self._sources, sorted({endpoint for endpoint, _, _ in served}))


def _data_path(sources: DataPathSources, endpoints: list[str]) -> Iterator[CounterMetricFamily]:
    records = CounterMetricFamily(
        "kiln_capture_records",
        "Sampled records captured or dropped",
        labels=["endpoint", "outcome"],
    )
    failures = CounterMetricFamily(
        "kiln_capture_failed_writes", "Capture file writes that failed", labels=["endpoint"]
    )
    for endpoint in endpoints:
        counts = sources.capture.counters(endpoint)
        records.add_metric([endpoint, "captured"], counts.captured)
        records.add_metric([endpoint, "dropped"], counts.dropped)
        failures.add_metric([endpoint], counts.failed_writes)
    yield records
    yield failures
    yield CounterMetricFamily(
        "kiln_shadow_copies_dropped",
        "Shadow copies dropped because the shadow queue was full",
        value=sources.shadow_dropped(),
    )


def _histogram(latency_us: Aggregate) -> tuple[list[tuple[str, float]], float]:
    """Cumulative ``le`` buckets (seconds) and the sum, from microsecond store buckets."""
    counts = [0] * (len(_BOUNDS) + 1)
    for bucket, times in latency_us.buckets.items():
        seconds = bucket_upper(bucket) / 1e6
        slot = next((i for i, bound in enumerate(_BOUNDS) if seconds <= bound), len(_BOUNDS))
        counts[slot] += times
    cumulative, running = [], 0
    for bound, count in zip([*map(str, _BOUNDS), "+Inf"], counts, strict=True):
        running += count
        cumulative.append((bound, float(running)))
    return cumulative, latency_us.total / 1e6


class PrometheusMetrics:
    """The ``/metrics`` route over one store, with the process' own metrics."""

    def __init__(
        self,
        store: MetricsStore,
        instances: InstanceCounts,
        sources: DataPathSources | None = None,
    ) -> None:
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_StoreCollector(store, instances, sources))
        ProcessCollector(registry=self._registry)
        PlatformCollector(registry=self._registry)
        GCCollector(registry=self._registry)

    async def handle(self, _request: Request) -> Response:
        """The text exposition of every metric."""
        body = await run_in_threadpool(generate_latest, self._registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)
