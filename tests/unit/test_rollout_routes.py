"""Routes during a rollout: blue's and green's variants blended by the share on green."""

from __future__ import annotations

import pytest

from kiln.services.hosting.routing import ReplicaAddress, VariantRoute, blended

BLUE = ReplicaAddress("blue", "A")
GREEN = ReplicaAddress("green", "A")


def test_a_variant_in_both_fleets_splits_its_requests_by_the_share() -> None:
    (route,) = blended([VariantRoute("A", 1.0, (BLUE,))], [VariantRoute("A", 1.0, (GREEN,))], 0.2)

    assert (route.replicas, route.green) == ((BLUE,), (GREEN,))
    assert route.green_share == pytest.approx(0.2)


@pytest.mark.parametrize(("share", "replicas"), [(0.0, (BLUE,)), (1.0, (GREEN,))])
def test_the_ends_of_a_rollout_route_one_fleet(share: float, replicas: tuple[object]) -> None:
    (route,) = blended([VariantRoute("A", 1, (BLUE,))], [VariantRoute("A", 1, (GREEN,))], share)

    assert route.replicas == replicas
    assert route.green_share == 0.0


def test_variants_of_one_fleet_only_take_their_fleets_share() -> None:
    # blue: A 1 + B 3 (weights ¼, ¾) with 60 % left; green: C alone with 40 %
    routes = blended(
        [VariantRoute("A", 1, (BLUE,)), VariantRoute("B", 3, (BLUE,))],
        [VariantRoute("C", 2, (GREEN,))],
        0.4,
    )

    assert {r.name: r.weight for r in routes} == pytest.approx({"A": 0.15, "B": 0.45, "C": 0.4})


def test_a_variant_scaled_to_zero_on_blue_sends_all_its_share_to_green() -> None:
    (route,) = blended(
        [VariantRoute("A", 1, (), is_scaled_to_zero=True)], [VariantRoute("A", 1, (GREEN,))], 0.2
    )
    assert route.green_share == 1.0
