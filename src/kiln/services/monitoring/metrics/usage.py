"""Replicas' CPU and memory, as SageMaker reports them in ``/aws/sagemaker/Endpoints``.

``CPUUtilization``: the sum of each core's utilisation, so 0–100 % per core (400 % is four busy
cores); ``MemoryUtilization``: resident memory as a percentage of the instance type's memory.
One datum per replica per sample, with dimensions ``EndpointName`` and ``VariantName``:
Average is the mean instance, Maximum the busiest.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from kiln.compute.usage import Usage, tree_usage
from kiln.services.monitoring.metrics.series import Aggregate, Series

NAMESPACE = "/aws/sagemaker/Endpoints"
PERCENT = "Percent"


@dataclass(frozen=True)
class ReplicaView:
    """One running replica, as the sampler needs it."""

    id: str
    endpoint: str
    variant: str
    pid: int
    memory_mib: int
    """The memory of the variant's instance type."""


def cpu_percent(before: float, after: float, seconds: float) -> float:
    """CPU seconds used over ``seconds`` of wall time, as a percentage (100 per busy core)."""
    if seconds <= 0:
        return 0.0
    return max(after - before, 0.0) / seconds * 100


def memory_percent(rss_bytes: int, memory_mib: int) -> float:
    """Resident bytes as a percentage of an instance's memory."""
    if memory_mib <= 0:
        return 0.0
    return rss_bytes / (memory_mib * 1024 * 1024) * 100


Put = Callable[[Series, float, Aggregate], None]


class UsageSampler:
    """Samples every replica's CPU and memory each time it is called."""

    def __init__(
        self,
        replicas: Callable[[], Iterable[ReplicaView]],
        put: Put,
        read: Callable[[int], Usage] = tree_usage,
    ) -> None:
        self._replicas = replicas
        self._put = put
        self._read = read
        self._last: dict[str, tuple[float, float]] = {}

    def __call__(self, now: float) -> None:
        """Take one sample of each replica (CPU needs two: the first only sets a baseline)."""
        seen: dict[str, tuple[float, float]] = {}
        for replica in self._replicas():
            used = self._read(replica.pid)
            seen[replica.id] = (now, used.cpu_seconds)
            dimensions = {"EndpointName": replica.endpoint, "VariantName": replica.variant}
            self._value("MemoryUtilization", dimensions, now,
                        memory_percent(used.rss_bytes, replica.memory_mib))  # fmt: skip
            last = self._last.get(replica.id)
            if last is not None:
                percent = cpu_percent(last[1], used.cpu_seconds, now - last[0])
                self._value("CPUUtilization", dimensions, now, percent)
        self._last = seen

    def _value(self, metric: str, dimensions: dict[str, str], now: float, value: float) -> None:
        aggregate = Aggregate(unit=PERCENT)
        aggregate.add(value)
        self._put(Series.of(NAMESPACE, metric, dimensions), now, aggregate)
