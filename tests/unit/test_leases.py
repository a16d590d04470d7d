"""The lease decisions: expiry, fencing, retry backoff, the takeover bound, orphaned work."""

from __future__ import annotations

import pytest

from kiln.services.cluster.leases import (
    Lease,
    Standing,
    fence_overlap,
    gone_servers,
    is_expired,
    is_orphaned,
    live_servers,
    retry_delay,
    standing,
    takeover_deadline,
)


@pytest.mark.parametrize(
    ("expires_at", "now", "expected"),
    [(100.0, 99.0, False), (100.0, 100.0, False), (100.0, 100.1, True)],
)
def test_a_lease_expires_after_its_expiry_time(
    expires_at: float, now: float, expected: bool
) -> None:
    assert is_expired(Lease("a", expires_at), now) is expected


def test_live_servers_are_those_whose_leases_run() -> None:
    leases = [Lease("a", 110.0), Lease("b", 90.0), Lease("c", 100.0)]
    assert live_servers(leases, 100.0) == {"a", "c"}


@pytest.mark.parametrize(
    ("me", "expected"),
    [
        ("a", {"b", "d"}),
        ("b", {"d"}),  # my own expired lease: I am alive after all, and recover my own work
    ],
)
def test_gone_servers_are_the_others_whose_leases_ran_out(me: str, expected: set[str]) -> None:
    leases = [Lease("a", 110.0), Lease("b", 90.0), Lease("c", 100.0), Lease("d", 50.0)]
    assert gone_servers(leases, 100.0, me) == expected


@pytest.mark.parametrize(
    ("last_renewed", "now", "lease", "expected"),
    [
        (100.0, 100.0, 15.0, Standing.LIVE),
        (100.0, 109.9, 15.0, Standing.LIVE),  # 9.9 s < ⅔ × 15 = 10 s
        (100.0, 110.0, 15.0, Standing.FENCED),
        (100.0, 101.9, 3.0, Standing.LIVE),  # ⅔ × 3 = 2 s
        (100.0, 102.0, 3.0, Standing.FENCED),
    ],
)
def test_a_server_fences_itself_at_two_thirds_of_a_lease_without_renewal(
    last_renewed: float, now: float, lease: float, expected: Standing
) -> None:
    assert standing(last_renewed, now, lease) is expected


@pytest.mark.parametrize(
    ("attempt", "lease", "expected"),
    [
        (1, 15.0, 0.1),
        (2, 15.0, 0.2),
        (4, 15.0, 0.8),
        (6, 15.0, 2.5),
        (20, 15.0, 2.5),
        (3, 3.0, 0.4),
    ],
)  # capped at lease / 6: 15 / 6 = 2.5
def test_renewal_retries_back_off_to_a_sixth_of_the_lease(
    attempt: int, lease: float, expected: float
) -> None:
    assert retry_delay(attempt, lease) == pytest.approx(expected)


@pytest.mark.parametrize("lease", [2.0, 3.0, 15.0, 60.0])
def test_takeover_comes_within_twice_the_lease_and_after_the_fence(lease: float) -> None:
    # fence at ⅔ lease < expiry at 1 lease; taken by the next tick: 4/3 lease ≤ 2 leases
    assert lease * 2 / 3 < lease < takeover_deadline(lease) <= 2 * lease


@pytest.mark.parametrize(
    ("owner", "expected"),
    [(None, False), ("me", False), ("alive", False), ("dead", True)],
)
def test_work_is_orphaned_only_when_another_server_owning_it_is_dead(
    owner: str | None, expected: bool
) -> None:
    assert is_orphaned(owner, frozenset({"me", "alive"}), "me") is expected


@pytest.mark.parametrize(
    ("lease", "grace", "expected"),
    [(15.0, 3.0, 0.0), (15.0, 5.0, 0.0), (15.0, 120.0, 115.0), (3.0, 2.0, 1.0)],
)  # SIGTERM at ⅔ lease, SIGKILL a grace later, expiry at 1 lease: overlap = grace − lease / 3
def test_a_fenced_jobs_overlap_with_its_restart_is_the_grace_beyond_the_last_third(
    lease: float, grace: float, expected: float
) -> None:
    assert fence_overlap(lease, grace) == pytest.approx(expected)
