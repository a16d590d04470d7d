"""How each invocation counts in SageMaker's endpoint metrics (namespace ``AWS/SageMaker``).

As AWS's "Monitor Amazon SageMaker with CloudWatch" defines them, per endpoint and variant:
``Invocations`` (1 per request), ``Invocation4XXErrors`` / ``Invocation5XXErrors`` (1 when the
answer was 4xx / 5xx, else 0), ``InvocationModelErrors`` (1 when the model gave no 2xx: its 4xx
and 5xx, broken connections and timeouts), ``InvocationsPerInstance`` (1 / the active instance
count per request), ``ModelLatency`` (sending to the model until its whole answer, µs) and
``OverheadLatency`` (the rest of the time Kiln held the request, µs).

On the request path a record costs a dict lookup and a few integer additions on a
``VariantMinute`` (no lock: observers run on the event loop); the metrics' aggregates are only
built from it when a minute is read or stored.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.services.hosting.invocations import InvocationRecord, Outcome
from kiln.services.monitoring.metrics.series import Aggregate, Point, Series

NAMESPACE = "AWS/SageMaker"
INVOCATIONS = "Invocations"
CLIENT_ERRORS = "Invocation4XXErrors"
SERVER_ERRORS = "Invocation5XXErrors"
MODEL_ERRORS = "InvocationModelErrors"
PER_INSTANCE = "InvocationsPerInstance"
MODEL_LATENCY = "ModelLatency"
OVERHEAD_LATENCY = "OverheadLatency"
MICROSECONDS = "Microseconds"


@dataclass(frozen=True)
class Errors:
    """Which error counters one invocation adds to."""

    client: bool
    server: bool
    model: bool


def errors_of(outcome: Outcome, model_status: int) -> Errors:
    """How an invocation's outcome counts: SageMaker's 4XX, 5XX and model-error metrics."""
    if outcome is Outcome.ANSWERED:
        return Errors(client=False, server=False, model=False)
    if outcome is Outcome.UNAVAILABLE:
        return Errors(client=False, server=True, model=False)  # Kiln's own 503
    if outcome is Outcome.MODEL_FAILURE:
        return Errors(client=False, server=False, model=True)
    return Errors(client=400 <= model_status < 500, server=500 <= model_status < 600, model=True)


class VariantMinute:
    """One variant's invocations in one minute, as plain numbers."""

    __slots__ = ("client_errors", "instances", "invocations", "model_errors", "model_latency",
                 "overhead", "server_errors")  # fmt: skip

    def __init__(self, instances: int = 0) -> None:
        # Active instances when the minute's first request came: SageMaker divides each request
        # by the count "at the time of the request"; once a minute is close enough, and free.
        self.instances = instances
        self.invocations = 0
        self.client_errors = 0
        self.server_errors = 0
        self.model_errors = 0
        self.model_latency = Aggregate(unit=MICROSECONDS)
        self.overhead = Aggregate(unit=MICROSECONDS)

    def count(self, record: InvocationRecord) -> None:
        """Add ``record`` (cheap: called on the event loop for every invocation)."""
        self.invocations += 1
        if record.outcome is not Outcome.ANSWERED:
            errors = errors_of(record.outcome, record.model_status)
            self.client_errors += errors.client
            self.server_errors += errors.server
            self.model_errors += errors.model
        if record.outcome is Outcome.ANSWERED or record.outcome is Outcome.MODEL_ERROR:
            self.model_latency.add(record.model_latency_us)
        self.overhead.add(record.overhead_latency_us)

    def points(self, endpoint: str, variant: str, minute: int) -> list[Point]:
        """The minute's points of every invocation metric."""
        dimensions = {"EndpointName": endpoint, "VariantName": variant}
        n = self.invocations
        found = {
            INVOCATIONS: ones(n, n),
            CLIENT_ERRORS: ones(n, self.client_errors),
            SERVER_ERRORS: ones(n, self.server_errors),
            MODEL_ERRORS: ones(n, self.model_errors),
            MODEL_LATENCY: self.model_latency.copy(),
            OVERHEAD_LATENCY: self.overhead.copy(),
        }
        if self.instances > 0:
            per = Aggregate()
            per.add(1 / self.instances, n)
            found[PER_INSTANCE] = per
        return [
            Point(Series.of(NAMESPACE, name, dimensions), minute, aggregate)
            for name, aggregate in found.items()
            if aggregate.count > 0
        ]


def ones(samples: int, hits: int) -> Aggregate:
    """``samples`` data points of which ``hits`` are 1 and the rest 0 (SageMaker's counters)."""
    aggregate = Aggregate()
    if hits:
        aggregate.add(1.0, hits)
    if samples > hits:
        aggregate.add(0.0, samples - hits)
    return aggregate


def add_counts(into: VariantMinute, counts: VariantMinute) -> None:
    """Fold ``counts`` into ``into`` (a slot into its minute, a minute into the totals)."""
    into.invocations += counts.invocations
    into.client_errors += counts.client_errors
    into.server_errors += counts.server_errors
    into.model_errors += counts.model_errors
    into.model_latency.merge(counts.model_latency)
    into.overhead.merge(counts.overhead)
