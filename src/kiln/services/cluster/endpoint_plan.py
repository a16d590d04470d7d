"""What one server does about the endpoints each second: a pure plan from what it read.

Every endpoint has one owner (``endpoint_owners``): only its controller starts, replaces and
stops replicas. The owner acts when the endpoint's ``generation`` moves (every API change bumps
it, on whichever server the call came to); the other servers mirror the route the owner
publishes (``route_version``) so their data planes reach its replicas. An endpoint with no owner
row (a row lost, a database from before owners) is claimed once its record has been still for
``CLAIM_AFTER`` seconds, so that the server that creates an endpoint, which writes its owner row
right after the record, keeps it. An owner whose lease has run out loses its endpoints to the
first live server that takes them (a conditional update: exactly one wins).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

CLAIM_AFTER = 2.0


@dataclass(frozen=True)
class OwnerRow:
    """One endpoint's owner row as read."""

    endpoint: str
    owner: str
    generation: int
    route_version: int


@dataclass(frozen=True)
class SyncView:
    """What a server read and remembers, for ``plan_sync``."""

    me: str
    now: float
    rows: tuple[OwnerRow, ...]
    endpoints: Mapping[str, float]
    """Every endpoint record: name → last modified time."""
    live: frozenset[str]
    """Servers whose leases run (this one included while it is live)."""
    owned: Mapping[str, int]
    """The endpoints this server's controller drives → the generation it last acted on."""
    mirrored: Mapping[str, int]
    """Other servers' endpoints routed here → the route version mirrored."""
    is_fenced: bool = False


@dataclass(frozen=True)
class SyncPlan:
    """What to do, in this order."""

    claim: tuple[str, ...] = ()
    """Endpoints with no owner row: insert one naming this server."""
    take: tuple[tuple[str, str], ...] = ()
    """(endpoint, dead owner): move to this server if the owner is still the dead one."""
    adopt: tuple[str, ...] = ()
    """Owned rows this controller does not drive yet (e.g. after a restart): bring them up."""
    wake: tuple[str, ...] = ()
    """Owned endpoints whose generation moved: the controller applies the change."""
    release: tuple[str, ...] = ()
    """Endpoints this controller drives that another server owns now: stop its replicas."""
    mirror: tuple[str, ...] = ()
    """Other servers' endpoints whose route changed: route to the published replicas."""
    withdraw: tuple[str, ...] = ()
    """Mirrored routes whose endpoint is gone or is this server's now."""
    forget: tuple[str, ...] = ()
    """Owner rows of deleted endpoints (this server's, or a dead server's)."""


def plan_sync(view: SyncView) -> SyncPlan:
    """The plan for one sync tick (see the module docstring)."""
    rows = {row.endpoint: row for row in view.rows}
    can_gain = not view.is_fenced
    claim = tuple(
        name
        for name, modified in sorted(view.endpoints.items())
        if name not in rows and can_gain and view.now - modified >= CLAIM_AFTER
    )
    take, adopt, wake, mirror, forget = [], [], [], [], []
    for name, row in sorted(rows.items()):
        is_dead = row.owner != view.me and row.owner not in view.live
        if name not in view.endpoints:
            if row.owner == view.me or is_dead:
                forget.append(name)
        elif row.owner == view.me:
            seen = view.owned.get(name)
            if seen is None:
                adopt.append(name)
            elif row.generation != seen:
                wake.append(name)
        elif is_dead and can_gain:
            take.append((name, row.owner))
        elif view.mirrored.get(name) != row.route_version:
            mirror.append(name)
    mine_now = {name for name, row in rows.items() if row.owner == view.me}
    release = tuple(sorted(n for n in view.owned if n in rows and n not in mine_now))
    withdraw = tuple(sorted(n for n in view.mirrored if n not in view.endpoints or n in mine_now))
    return SyncPlan(
        claim, tuple(take), tuple(adopt), tuple(wake), release, tuple(mirror), withdraw,
        tuple(forget),
    )  # fmt: skip
