"""Each server's endpoint sync plan: claim, take over, adopt, wake, release, mirror, forget."""

from __future__ import annotations

from collections.abc import Mapping

from kiln.services.cluster.endpoint_plan import OwnerRow, SyncPlan, SyncView, plan_sync

NOW = 1000.0
OLD = NOW - 60  # an endpoint record last changed a minute ago


def _view(
    rows: tuple[OwnerRow, ...],
    endpoints: Mapping[str, float],
    owned: Mapping[str, int] | None = None,
    mirrored: Mapping[str, int] | None = None,
    *,
    fenced: bool = False,
) -> SyncView:
    return SyncView(
        "me", NOW, rows, endpoints, frozenset({"me", "b"}), owned or {}, mirrored or {}, fenced
    )


def test_an_endpoint_without_owner_is_claimed_once_its_record_is_still() -> None:
    plan = plan_sync(_view((), {"old": OLD, "new": NOW - 1}))
    assert plan == SyncPlan(claim=("old",))  # "new" is left to the server creating it


def test_a_dead_owners_endpoint_is_taken_over() -> None:
    plan = plan_sync(_view((OwnerRow("e", "dead", 4, 2),), {"e": OLD}))
    assert plan == SyncPlan(take=(("e", "dead"),))


def test_a_fenced_server_claims_and_takes_nothing() -> None:
    view = _view((OwnerRow("e", "dead", 4, 2),), {"e": OLD, "x": OLD}, fenced=True)
    assert plan_sync(view) == SyncPlan(mirror=("e",))  # it still routes what it can


def test_an_owned_endpoint_is_adopted_then_woken_when_its_generation_moves() -> None:
    rows = (OwnerRow("e", "me", 3, 1),)
    assert plan_sync(_view(rows, {"e": OLD})) == SyncPlan(adopt=("e",))
    assert plan_sync(_view(rows, {"e": OLD}, owned={"e": 3})) == SyncPlan()
    assert plan_sync(_view(rows, {"e": OLD}, owned={"e": 2})) == SyncPlan(wake=("e",))


def test_an_endpoint_another_server_took_is_released() -> None:
    rows = (OwnerRow("e", "b", 5, 7),)
    plan = plan_sync(_view(rows, {"e": OLD}, owned={"e": 4}))
    assert plan.release == ("e",)


def test_a_live_servers_route_is_mirrored_when_its_version_moves() -> None:
    rows = (OwnerRow("e", "b", 5, 7),)
    assert plan_sync(_view(rows, {"e": OLD})) == SyncPlan(mirror=("e",))
    assert plan_sync(_view(rows, {"e": OLD}, mirrored={"e": 7})) == SyncPlan()
    assert plan_sync(_view(rows, {"e": OLD}, mirrored={"e": 6})) == SyncPlan(mirror=("e",))


def test_a_mirrored_route_is_withdrawn_when_the_endpoint_goes_or_becomes_mine() -> None:
    rows = (OwnerRow("mine", "me", 1, 1),)
    plan = plan_sync(_view(rows, {"mine": OLD}, owned={"mine": 1}, mirrored={"gone": 3, "mine": 2}))
    assert plan.withdraw == ("gone", "mine")


def test_owner_rows_of_deleted_endpoints_are_forgotten_by_their_owner_or_when_it_is_dead() -> None:
    rows = (OwnerRow("a", "me", 1, 1), OwnerRow("b", "b", 1, 1), OwnerRow("c", "dead", 1, 1))
    assert plan_sync(_view(rows, {})).forget == ("a", "c")  # "b" is its live owner's to forget
