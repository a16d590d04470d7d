"""Capacity policy: which queued jobs fit beside the running ones (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Demand:
    """What a job occupies while it runs."""

    vcpus: int
    memory_mib: int

    def __add__(self, other: Demand) -> Demand:
        return Demand(self.vcpus + other.vcpus, self.memory_mib + other.memory_mib)


NOTHING = Demand(0, 0)


def fits(demand: Demand, used: Demand, capacity: Demand) -> bool:
    """Whether ``demand`` fits in what ``used`` leaves of ``capacity``."""
    return (
        used.vcpus + demand.vcpus <= capacity.vcpus
        and used.memory_mib + demand.memory_mib <= capacity.memory_mib
    )


def can_ever_fit(demand: Demand, capacity: Demand) -> bool:
    """Whether ``demand`` fits on an idle machine."""
    return fits(demand, NOTHING, capacity)
