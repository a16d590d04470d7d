"""The endpoint controller's decisions, as pure functions of what is wanted and what runs.

The controller (:mod:`kiln.services.hosting.controller`) observes its fleets, asks these what to
do, and carries the answers out (starting, stopping and draining replicas, publishing routes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kiln.services.hosting.shapes import (
    Deployment,
    DesiredWeightAndCapacity,
    VariantNumbers,
)

FAILED_PINGS_BEFORE_REPLACING = 3


@dataclass(frozen=True, slots=True)
class ScaleStep:
    """Change one variant's replica count: start ``start`` more, or retire its last ``stop``."""

    variant: str
    start: int = 0
    stop: int = 0


@dataclass(frozen=True, slots=True)
class FleetPlan:
    """What to do to a running fleet: its new weights and the replicas to start or retire."""

    weights: Mapping[str, float]
    steps: tuple[ScaleStep, ...]


def initial_counts(deployment: Deployment) -> dict[str, int]:
    """Replicas a fresh fleet starts per variant, shadows included."""
    return {v.name: v.initial_count for v in deployment.all_variants()}


def initial_weights(deployment: Deployment) -> dict[str, float]:
    """Each variant's weight as the config asks for it, shadows included."""
    return {v.name: v.initial_weight for v in deployment.all_variants()}


def scale_steps(desired: Mapping[str, int], current: Mapping[str, int]) -> tuple[ScaleStep, ...]:
    """The steps that bring ``current`` counts to ``desired`` (variants not desired are kept)."""
    steps = []
    for variant, want in desired.items():
        have = current.get(variant, 0)
        if want > have:
            steps.append(ScaleStep(variant, start=want - have))
        elif want < have:
            steps.append(ScaleStep(variant, stop=have - want))
    return tuple(steps)


def weights_and_capacities(
    deployment: Deployment,
    weights: Mapping[str, float],
    counts: Mapping[str, int],
    desired: Sequence[DesiredWeightAndCapacity],
) -> FleetPlan:
    """The plan for ``UpdateEndpointWeightsAndCapacities`` on a fleet running ``deployment``.

    A count for a variant the deployment does not know is ignored (nothing to start it from).
    """
    new_weights = dict(weights)
    targets: dict[str, int] = {}
    for change in desired:
        if change.weight is not None:
            new_weights[change.variant] = change.weight
        if change.count is None:
            continue
        known = deployment.variant(change.variant) is not None
        if change.count < counts.get(change.variant, 0) or known:
            targets[change.variant] = change.count
    return FleetPlan(new_weights, scale_steps(targets, counts))


def shadow_fraction(production_weight: float, shadow_weight: float) -> float:
    """The share of production requests mirrored to a shadow: its weight relative to the
    production variant's, as AWS's shadow tests set their sampling percentage; at most 1."""
    if production_weight <= 0 or shadow_weight <= 0:
        return 0.0
    return min(1.0, shadow_weight / production_weight)


@dataclass(frozen=True, slots=True)
class HealthVerdict:
    """A replica's consecutive failed pings after one check, and whether to replace it."""

    failed_pings: int
    is_broken: bool


def health_verdict(is_running: bool, answered_ping: bool, failed_pings: int) -> HealthVerdict:
    """After one check: a dead process, or one that missed enough pings in a row, is broken."""
    failed = 0 if is_running and answered_ping else failed_pings + 1
    return HealthVerdict(failed, not is_running or failed >= FAILED_PINGS_BEFORE_REPLACING)


def variant_numbers(
    deployment: Deployment,
    weights: Mapping[str, float],
    healthy: Mapping[str, int],
    total: Mapping[str, int],
) -> dict[str, VariantNumbers]:
    """What ``DescribeEndpoint`` shows per variant for a fleet: its weight, healthy replicas as
    the current count, all of its replicas as the desired one."""
    return {
        v.name: VariantNumbers(
            weights.get(v.name, 0.0),
            weights.get(v.name, 0.0),
            total.get(v.name, 0),
            healthy.get(v.name, 0),
        )
        for v in deployment.all_variants()
    }
