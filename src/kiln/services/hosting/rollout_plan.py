"""Safe rollouts' decisions: ``UpdateEndpoint``'s ``DeploymentConfig`` → stages → next step.

A rollout starts the new (green) fleet whole, then moves traffic to it in stages and bakes
after each; the old (blue) fleet keeps serving its share until the last bake ends:

    ALL_AT_ONCE  one stage: 100 %, baking WaitIntervalInSeconds + TerminationWaitInSeconds
    CANARY       CanarySize, baking WaitIntervalInSeconds; then 100 %, TerminationWait
    LINEAR       LinearStepSize, 2 × it, … each baking WaitIntervalInSeconds; 100 % last
    rolling      RollingUpdatePolicy: LINEAR by MaximumBatchSize (Kiln starts the new fleet
                 whole rather than batch by batch: see docs/rollouts.md)

While baking, an alarm of ``AutoRollbackConfiguration`` in ALARM, or the deployment running past
``MaximumExecutionTimeoutInSeconds``, rolls back: all traffic to blue, green stopped.
``next_step`` is the pure decision the controller carries out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from kiln.errors import ValidationError


class Routing(StrEnum):
    """``TrafficRoutingConfiguration.Type``."""

    ALL_AT_ONCE = "ALL_AT_ONCE"
    CANARY = "CANARY"
    LINEAR = "LINEAR"


@dataclass(frozen=True, slots=True)
class Size:
    """A ``CapacitySize``: ``INSTANCE_COUNT`` or ``CAPACITY_PERCENT``, and its value."""

    kind: str
    value: int

    def share(self, instances: int) -> float:
        """The share of a fleet of ``instances`` this size is (0–1, not clamped)."""
        if self.kind == "CAPACITY_PERCENT":
            return self.value / 100
        return self.value / max(instances, 1)


@dataclass(frozen=True, slots=True)
class RolloutPolicy:
    """A ``DeploymentConfig`` as Kiln carries it out."""

    routing: Routing
    wait_interval: float
    step: Size | None = None
    termination_wait: float = 0.0
    max_execution: float | None = None
    alarms: tuple[str, ...] = ()
    is_rolling: bool = False


@dataclass(frozen=True, slots=True)
class Stage:
    """One traffic shift: the share of traffic on green after it, and how long to bake."""

    share: float
    bake: float


class Step(StrEnum):
    """What the controller does next."""

    SHIFT = "shift"
    """Move traffic to ``Decision.stage``'s share."""
    BAKE = "bake"
    """Wait (watching the alarms) until ``Decision.until``."""
    FINISH = "finish"
    """All traffic on green and baked: stop blue."""
    ROLL_BACK = "roll_back"
    """All traffic back to blue, stop green, for ``Decision.reason``."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The next step, and its stage, deadline or reason."""

    step: Step
    stage: int = 0
    until: float = 0.0
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a rollout stands (times in seconds on one clock)."""

    stage: int
    """The stage whose shift was made last; -1 before the first."""
    stage_since: float
    started: float
    now: float
    alarming: tuple[str, ...] = ()
    """The policy's alarms now in ALARM."""


def parse_policy(config: Mapping[str, Any] | None) -> RolloutPolicy | None:
    """The policy a ``DeploymentConfig`` asks for (None: none given, the classic update)."""
    if not config:
        return None
    blue_green, rolling = config.get("BlueGreenUpdatePolicy"), config.get("RollingUpdatePolicy")
    alarms = tuple(a["AlarmName"] for a in (config.get("AutoRollbackConfiguration") or {}).get(
        "Alarms", []))  # fmt: skip
    if blue_green and rolling:
        raise ValidationError(
            "DeploymentConfig: specify either BlueGreenUpdatePolicy or RollingUpdatePolicy, "
            "not both."
        )
    if rolling:
        return RolloutPolicy(
            Routing.LINEAR,
            float(rolling.get("WaitIntervalInSeconds", 0)),
            _size(rolling["MaximumBatchSize"]),
            max_execution=_float(rolling.get("MaximumExecutionTimeoutInSeconds")),
            alarms=alarms,
            is_rolling=True,
        )
    if not blue_green:
        raise ValidationError(
            "DeploymentConfig: specify BlueGreenUpdatePolicy or RollingUpdatePolicy."
        )
    traffic = blue_green["TrafficRoutingConfiguration"]
    routing = Routing(traffic["Type"])
    step = {Routing.CANARY: "CanarySize", Routing.LINEAR: "LinearStepSize"}.get(routing)
    if step is not None and not traffic.get(step):
        raise ValidationError(f"TrafficRoutingConfiguration: {step} is required for {routing}.")
    for other in ("CanarySize", "LinearStepSize"):
        if other != step and traffic.get(other):
            raise ValidationError(
                f"TrafficRoutingConfiguration: {other} is not allowed for {routing}."
            )
    return RolloutPolicy(
        routing,
        float(traffic["WaitIntervalInSeconds"]),
        _size(traffic[step]) if step else None,
        float(blue_green.get("TerminationWaitInSeconds", 0)),
        _float(blue_green.get("MaximumExecutionTimeoutInSeconds")),
        alarms,
    )


def check_policy(policy: RolloutPolicy, instances: int) -> None:
    """``ValidationError`` when the sizes do not fit a fleet of ``instances`` or the timeout
    is shorter than the waits (AWS's rules from the ``DeploymentConfig`` reference)."""
    if policy.step is not None:
        share = policy.step.share(instances)
        low, what = _LIMITS[(policy.is_rolling, policy.routing)]
        if not low <= share <= 0.5:
            raise ValidationError(
                f"{what} ({policy.step.value} {policy.step.kind}) must be "
                f"{'' if low == 0 else f'{low:.0%} to '}50% of the variant's total instance "
                f"count ({instances}) or less; it is {share:.0%}."
            )
    waits = sum(s.bake for s in stages(policy, instances))
    if policy.max_execution is not None and policy.max_execution <= waits:
        raise ValidationError(
            f"MaximumExecutionTimeoutInSeconds ({policy.max_execution:g}) must be larger than "
            f"the total waiting time of the deployment ({waits:g} s)."
        )


_LIMITS = {
    (False, Routing.CANARY): (0.0, "CanarySize"),
    (False, Routing.LINEAR): (0.1, "LinearStepSize"),
    (True, Routing.LINEAR): (0.05, "MaximumBatchSize"),
}


def stages(policy: RolloutPolicy, instances: int) -> tuple[Stage, ...]:
    """The traffic shifts of ``policy`` on a fleet of ``instances``, in order."""
    wait, last = policy.wait_interval, policy.termination_wait
    if policy.routing is Routing.ALL_AT_ONCE or policy.step is None:
        return (Stage(1.0, wait + last),)
    share = min(policy.step.share(instances), 1.0)
    if policy.routing is Routing.CANARY:
        return (Stage(share, wait), Stage(1.0, last))
    count = math.ceil(1 / share - 1e-9)
    return tuple(Stage(min(1.0, k * share), wait) for k in range(1, count)) + (
        Stage(1.0, wait + last),
    )


def next_step(policy: RolloutPolicy, plan: Sequence[Stage], progress: Progress) -> Decision:
    """What to do now: roll back on an alarm or the timeout, else shift, bake or finish."""
    if progress.alarming:
        names = ", ".join(progress.alarming)
        return Decision(
            Step.ROLL_BACK,
            reason=f"Rolled back: the deployment tripped CloudWatch alarm(s) [{names}] "
            "in its AutoRollbackConfiguration.",
        )
    if policy.max_execution is not None and progress.now - progress.started > policy.max_execution:
        return Decision(
            Step.ROLL_BACK,
            reason="Rolled back: the deployment exceeded MaximumExecutionTimeoutInSeconds "
            f"({policy.max_execution:g} s).",
        )
    if progress.stage < 0:
        return Decision(Step.SHIFT, 0)
    until = progress.stage_since + plan[progress.stage].bake
    if progress.now < until:
        return Decision(Step.BAKE, progress.stage, until)
    if progress.stage + 1 < len(plan):
        return Decision(Step.SHIFT, progress.stage + 1)
    return Decision(Step.FINISH, progress.stage)


def _size(value: Mapping[str, Any]) -> Size:
    return Size(str(value["Type"]), int(value["Value"]))


def _float(value: Any) -> float | None:
    return None if value is None else float(value)
