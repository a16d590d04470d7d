"""What the scaler observes of a variant, and where each tracked metric comes from.

``SageMakerVariantInvocationsPerInstance`` is per minute on AWS; Kiln reads it from the last
``RATE_SECONDS`` of per-second counts (the metrics store's ``InvocationSlots``), scaled to a
minute and divided by the replicas serving, so a load step shows within seconds rather than
after a minute's point.
``SageMakerVariantConcurrentRequestsPerModelHighResolution`` is the requests in flight now per
serving replica. A customised metric is the newest minute of its CloudWatch series.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from kiln.services.autoscaling.configs import CONCURRENT_REQUESTS, CustomMetric, TargetTracking
from kiln.services.autoscaling.targets import VariantRef
from kiln.services.monitoring.metrics.fine import InvocationSlots
from kiln.services.monitoring.metrics.series import Aggregate, Series
from kiln.services.monitoring.metrics.statistics import statistic

RATE_SECONDS = 3
"""How many whole seconds of invocations the per-instance rate averages."""
_CUSTOM_LOOKBACK = 180.0


@dataclass(frozen=True, slots=True)
class VariantNow:
    """A variant as the scaler finds it on one tick."""

    status: str
    """The endpoint's ``EndpointStatus``."""
    desired: int
    """``DesiredInstanceCount``: the capacity the scaler reads and sets."""
    current: int
    """``CurrentInstanceCount``."""
    serving: int
    """Healthy replicas in the route now."""
    outstanding: int
    """Requests in flight on its replicas now."""
    failure_reason: str | None = None


class Fleet(Protocol):
    """The hosting side the scaler reads and drives."""

    def variant_now(self, ref: VariantRef) -> VariantNow | None:
        """The variant now; None when its endpoint or the variant is gone."""

    def set_instance_count(self, endpoint: str, variant: str, count: int) -> None:
        """Ask for ``count`` instances (``ValidationError`` while the endpoint is Updating)."""


Minutes = Callable[[Series, float, float], dict[int, Aggregate]]


class Signals:
    """Reads each tracked metric for the scaler."""

    def __init__(self, rate: InvocationSlots, minutes: Minutes) -> None:
        self._rate = rate
        self._minutes = minutes

    def metric(self, policy: TargetTracking, ref: VariantRef, seen: VariantNow,
               now: float) -> float | None:  # fmt: skip
        """The policy's metric for ``ref`` now; None when there is no data."""
        if policy.custom is not None:
            return self.custom(policy.custom, now)
        if seen.serving == 0:
            return None
        if policy.predefined == CONCURRENT_REQUESTS:
            return seen.outstanding / seen.serving
        per_second = self._rate.per_second(ref.endpoint, ref.variant, RATE_SECONDS, now)
        return per_second * 60 / seen.serving

    def custom(self, metric: CustomMetric, now: float) -> float | None:
        """The statistic of the newest minute of a CloudWatch series, if it has one."""
        series = Series(metric.namespace, metric.name, metric.dimensions)
        minutes = self._minutes(series, now - _CUSTOM_LOOKBACK, now + 60)
        if not minutes:
            return None
        return statistic(metric.statistic, minutes[max(minutes)])

    def last_invocation_at(self, ref: VariantRef) -> float | None:
        """When the variant's latest invocation arrived, if any since the server started."""
        return self._rate.last_invocation_at(ref.endpoint, ref.variant)
