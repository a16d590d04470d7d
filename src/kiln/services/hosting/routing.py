"""The routing table the runtime router reads on every invocation, and its pure policies.

The endpoint controller publishes a whole ``EndpointRoute`` per endpoint (replaced atomically,
never mutated in place); the router only reads, so the request path never touches the database.
Each ``ReplicaAddress`` carries its live count of outstanding requests, which the data plane
keeps and the controller reads to drain old replicas after an update. Its ``location`` is opaque
here: only the replica transport reads it (a Unix socket path today).
"""

from __future__ import annotations

import bisect
import itertools
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from kiln.services.hosting.invocations import CaptureConfig


@dataclass(eq=False, slots=True)
class ReplicaAddress:
    """Where one replica listens and how busy it is."""

    location: str
    variant: str
    outstanding: int = 0
    is_healthy: bool = True
    replica_id: str = ""


@dataclass(frozen=True, slots=True)
class VariantRoute:
    """One production variant: its traffic weight and its serving replicas."""

    name: str
    weight: float
    replicas: tuple[ReplicaAddress, ...]
    green: tuple[ReplicaAddress, ...] = ()
    """During a rollout: the new fleet's replicas of this variant."""
    green_share: float = 0.0
    """During a rollout: the share of this variant's requests that go to ``green``."""
    is_scaled_to_zero: bool = False
    """Its desired count is 0: a request waits while one replica starts (``cold_start``)."""


@dataclass(frozen=True, slots=True)
class ShadowRoute:
    """One shadow variant: the share of production requests mirrored to it, and its replicas."""

    name: str
    fraction: float
    replicas: tuple[ReplicaAddress, ...]


@dataclass(frozen=True)
class EndpointRoute:
    """Everything the data plane needs to serve one endpoint."""

    name: str
    variants: tuple[VariantRoute, ...]
    _cumulative: tuple[float, ...] = field(default=(), repr=False)
    shadows: tuple[ShadowRoute, ...] = ()
    capture: CaptureConfig | None = None
    """The endpoint's data capture, when on: the data plane samples by it."""

    @classmethod
    def build(
        cls,
        name: str,
        variants: Sequence[VariantRoute],
        shadows: Sequence[ShadowRoute] = (),
        capture: CaptureConfig | None = None,
    ) -> EndpointRoute:
        """A route with its cumulative weights precomputed for ``pick_variant``."""
        cumulative = tuple(itertools.accumulate(max(v.weight, 0.0) for v in variants))
        return cls(name, tuple(variants), cumulative, tuple(shadows), capture)

    def variant(self, name: str) -> VariantRoute | None:
        """The variant called ``name``."""
        return next((v for v in self.variants if v.name == name), None)

    def pick_variant(self, rng: random.Random) -> VariantRoute | None:
        """A variant chosen at random in proportion to the weights; None if all weigh 0."""
        if not self._cumulative or self._cumulative[-1] <= 0:
            return None
        point = rng.random() * self._cumulative[-1]
        return self.variants[bisect.bisect_right(self._cumulative, point)]


def blended(
    blue: Sequence[VariantRoute], green: Sequence[VariantRoute], share: float
) -> list[VariantRoute]:
    """The variants of a rollout with ``share`` of the endpoint's traffic on green: each fleet's
    weights scaled to its share; a variant in both fleets splits between their replicas."""
    if share <= 0:
        return list(blue)
    if share >= 1:
        return list(green)
    blue_total = sum(max(v.weight, 0.0) for v in blue) or 1.0
    green_total = sum(max(v.weight, 0.0) for v in green) or 1.0
    found = {v.name: replace(v, weight=max(v.weight, 0.0) / blue_total * (1 - share)) for v in blue}
    for v in green:
        weight = max(v.weight, 0.0) / green_total * share
        old = found.get(v.name)
        if old is None:
            found[v.name] = VariantRoute(v.name, weight, v.replicas)
            continue
        total = old.weight + weight
        green_share = weight / total if total > 0 and old.replicas else 1.0 if total > 0 else 0.0
        found[v.name] = VariantRoute(v.name, total, old.replicas, v.replicas, green_share)
    return list(found.values())


def pick_replica(
    replicas: Sequence[ReplicaAddress], exclude: Sequence[ReplicaAddress] = ()
) -> ReplicaAddress | None:
    """The healthy replica with the fewest outstanding requests (first on ties)."""
    best: ReplicaAddress | None = None
    for replica in replicas:
        if not replica.is_healthy or replica in exclude:
            continue
        if best is None or replica.outstanding < best.outstanding:
            best = replica
    return best


class RoutingTable:
    """Endpoint name → route; written by the controller, read by the router."""

    def __init__(self) -> None:
        self._routes: dict[str, EndpointRoute] = {}
        self._lock = threading.Lock()
        self._listeners: tuple[Callable[[str], None], ...] = ()

    def add_listener(self, listener: Callable[[str], None]) -> None:
        """Call ``listener(endpoint)`` after each publish or withdrawal, on that thread."""
        self._listeners = (*self._listeners, listener)

    def get(self, endpoint: str) -> EndpointRoute | None:
        """The current route of ``endpoint`` (a plain dict read: safe without the lock)."""
        return self._routes.get(endpoint)

    def routes(self) -> list[EndpointRoute]:
        """Every route now published."""
        return list(self._routes.values())

    def publish(self, route: EndpointRoute) -> None:
        """Replace the route of ``route.name``."""
        with self._lock:
            self._routes = {**self._routes, route.name: route}
        for listener in self._listeners:
            listener(route.name)

    def withdraw(self, endpoint: str) -> None:
        """Stop routing to ``endpoint``."""
        with self._lock:
            self._routes = {k: v for k, v in self._routes.items() if k != endpoint}
        for listener in self._listeners:
            listener(endpoint)
