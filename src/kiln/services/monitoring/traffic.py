"""Per-variant traffic over a time window: what the A/B report reads from the metrics store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class VariantTraffic:
    """One variant's invocations, errors and model latency over a window."""

    variant: str
    invocations: int
    client_errors: int
    """``Invocation4XXErrors``."""
    server_errors: int
    """``Invocation5XXErrors``."""
    model_errors: int
    """``InvocationModelErrors``."""
    latency_p50_us: float | None
    latency_p95_us: float | None
    latency_p99_us: float | None
    """``ModelLatency`` percentiles, microseconds; None with no invocation."""


class TrafficSource(Protocol):
    """Reads per-variant traffic of an endpoint (the metrics store implements it)."""

    def variant_traffic(self, endpoint: str, start: float, end: float) -> list[VariantTraffic]:
        """Every variant (shadows included) seen between ``start`` and ``end`` (epoch s)."""
