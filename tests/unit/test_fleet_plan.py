"""The endpoint controller's decisions, as tables: wanted and running → what to do."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from kiln.services.hosting.fleet_plan import (
    HealthVerdict,
    ScaleStep,
    health_verdict,
    initial_counts,
    scale_steps,
    shadow_fraction,
    variant_numbers,
    weights_and_capacities,
)
from kiln.services.hosting.shapes import (
    Deployment,
    DesiredWeightAndCapacity,
    VariantNumbers,
    VariantSpec,
)


def _variant(name: str, count: int = 1, weight: float = 1.0) -> VariantSpec:
    return VariantSpec(name, "ml.m5.large", count, weight, {}, None)


DEPLOYMENT = Deployment("c", (_variant("A", 2), _variant("B", 1, 3.0)), (_variant("S", 1, 0.5),))


def test_a_fresh_fleet_starts_every_variant_shadows_included() -> None:
    assert initial_counts(DEPLOYMENT) == {"A": 2, "B": 1, "S": 1}


@pytest.mark.parametrize(
    ("desired", "current", "steps"),
    [
        ({"A": 2}, {"A": 2}, ()),
        ({"A": 3}, {"A": 1}, (ScaleStep("A", start=2),)),
        ({"A": 1}, {"A": 3}, (ScaleStep("A", stop=2),)),
        ({"A": 0}, {"A": 1}, (ScaleStep("A", stop=1),)),
        ({"A": 1, "S": 2}, {"A": 1}, (ScaleStep("S", start=2),)),
        ({"B": 1}, {"A": 5, "B": 1}, ()),
    ],
)
def test_scale_steps(
    desired: Mapping[str, int], current: Mapping[str, int], steps: tuple[ScaleStep, ...]
) -> None:
    assert scale_steps(desired, current) == steps


@pytest.mark.parametrize(
    ("desired", "weights", "steps"),
    [
        # Weight only: no replica moves.
        ([DesiredWeightAndCapacity("A", 5.0, None)], {"A": 5.0, "B": 3.0, "S": 0.5}, ()),
        # Count only: the weights stay.
        (
            [DesiredWeightAndCapacity("B", None, 3)],
            {"A": 1.0, "B": 3.0, "S": 0.5},
            (ScaleStep("B", start=2),),
        ),
        # Both, on two variants.
        (
            [DesiredWeightAndCapacity("A", 0.0, 1), DesiredWeightAndCapacity("S", 1.0, 2)],
            {"A": 0.0, "B": 3.0, "S": 1.0},
            (ScaleStep("A", stop=1), ScaleStep("S", start=1)),
        ),
        # A variant the deployment does not know cannot be started.
        ([DesiredWeightAndCapacity("X", None, 2)], {"A": 1.0, "B": 3.0, "S": 0.5}, ()),
    ],
)
def test_weights_and_capacities(
    desired: list[DesiredWeightAndCapacity],
    weights: Mapping[str, float],
    steps: tuple[ScaleStep, ...],
) -> None:
    plan = weights_and_capacities(
        DEPLOYMENT, {"A": 1.0, "B": 3.0, "S": 0.5}, {"A": 2, "B": 1, "S": 1}, desired
    )
    assert plan.weights == weights
    assert plan.steps == steps


@pytest.mark.parametrize(
    ("production", "shadow", "fraction"),
    [(1.0, 1.0, 1.0), (1.0, 0.5, 0.5), (2.0, 0.5, 0.25), (1.0, 3.0, 1.0), (0.0, 1.0, 0.0),
     (1.0, 0.0, 0.0)],
)  # fmt: skip
def test_shadow_fraction(production: float, shadow: float, fraction: float) -> None:
    assert shadow_fraction(production, shadow) == fraction


@pytest.mark.parametrize(
    ("is_running", "answered", "failed_before", "verdict"),
    [
        (True, True, 0, HealthVerdict(0, False)),
        (True, True, 2, HealthVerdict(0, False)),
        (True, False, 0, HealthVerdict(1, False)),
        (True, False, 2, HealthVerdict(3, True)),
        (False, False, 0, HealthVerdict(1, True)),
    ],
)
def test_health_verdict(
    is_running: bool, answered: bool, failed_before: int, verdict: HealthVerdict
) -> None:
    assert health_verdict(is_running, answered, failed_before) == verdict


def test_variant_numbers_count_healthy_replicas_as_current() -> None:
    numbers = variant_numbers(
        DEPLOYMENT, {"A": 1.0, "B": 3.0, "S": 0.5}, {"A": 1, "B": 1}, {"A": 2, "B": 1, "S": 1}
    )
    assert numbers == {
        "A": VariantNumbers(1.0, 1.0, 2, 1),
        "B": VariantNumbers(3.0, 3.0, 1, 1),
        "S": VariantNumbers(0.5, 0.5, 1, 0),
    }
