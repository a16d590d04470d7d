"""The metrics Kiln itself publishes in SageMaker's namespaces: what alarms and scaling policies
may name there (any other name in them would never get a datapoint)."""

from __future__ import annotations

from collections.abc import Mapping

from kiln.services.monitoring.metrics import counting, usage

PUBLISHED: Mapping[str, frozenset[str]] = {
    counting.NAMESPACE: frozenset(
        {
            counting.INVOCATIONS,
            counting.CLIENT_ERRORS,
            counting.SERVER_ERRORS,
            counting.MODEL_ERRORS,
            counting.PER_INSTANCE,
            counting.MODEL_LATENCY,
            counting.OVERHEAD_LATENCY,
        }
    ),
    usage.NAMESPACE: frozenset({"CPUUtilization", "MemoryUtilization"}),
}


def unpublished(namespace: str, metric: str) -> frozenset[str] | None:
    """What Kiln publishes in ``namespace`` when ``metric`` is not one of them; None when it is,
    or when the namespace is not Kiln's (users' own ``PutMetricData`` series)."""
    known = PUBLISHED.get(namespace)
    return None if known is None or metric in known else known
