"""The lease decisions: who is alive, when a server fences itself, who takes what over.

Each server renews its row in ``server_leases`` every third of ``KILN_LEASE_SECONDS``; the row's
``expires_at`` is the renewal time plus the lease. Another server judges a lease by its own clock
(servers keep their clocks in step, as NTP does, far closer than a lease).

Timeline of a server that loses the database at ``r`` (its last renewal):

- ``r + ⅔ lease``: it fences itself (``standing``): no new work; its jobs' processes stop;
- ``r + lease``: its lease expires; a live server takes its endpoints over within a second and
  its jobs within a third of a lease (``takeover_deadline`` ≤ 2 × lease).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

FENCE_FRACTION = 2 / 3
"""The share of a lease a server goes without renewing before it fences itself."""


class Standing(Enum):
    """A server's own view of its lease.

    LIVE: renewed recently; it may claim and run work.
    FENCED: not renewed for ⅔ of a lease; it claims nothing and stops its jobs (another server
    may take them over once the lease expires).
    """

    LIVE = "live"
    FENCED = "fenced"


@dataclass(frozen=True)
class Lease:
    """One server's lease as stored."""

    server_id: str
    expires_at: float


def is_expired(lease: Lease, now: float) -> bool:
    """Whether ``lease`` has run out at ``now`` (its server is dead, or cut off)."""
    return now > lease.expires_at


def live_servers(leases: Iterable[Lease], now: float) -> frozenset[str]:
    """The servers whose leases still run at ``now``."""
    return frozenset(lease.server_id for lease in leases if not is_expired(lease, now))


def gone_servers(leases: Iterable[Lease], now: float, me: str) -> frozenset[str]:
    """The servers whose leases ran out at ``now`` (their work is another's), never ``me``."""
    return frozenset(
        lease.server_id for lease in leases if is_expired(lease, now) and lease.server_id != me
    )


def standing(last_renewed: float, now: float, lease_seconds: float) -> Standing:
    """LIVE while the last renewal is under ⅔ of a lease old, else FENCED."""
    is_stale = now - last_renewed >= lease_seconds * FENCE_FRACTION
    return Standing.FENCED if is_stale else Standing.LIVE


def renew_interval(lease_seconds: float) -> float:
    """How often a server renews: a third of the lease (two misses still leave it live)."""
    return lease_seconds / 3


def retry_delay(attempt: int, lease_seconds: float) -> float:
    """The wait before renewal retry ``attempt`` (1, 2, …): doubling from 0.1 s, at most a sixth
    of the lease, so several tries fit before the server fences itself."""
    return min(0.1 * 2.0 ** (attempt - 1), lease_seconds / 6)


def takeover_deadline(lease_seconds: float) -> float:
    """The longest a dead server's work waits for another: expiry plus one renewal tick."""
    return lease_seconds + renew_interval(lease_seconds)


def is_orphaned(owner: str | None, live: frozenset[str], me: str) -> bool:
    """Whether work owned by ``owner`` has lost its server (never my own: I recover that)."""
    return owner is not None and owner != me and owner not in live


def fence_overlap(lease_seconds: float, stop_grace_seconds: float) -> float:
    """How long a fenced server's job may still run after its lease expired (and another server
    may restart it): SIGTERM at ⅔ of the lease, SIGKILL a grace later; 0 when the grace fits in
    the last third."""
    return max(0.0, stop_grace_seconds - lease_seconds * (1 - FENCE_FRACTION))
