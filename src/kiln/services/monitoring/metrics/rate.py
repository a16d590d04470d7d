"""Invocations per second of each variant over the last few seconds: the autoscaler's fast signal.

CloudWatch's points are a minute wide; a scaler that must react to a load step within seconds
needs a finer clock. ``InvocationRate`` is an ``InvocationObserver`` that keeps, per (endpoint,
variant), a ring of per-second counters: on the request path that is a dict lookup, a compare
and an integer add (no lock: observers run on the event loop, and the scaler's thread only
reads whole integers, so a read at worst misses the request being counted).
"""

from __future__ import annotations

from kiln.services.hosting.invocations import InvocationRecord

WINDOW_SECONDS = 16
"""How many seconds each ring holds: more than any window the scaler asks for."""


class _Seconds:
    """One variant's ring: ``counts[i]`` invocations arrived in second ``stamps[i]``."""

    __slots__ = ("counts", "last_at", "stamps")

    def __init__(self) -> None:
        self.stamps = [-1] * WINDOW_SECONDS
        self.counts = [0] * WINDOW_SECONDS
        self.last_at = 0.0

    def add(self, at: float) -> None:
        second = int(at)
        slot = second % WINDOW_SECONDS
        if self.stamps[slot] != second:
            self.stamps[slot] = second
            self.counts[slot] = 0
        self.counts[slot] += 1
        if at > self.last_at:
            self.last_at = at


class InvocationRate:
    """Per-second invocation counts of every variant, for the last ``WINDOW_SECONDS``."""

    def __init__(self) -> None:
        self._variants: dict[tuple[str, str], _Seconds] = {}

    def observe(self, record: InvocationRecord) -> None:
        """Count one invocation in the second it arrived (an ``InvocationObserver``)."""
        key = (record.endpoint, record.variant)
        ring = self._variants.get(key)
        if ring is None:
            ring = self._variants[key] = _Seconds()
        ring.add(record.arrived_at)

    def per_second(self, endpoint: str, variant: str, seconds: int, now: float) -> float:
        """Mean invocations per second over the ``seconds`` whole seconds before ``now``."""
        if not 1 <= seconds < WINDOW_SECONDS:
            raise ValueError(f"seconds={seconds} must be 1 to {WINDOW_SECONDS - 1}")
        ring = self._variants.get((endpoint, variant))
        if ring is None:
            return 0.0
        last = int(now)
        first = last - seconds
        total = sum(
            count
            for stamp, count in zip(list(ring.stamps), list(ring.counts), strict=True)
            if first <= stamp < last
        )
        return total / seconds

    def last_invocation_at(self, endpoint: str, variant: str) -> float | None:
        """When the latest invocation of ``variant`` arrived (epoch seconds), if any since start."""
        ring = self._variants.get((endpoint, variant))
        return None if ring is None else ring.last_at
