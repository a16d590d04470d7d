"""The scaler's pure decisions: target tracking, hysteresis, cooldowns, bounds, idle, steps."""

from __future__ import annotations

import pytest

from kiln.services.autoscaling.configs import (
    AdjustmentType,
    StepAdjustment,
    StepScaling,
    TargetTracking,
)
from kiln.services.autoscaling.policy import (
    Bounds,
    Decision,
    Tracked,
    combine,
    idle,
    next_low_since,
    scale_in_count,
    step,
    step_decision,
    to_bounds,
    track,
    tracked_count,
)
from kiln.services.autoscaling.targets import Suspended

ALARMS = ("HIGH", "LOW")
OUT = "monitor alarm HIGH in state ALARM triggered policy p"
IN = "monitor alarm LOW in state ALARM triggered policy p"


def _policy(
    target: float = 100, out: float = 10, in_: float = 30, no_in: bool = False
) -> TargetTracking:
    return TargetTracking(target, "SageMakerVariantInvocationsPerInstance", None, out, in_, no_in)


def _seen(current: int, metric: float | None, *, now: float = 1000, low_since: float | None = None,
          last_out: float | None = None, last: float | None = None) -> Tracked:  # fmt: skip
    return Tracked(now, current, metric, low_since, last_out, last)


@pytest.mark.parametrize(
    ("current", "metric", "target", "expected"),
    [
        (1, 250, 100, 3),  # ⌈1 × 250 / 100⌉ = ⌈2.5⌉
        (2, 100, 100, 2),  # exactly on target: stay
        (3, 34, 50, 3),  # ⌈2.04⌉ = 3
        (4, 0, 100, 0),
        (3, 100 / 3, 50, 2),  # 2.0000000001 after floating point: 2, not 3
    ],
)
def test_tracked_count_is_the_ceiling_of_current_times_metric_over_target(
    current: int, metric: float, target: float, expected: int
) -> None:
    assert tracked_count(current, metric, target) == expected


@pytest.mark.parametrize(
    ("seen", "bounds", "expected"),
    [
        # load step: ⌈2 × 300 / 100⌉ = 6, clamped to max 5
        (_seen(2, 300), Bounds(1, 5), Decision(5, OUT)),
        (_seen(2, 150), Bounds(1, 5), Decision(3, OUT)),  # ⌈3.0⌉
        # within the scale-out cooldown of the last scale-out (995 + 10 > 1000): wait
        (_seen(2, 300, last_out=995), Bounds(1, 5), None),
        (_seen(2, 300, last_out=985), Bounds(1, 5), Decision(5, OUT)),
        # scale-out suspended
        (_seen(2, 300), Bounds(1, 5, Suspended(scale_out=True)), None),
        # no data: no decision, as AWS
        (_seen(2, None), Bounds(1, 5), None),
        # at 0 the policy leaves it to serving from zero
        (_seen(0, 500), Bounds(0, 5), None),
        # on target: nothing to do
        (_seen(2, 100), Bounds(1, 5), None),
    ],
)
def test_target_tracking_scales_out_at_once_within_bounds_and_cooldown(
    seen: Tracked, bounds: Bounds, expected: Decision | None
) -> None:
    assert track(_policy(), "p", ALARMS, bounds, seen) == expected


@pytest.mark.parametrize(
    ("seen", "policy", "bounds", "expected"),
    [
        # below the band (4 × 20 / 90 → ⌈0.89⌉ = 1) for the whole 30 s scale-in cooldown: in
        (_seen(4, 20, low_since=970), _policy(), Bounds(1, 5), Decision(1, IN)),
        # low for only 20 s of the 30: hold (hysteresis)
        (_seen(4, 20, low_since=980), _policy(), Bounds(1, 5), None),
        # a scaling 10 s ago: the scale-in cooldown holds it
        (_seen(4, 20, low_since=900, last=990), _policy(), Bounds(1, 5), None),
        # 95 is under target but inside the 10 % band (4 × 95 / 90 → ⌈4.2⌉ = 5 ≥ 4): hold
        (_seen(4, 95, low_since=900), _policy(), Bounds(1, 5), None),
        # 80 is below the band: ⌈4 × 80 / 90⌉ = ⌈3.56⌉ = 4: still 4, nothing to remove
        (_seen(4, 80, low_since=900), _policy(), Bounds(1, 5), None),
        # 60: ⌈4 × 60 / 90⌉ = ⌈2.67⌉ = 3
        (_seen(4, 60, low_since=900), _policy(), Bounds(1, 5), Decision(3, IN)),
        # never below min
        (_seen(4, 0, low_since=900), _policy(), Bounds(2, 5), Decision(2, IN)),
        # min 0: tracking stops at 1; zero is the quiet period's
        (_seen(4, 0, low_since=900), _policy(), Bounds(0, 5), Decision(1, IN)),
        (_seen(4, 0, low_since=900), _policy(no_in=True), Bounds(1, 5), None),
        (_seen(4, 0, low_since=900), _policy(), Bounds(1, 5, Suspended(scale_in=True)), None),
    ],
)
def test_target_tracking_scales_in_only_after_a_whole_cooldown_below_the_band(
    seen: Tracked, policy: TargetTracking, bounds: Bounds, expected: Decision | None
) -> None:
    assert track(policy, "p", ALARMS, bounds, seen) == expected


@pytest.mark.parametrize(
    ("previous", "is_low", "expected"),
    [(None, True, 50.0), (10.0, True, 10.0), (10.0, False, None), (None, False, None)],
)
def test_low_since_holds_while_low_and_resets_on_a_break(
    previous: float | None, is_low: bool, expected: float | None
) -> None:
    assert next_low_since(previous, 50.0, is_low) == expected


def test_a_load_that_wobbles_around_the_target_scales_out_once_and_never_back() -> None:
    # 290–310 requests over 3 instances (target 100 each): the first 310 scales out to
    # ⌈3 × 103.3 / 100⌉ = 4; at 4 the metric is ≤ 77.5 and ⌈4 × 77.5 / 90⌉ = 4: nothing to remove.
    count, low_since, counts = 3, None, []
    for tick, load in enumerate([300, 310, 290, 305, 295] * 40):
        metric = load / count
        low_since = next_low_since(
            low_since, float(tick), scale_in_count(count, metric, 100) is not None
        )
        decision = track(_policy(out=0, in_=5), "p", ALARMS, Bounds(1, 10),
                         _seen(count, metric, now=float(tick), low_since=low_since))  # fmt: skip
        count = count if decision is None else decision.desired
        counts.append(count)
    assert counts[0] == 3
    assert set(counts[1:]) == {4}


@pytest.mark.parametrize(
    ("wants", "expected"),
    [
        ([Decision(4, "a"), Decision(6, "b")], Decision(6, "b")),  # largest scale-out wins
        ([Decision(1, "a"), None], None),  # one holds: no scale-in
        ([Decision(1, "a"), Decision(2, "b")], Decision(2, "b")),  # all in: the least removal
        ([Decision(1, "a"), Decision(5, "b")], Decision(5, "b")),  # out beats in
        ([], None),
    ],
)
def test_policies_combine_out_by_any_and_in_by_all(
    wants: list[Decision | None], expected: Decision | None
) -> None:
    assert combine(3, wants) == expected


@pytest.mark.parametrize(
    ("current", "bounds", "expected"),
    [
        (1, Bounds(2, 5), Decision(2, "minimum capacity was set to 2")),
        (7, Bounds(2, 5), Decision(5, "maximum capacity was set to 5")),
        (3, Bounds(2, 5), None),
        (0, Bounds(0, 5), None),
    ],
)
def test_counts_outside_new_bounds_are_brought_inside(
    current: int, bounds: Bounds, expected: Decision | None
) -> None:
    assert to_bounds(current, bounds) == expected


@pytest.mark.parametrize(
    ("current", "bounds", "idle_for", "may_scale_in", "expected"),
    [
        (1, Bounds(0, 3), 300, True, 0),  # quiet for the whole period
        (1, Bounds(0, 3), 299, True, None),  # a request 299 s ago (e.g. the one served from 0)
        (1, Bounds(1, 3), 900, True, None),  # min 1: never zero
        (0, Bounds(0, 3), 900, True, None),  # already zero
        (1, Bounds(0, 3), 900, False, None),  # DisableScaleIn
        (1, Bounds(0, 3, Suspended(scale_in=True)), 900, True, None),
    ],
)
def test_idle_variants_scale_to_zero_after_the_quiet_period(
    current: int, bounds: Bounds, idle_for: float, may_scale_in: bool, expected: int | None
) -> None:
    decision = idle(current, bounds, idle_for, 300, may_scale_in)
    assert (None if decision is None else decision.desired) == expected


def _steps(kind: AdjustmentType, *steps: tuple[float | None, float | None, int],
           magnitude: int | None = None) -> StepScaling:  # fmt: skip
    return StepScaling(kind, tuple(StepAdjustment(*s) for s in steps), 60, "Average", magnitude)


@pytest.mark.parametrize(
    ("policy", "current", "breach", "expected"),
    [
        (_steps(AdjustmentType.CHANGE, (0, 10, 1), (10, None, 3)), 2, 5, 3),
        (_steps(AdjustmentType.CHANGE, (0, 10, 1), (10, None, 3)), 2, 12, 5),
        (_steps(AdjustmentType.CHANGE, (0, 10, 1), (10, None, 3)), 2, None, 3),  # next to 0
        (_steps(AdjustmentType.CHANGE, (None, 0, -1)), 3, -4, 2),
        (_steps(AdjustmentType.EXACT, (0, None, 4)), 1, 7, 4),
        # 50 % of 3 = 1.5 → 1 (toward zero)
        (_steps(AdjustmentType.PERCENT, (0, None, 50)), 3, 1, 4),
        # 10 % of 3 = 0.3 → at least 1
        (_steps(AdjustmentType.PERCENT, (0, None, 10)), 3, 1, 4),
        # ... or MinAdjustmentMagnitude
        (_steps(AdjustmentType.PERCENT, (0, None, 10), magnitude=2), 3, 1, 5),
        (_steps(AdjustmentType.PERCENT, (None, 0, -50)), 3, -1, 2),
        (_steps(AdjustmentType.CHANGE, (0, 10, 1)), 2, 20, None),  # no step covers 20
    ],
)
def test_step_scaling_applies_the_step_the_breach_falls_in(
    policy: StepScaling, current: int, breach: float | None, expected: int | None
) -> None:
    assert step(policy, current, breach) == expected


def test_step_decisions_stay_within_bounds_and_honour_suspension() -> None:
    policy = _steps(AdjustmentType.CHANGE, (0, None, 5))
    assert step_decision(policy, 2, 1, Bounds(1, 4), "c") == Decision(4, "c")
    assert step_decision(policy, 2, 1, Bounds(1, 4, Suspended(scale_out=True)), "c") is None
    assert step_decision(policy, 4, 1, Bounds(1, 4), "c") is None
