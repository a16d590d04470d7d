"""Rollout decisions as tables: DeploymentConfig → stages; progress → the next step."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.errors import ValidationError
from kiln.services.hosting.rollout_plan import (
    Decision,
    Progress,
    RolloutPolicy,
    Routing,
    Size,
    Stage,
    Step,
    check_policy,
    next_step,
    parse_policy,
    stages,
)


def _blue_green(kind: str, wait: int = 5, **traffic: Any) -> dict[str, Any]:
    routing = {"Type": kind, "WaitIntervalInSeconds": wait, **traffic}
    return {"BlueGreenUpdatePolicy": {"TrafficRoutingConfiguration": routing}}


PERCENT_20 = {"Type": "CAPACITY_PERCENT", "Value": 20}
CANARY = RolloutPolicy(Routing.CANARY, 5.0, Size("CAPACITY_PERCENT", 10), 3.0, None, ("a",))


def test_no_deployment_config_is_the_classic_update() -> None:
    assert parse_policy(None) is None


def test_a_canary_config_parses_to_its_policy() -> None:
    config = _blue_green("CANARY", CanarySize=PERCENT_20)
    config["AutoRollbackConfiguration"] = {"Alarms": [{"AlarmName": "errors"}]}

    assert parse_policy(config) == RolloutPolicy(
        Routing.CANARY, 5.0, Size("CAPACITY_PERCENT", 20), alarms=("errors",)
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (_blue_green("CANARY"), "CanarySize is required for CANARY"),
        (_blue_green("LINEAR"), "LinearStepSize is required for LINEAR"),
        (_blue_green("LINEAR", LinearStepSize=PERCENT_20, CanarySize=PERCENT_20),
         "CanarySize is not allowed for LINEAR"),
        ({**_blue_green("ALL_AT_ONCE"), "RollingUpdatePolicy": {"MaximumBatchSize": PERCENT_20}},
         "either BlueGreenUpdatePolicy or RollingUpdatePolicy"),
        ({"AutoRollbackConfiguration": {"Alarms": []}}, "specify BlueGreenUpdatePolicy"),
    ],
)  # fmt: skip
def test_bad_combinations_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_policy(config)


@pytest.mark.parametrize(
    ("policy", "instances", "message"),
    [
        # a canary over half the fleet: 3 of 4 instances, 60 %, 101 %
        (RolloutPolicy(Routing.CANARY, 1, Size("INSTANCE_COUNT", 3)), 4, "CanarySize"),
        (RolloutPolicy(Routing.CANARY, 1, Size("CAPACITY_PERCENT", 60)), 4, "it is 60%"),
        (RolloutPolicy(Routing.CANARY, 1, Size("CAPACITY_PERCENT", 101)), 4, "it is 101%"),
        # a linear step under 10 %: 1 of 20 instances
        (RolloutPolicy(Routing.LINEAR, 1, Size("INSTANCE_COUNT", 1)), 20, "10% to 50%"),
        # a rolling batch over the fleet: 2 of 1
        (RolloutPolicy(Routing.LINEAR, 1, Size("INSTANCE_COUNT", 2), is_rolling=True), 1,
         "MaximumBatchSize"),
        # waits 10 + 5 + 600 ≥ a 600 s timeout
        (RolloutPolicy(Routing.CANARY, 10, Size("CAPACITY_PERCENT", 50), 600, 600), 1,
         "MaximumExecutionTimeoutInSeconds"),
    ],
)  # fmt: skip
def test_sizes_that_do_not_fit_the_fleet_are_refused(
    policy: RolloutPolicy, instances: int, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        check_policy(policy, instances)


def test_a_half_canary_fits_one_instance() -> None:
    check_policy(RolloutPolicy(Routing.CANARY, 1, Size("CAPACITY_PERCENT", 50)), 1)


@pytest.mark.parametrize(
    ("policy", "instances", "expected"),
    [
        # all at once: one shift, baking wait + termination wait
        (RolloutPolicy(Routing.ALL_AT_ONCE, 5, None, 2), 4, (Stage(1.0, 7),)),
        # canary of 1 of 4 instances = 25 %, then the rest
        (RolloutPolicy(Routing.CANARY, 5, Size("INSTANCE_COUNT", 1), 2), 4,
         (Stage(0.25, 5), Stage(1.0, 2))),
        # linear by 40 %: 40, 80, 100
        (RolloutPolicy(Routing.LINEAR, 5, Size("CAPACITY_PERCENT", 40), 2), 4,
         (Stage(0.4, 5), Stage(0.8, 5), Stage(1.0, 7))),
        # linear by 1 of 2 instances: 50, 100
        (RolloutPolicy(Routing.LINEAR, 3, Size("INSTANCE_COUNT", 1)), 2,
         (Stage(0.5, 3), Stage(1.0, 3))),
    ],
)  # fmt: skip
def test_stages_move_traffic_in_the_policys_steps(
    policy: RolloutPolicy, instances: int, expected: tuple[Stage, ...]
) -> None:
    assert stages(policy, instances) == expected


PLAN = stages(CANARY, 10)  # 10 % baking 5 s, then 100 % baking 3 s


@pytest.mark.parametrize(
    ("progress", "expected"),
    [
        # (stage, stage_since, started, now, alarming)
        (Progress(-1, 0, 0, 0), Decision(Step.SHIFT, 0)),
        (Progress(0, 0, 0, 4.9), Decision(Step.BAKE, 0, 5.0)),
        (Progress(0, 0, 0, 5.0), Decision(Step.SHIFT, 1)),
        (Progress(1, 5, 0, 7.0), Decision(Step.BAKE, 1, 8.0)),
        (Progress(1, 5, 0, 8.0), Decision(Step.FINISH, 1)),
    ],
)
def test_next_step_shifts_bakes_and_finishes(progress: Progress, expected: Decision) -> None:
    assert next_step(CANARY, PLAN, progress) == expected


def test_an_alarm_while_baking_rolls_back() -> None:
    decision = next_step(CANARY, PLAN, Progress(0, 0, 0, 1.0, ("a",)))

    assert decision.step is Step.ROLL_BACK
    assert "tripped CloudWatch alarm(s) [a]" in decision.reason


def test_running_past_the_timeout_rolls_back() -> None:
    policy = RolloutPolicy(Routing.ALL_AT_ONCE, 700, None, 0, 600)

    decision = next_step(policy, stages(policy, 1), Progress(0, 0, 0, 601))

    assert decision.step is Step.ROLL_BACK
    assert "MaximumExecutionTimeoutInSeconds (600 s)" in decision.reason
