"""Capacity policy: what a job occupies, which queued jobs fit beside the running ones, and what
runs when a job asks for more than this machine has (pure functions).

Capacity is a queue, not a gate: a job whose instances ask for more than the whole machine runs
on the machine (its demand clamped to the capacity, so it runs alone rather than never) and says
so once; ``KILN_STRICT_CAPACITY=1`` refuses it instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from kiln.config import Settings
from kiln.instance_types import InstanceType


@dataclass(frozen=True)
class Demand:
    """What a job occupies while it runs."""

    vcpus: int
    memory_mib: int
    gpus: int = 0

    def __add__(self, other: Demand) -> Demand:
        return Demand(
            self.vcpus + other.vcpus,
            self.memory_mib + other.memory_mib,
            self.gpus + other.gpus,
        )


NOTHING = Demand(0, 0)


def machine_capacity(settings: Settings) -> Demand:
    """What this machine offers jobs and replicas (``KILN_CAPACITY_*``; on Ray, the settings
    sized to the largest live node)."""
    return Demand(settings.capacity_vcpus, settings.capacity_memory_mib, settings.capacity_gpus)


def machine_name(settings: Settings) -> str:
    """What one host runs on, as the notes name it."""
    return "the largest Ray node" if settings.backend == "ray" else "this machine"


def capacity_source(settings: Settings) -> str:
    """Where ``machine_capacity`` comes from, for an error that tells what to change."""
    if settings.backend == "ray":
        return "the largest live Ray node"
    return "KILN_CAPACITY_VCPUS, KILN_CAPACITY_MEMORY_MIB, KILN_CAPACITY_GPUS"


def demand_of(size: InstanceType, count: int = 1) -> Demand:
    """What ``count`` instances of ``size`` ask for; Inferentia, Trainium and Gaudi chips are
    no GPUs, so they ask for none (they run on CPU here)."""
    gpus = size.gpus if size.accelerator == "GPU" else 0
    return Demand(size.vcpus * count, size.memory_mib * count, gpus * count)


def fits(demand: Demand, used: Demand, capacity: Demand) -> bool:
    """Whether ``demand`` fits in what ``used`` leaves of ``capacity``."""
    return (
        used.vcpus + demand.vcpus <= capacity.vcpus
        and used.memory_mib + demand.memory_mib <= capacity.memory_mib
        and used.gpus + demand.gpus <= capacity.gpus
    )


def can_ever_fit(demand: Demand, capacity: Demand) -> bool:
    """Whether ``demand`` fits on an idle machine."""
    return fits(demand, NOTHING, capacity)


def clamp(demand: Demand, capacity: Demand) -> Demand:
    """``demand`` cut down to ``capacity`` in each resource: what actually runs."""
    return Demand(
        min(demand.vcpus, capacity.vcpus),
        min(demand.memory_mib, capacity.memory_mib),
        min(demand.gpus, capacity.gpus),
    )


@dataclass(frozen=True)
class Shortfall:
    """A request beyond the machine: what it asks, what the machine has, what runs instead."""

    asks: str
    has: str
    runs_on: str

    def __str__(self) -> str:
        return f"{self.asks}; {self.has}: {self.runs_on}"


def shortfall(
    what: str, size: InstanceType, count: int, capacity: Demand, machine: str = "this machine"
) -> Shortfall | None:
    """How ``count`` × ``size`` exceeds an idle ``machine`` of ``capacity``, or None if it
    fits."""
    asked = demand_of(size, count)
    foreign = size.gpus * count if size.accelerator != "GPU" else 0
    if can_ever_fit(asked, capacity) and not foreign:
        return None
    given = clamp(asked, capacity)
    lacking = []
    if asked.vcpus > capacity.vcpus:
        lacking.append(_count(capacity.vcpus, "vCPU"))
    if asked.memory_mib > capacity.memory_mib:
        lacking.append(f"{capacity.memory_mib} MiB")
    if asked.gpus > capacity.gpus:
        lacking.append(_count(capacity.gpus, "GPU") if capacity.gpus else "no GPU")
    if foreign:
        lacking.append(f"no {size.accelerator}")
    cpu_only = (asked.gpus and not given.gpus) or foreign
    return Shortfall(
        f"{what} asks for {_describe(asked, foreign, size.accelerator)}",
        f"{machine} has {_join(lacking)}",
        f"running on {_describe(given, 0, '')}" + (" (CPU only)" if cpu_only else ""),
    )


def out_of_memory_reason(who: str, instance_type: str, instance_mib: int, given_mib: int) -> str:
    """What to tell about ``who`` (the job, the model server) killed for going over its memory:
    the instance type's, or less where this machine cut it down (then a bigger type won't help)."""
    if given_mib >= instance_mib:
        return (
            f"out of memory: {who} used more than the {memory_text(instance_mib)} of "
            f"{instance_type}; choose an instance type with more memory"
        )
    return (
        f"out of memory: {who} used more than the {memory_text(given_mib)} this machine gives it "
        f"({instance_type} has {memory_text(instance_mib)}, cut to KILN_CAPACITY_MEMORY_MIB); "
        "give Kiln more memory or make it use less"
    )


def memory_text(mib: int) -> str:
    """``mib`` as people say it: 256 MiB, 4 GiB, 1.5 GiB."""
    if mib < 1024:
        return f"{mib} MiB"
    return f"{round(mib / 1024, 1):g} GiB"


def _describe(demand: Demand, foreign: int, accelerator: str) -> str:
    parts = [_count(demand.vcpus, "vCPU"), f"{demand.memory_mib} MiB"]
    if demand.gpus:
        parts.append(_count(demand.gpus, "GPU"))
    if foreign:
        parts.append(_count(foreign, f"{accelerator} chip"))
    return _join(parts)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


# Instances one training job or one endpoint variant may ask for. AWS bounds them by account
# quotas; without a bound, one request with InstanceCount 2**31-1 would have Kiln build a host
# (and a thread) per instance until the server runs out of memory.
INSTANCE_QUOTA = 100


def quota_exceeded(instance_type: str, usage: str, count: int) -> str | None:
    """AWS's ResourceLimitExceeded message when ``count`` instances pass the quota, else None."""
    if count <= INSTANCE_QUOTA:
        return None
    return (
        f"The account-level service limit '{instance_type} for {usage}' is {INSTANCE_QUOTA} "
        f"Instances, with current utilization of 0 Instances and a request delta of {count} "
        "Instances. Kiln's limit is fixed (capacity.INSTANCE_QUOTA)."
    )
