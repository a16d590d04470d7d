"""The scaler's decisions, as pure functions: (settings, observations) → desired count, or none.

Target tracking as Application Auto Scaling does it: desired = ⌈current × metric / target⌉,
clamped to [min, max]. Out fast, in slowly: scaling out needs only the scale-out cooldown since
the last scale-out; scaling in needs the metric below target by ``SCALE_IN_MARGIN`` for a whole
scale-in cooldown (the loop keeps ``low_since``) and that cooldown since the last scaling, and
it removes only what leaves the metric below the margin, so the next scale-out needs a real
rise in load: the count never flaps. Several policies on one target: any may scale out (the
largest wins), all must agree to scale in (as AWS). Causes are in AWS's words.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from kiln.services.autoscaling.configs import (
    AdjustmentType,
    StepAdjustment,
    StepScaling,
    TargetTracking,
)
from kiln.services.autoscaling.targets import Suspended

SCALE_IN_MARGIN = 0.1
"""Scale in only while the metric is at least 10 % below target (the hysteresis band)."""


@dataclass(frozen=True, slots=True)
class Bounds:
    """A target's capacity bounds and suspended kinds of scaling."""

    min_capacity: int
    max_capacity: int
    suspended: Suspended = Suspended()

    def clamp(self, count: int) -> int:
        """``count`` within [min, max]."""
        return max(self.min_capacity, min(self.max_capacity, count))


@dataclass(frozen=True, slots=True)
class Tracked:
    """What one target tracking policy sees on one tick."""

    now: float
    current: int
    """The variant's desired instance count now (Application Auto Scaling's capacity)."""
    metric: float | None
    """The tracked metric now; None when there is no data (no decision, as AWS)."""
    low_since: float | None
    """Since when the metric has been below the hysteresis band without a break."""
    last_scale_out: float | None
    last_scaling: float | None
    """The last change of any kind, for the scale-in cooldown."""


@dataclass(frozen=True, slots=True)
class Decision:
    """Set the variant's instance count to ``desired``, because of ``cause`` (AWS's words)."""

    desired: int
    cause: str


def tracked_count(current: int, metric: float, target: float) -> int:
    """⌈current × metric / target⌉ (rounded to 1e-9 first, so 2.0000000001 stays 2)."""
    return math.ceil(round(current * metric / target, 9))


def scale_in_count(current: int, metric: float, target: float) -> int | None:
    """The smaller count that keeps the metric below the band, if it is below ``current``."""
    count = tracked_count(current, metric, target * (1 - SCALE_IN_MARGIN))
    return count if count < current else None


def next_low_since(previous: float | None, now: float, is_low: bool) -> float | None:
    """When the metric's stay below the band began: kept while low, reset when it is not."""
    if not is_low:
        return None
    return now if previous is None else previous


def track(policy: TargetTracking, name: str, alarms: tuple[str, str], bounds: Bounds,
          seen: Tracked) -> Decision | None:  # fmt: skip
    """What one target tracking policy wants (``alarms``: its high and low alarms' names)."""
    if seen.metric is None or seen.current == 0:
        return None  # nothing to divide by at 0: serving from zero raises the count itself
    wanted = bounds.clamp(tracked_count(seen.current, seen.metric, policy.target_value))
    if wanted > seen.current:
        if bounds.suspended.scale_out or _cooling(seen.last_scale_out, policy.scale_out_cooldown,
                                                  seen.now):  # fmt: skip
            return None
        return Decision(wanted, alarm_cause(alarms[0], name))
    smaller = scale_in_count(seen.current, seen.metric, policy.target_value)
    if smaller is None or policy.disable_scale_in or bounds.suspended.scale_in:
        return None
    held = seen.low_since is not None and seen.now - seen.low_since >= policy.scale_in_cooldown
    if not held or _cooling(seen.last_scaling, policy.scale_in_cooldown, seen.now):
        return None
    wanted = max(bounds.clamp(smaller), 1)  # to zero only by the quiet period (``idle``)
    return Decision(wanted, alarm_cause(alarms[1], name)) if wanted < seen.current else None


def combine(current: int, wants: Sequence[Decision | None]) -> Decision | None:
    """One decision from every policy's: the largest scale-out, or a scale-in all agree to."""
    outs = [d for d in wants if d is not None and d.desired > current]
    if outs:
        return max(outs, key=lambda d: d.desired)
    ins = [d for d in wants if d is not None and d.desired < current]
    if wants and len(ins) == len(wants):
        return max(ins, key=lambda d: d.desired)
    return None


def to_bounds(current: int, bounds: Bounds) -> Decision | None:
    """Bring a count outside [min, max] back inside, as registering new bounds does on AWS."""
    if current < bounds.min_capacity:
        return Decision(bounds.min_capacity, f"minimum capacity was set to {bounds.min_capacity}")
    if current > bounds.max_capacity:
        return Decision(bounds.max_capacity, f"maximum capacity was set to {bounds.max_capacity}")
    return None


def idle(current: int, bounds: Bounds, idle_for: float, quiet_period: float,
         may_scale_in: bool) -> Decision | None:  # fmt: skip
    """Scale to zero after ``quiet_period`` s without an invocation (Kiln's MinCapacity=0)."""
    if current == 0 or bounds.min_capacity > 0 or not may_scale_in or bounds.suspended.scale_in:
        return None
    if idle_for < quiet_period:
        return None
    return Decision(0, f"no invocations for {quiet_period:g} seconds (minimum capacity is 0)")


def step(policy: StepScaling, current: int, breach: float | None) -> int | None:
    """The new count a step policy asks for; ``breach`` is metric − threshold (None: unknown,
    then the step next to the threshold applies). None when no step covers the breach."""
    chosen = _step_for(policy, breach)
    if chosen is None:
        return None
    change = chosen.adjustment
    if policy.adjustment_type is AdjustmentType.EXACT:
        return change
    if policy.adjustment_type is AdjustmentType.PERCENT:
        change = _percent(current, change, policy.min_magnitude)
    return current + change


def step_decision(policy: StepScaling, current: int, breach: float | None, bounds: Bounds,
                  cause: str) -> Decision | None:  # fmt: skip
    """A step policy's decision within the target's bounds and suspended state."""
    wanted = step(policy, current, breach)
    if wanted is None:
        return None
    wanted = bounds.clamp(wanted)
    if wanted > current and not bounds.suspended.scale_out:
        return Decision(wanted, cause)
    if wanted < current and not bounds.suspended.scale_in:
        return Decision(wanted, cause)
    return None


def alarm_cause(alarm: str, policy: str) -> str:
    """AWS's cause for a scaling an alarm's policy started."""
    return f"monitor alarm {alarm} in state ALARM triggered policy {policy}"


def _cooling(last: float | None, cooldown: float, now: float) -> bool:
    return last is not None and now - last < cooldown


def _step_for(policy: StepScaling, breach: float | None) -> StepAdjustment | None:
    for candidate in policy.steps:
        lower = -math.inf if candidate.lower is None else candidate.lower
        upper = math.inf if candidate.upper is None else candidate.upper
        if breach is None:
            if lower == 0 or upper == 0:
                return candidate
        elif lower <= breach < upper:
            return candidate
    return None


def _percent(current: int, percent: int, min_magnitude: int | None) -> int:
    """AWS's rounding of a percent change: toward zero, but at least ±1 (or the magnitude)."""
    raw = current * percent / 100
    change = math.trunc(raw)
    if change == 0 and raw != 0:
        change = 1 if raw > 0 else -1
    if min_magnitude is not None and abs(change) < min_magnitude:
        change = min_magnitude if change > 0 else -min_magnitude
    return change
