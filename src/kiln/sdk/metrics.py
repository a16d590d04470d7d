"""An endpoint's metrics, read through CloudWatch's ``GetMetricData`` as any boto3 user could.

from kiln.sdk.metrics import endpoint_metrics
for v in endpoint_metrics("my-endpoint", minutes=5):
    print(v.variant, v.invocations_per_minute, v.latency_p99_ms)
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kiln.sdk.session import Session

_INVOCATIONS = "AWS/SageMaker"
_USAGE = "/aws/sagemaker/Endpoints"


@dataclass(frozen=True)
class VariantMetrics:
    """One variant's traffic and load over the last minutes."""

    variant: str
    instances: int
    invocations_per_minute: float
    client_errors: int
    """``Invocation4XXErrors`` over the window."""
    server_errors: int
    """``Invocation5XXErrors`` over the window."""
    model_errors: int
    """``InvocationModelErrors`` over the window."""
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    """``ModelLatency`` percentiles; None without invocations."""
    cpu_percent: float | None
    """``CPUUtilization`` (100 per busy core), mean instance; None before the first samples."""
    memory_percent: float | None


# query id → (namespace, metric, statistic)
_QUERIES = {
    "inv": (_INVOCATIONS, "Invocations", "Sum"),
    "e4": (_INVOCATIONS, "Invocation4XXErrors", "Sum"),
    "e5": (_INVOCATIONS, "Invocation5XXErrors", "Sum"),
    "em": (_INVOCATIONS, "InvocationModelErrors", "Sum"),
    "p50": (_INVOCATIONS, "ModelLatency", "p50"),
    "p99": (_INVOCATIONS, "ModelLatency", "p99"),
    "cpu": (_USAGE, "CPUUtilization", "Average"),
    "mem": (_USAGE, "MemoryUtilization", "Average"),
}


def endpoint_metrics(
    endpoint: str, session: Session | None = None, minutes: int = 5
) -> list[VariantMetrics]:
    """Each variant's (shadows included) metrics over the last ``minutes`` minutes."""
    session = session or Session()
    described = session.sagemaker_client.describe_endpoint(EndpointName=endpoint)
    variants = {
        v["VariantName"]: int(v.get("CurrentInstanceCount", 0))
        for v in [*described.get("ProductionVariants", []),
                  *described.get("ShadowProductionVariants", [])]
    }  # fmt: skip
    if not variants:
        return []
    period = minutes * 60
    now = time.time()
    queries = [
        _query(f"{key}_{i}", namespace, metric, stat, endpoint, variant, period)
        for i, variant in enumerate(variants)
        for key, (namespace, metric, stat) in _QUERIES.items()
    ]
    results = session.cloudwatch_client.get_metric_data(
        MetricDataQueries=queries, StartTime=now - period, EndTime=now + 60
    )["MetricDataResults"]
    values = {r["Id"]: [float(v) for v in r["Values"]] for r in results}
    return [_variant(name, count, i, values, minutes) for i, (name, count) in
            enumerate(variants.items())]  # fmt: skip


def _query(
    query_id: str, namespace: str, metric: str, stat: str, endpoint: str, variant: str, period: int
) -> dict[str, Any]:
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint},
        {"Name": "VariantName", "Value": variant},
    ]
    return {
        "Id": query_id,
        "MetricStat": {
            "Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions},
            "Period": period,
            "Stat": stat,
        },
    }


def _variant(
    name: str, instances: int, i: int, values: dict[str, list[float]], minutes: int
) -> VariantMetrics:
    def total(key: str) -> float:
        return sum(values.get(f"{key}_{i}", []))

    def latest(key: str, scale: float = 1.0) -> float | None:
        found = values.get(f"{key}_{i}", [])
        return found[0] / scale if found else None  # newest first

    return VariantMetrics(
        variant=name,
        instances=instances,
        invocations_per_minute=total("inv") / minutes,
        client_errors=int(total("e4")),
        server_errors=int(total("e5")),
        model_errors=int(total("em")),
        latency_p50_ms=latest("p50", 1000.0),
        latency_p99_ms=latest("p99", 1000.0),
        cpu_percent=latest("cpu"),
        memory_percent=latest("mem"),
    )
