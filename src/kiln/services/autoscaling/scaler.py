"""The scaler: a thread that, every tick, observes each registered variant, decides, and acts.

Per tick and target (skipped while its endpoint is not InService, or once the endpoint or the
variant is gone: AWS keeps such targets, Kiln ignores them), the first decision that applies:
a count outside [min, max] is brought inside; target tracking (``policy.track`` per policy,
``policy.combine`` across them); scale to zero after the quiet period (MinCapacity=0); a step
policy whose alarm is in ALARM, once per its Cooldown. A decision goes through
``Fleet.set_instance_count`` (UpdateEndpointWeightsAndCapacities' path: scale-in drains the
replicas it retires) and is recorded as an activity, ended once the variant has the count.

The scaler is also an ``AlarmListener``: ``alarm_changed`` only notes which alarms are in ALARM
and wakes the thread. Cooldown clocks live in memory: after a restart the first decision does
not wait for a cooldown that began before it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy.exc import SQLAlchemyError

from kiln.errors import KilnError, ValidationError
from kiln.services.autoscaling import policy
from kiln.services.autoscaling.configs import ScalingPolicy, TargetTracking
from kiln.services.autoscaling.service import AutoScalingService
from kiln.services.autoscaling.signals import Fleet, Signals, VariantNow
from kiln.services.autoscaling.targets import ScalableTarget, VariantRef
from kiln.services.hosting.states import EndpointStatus
from kiln.services.monitoring.alarms.changes import AlarmState, AlarmStateChange

log = logging.getLogger(__name__)

RETRY_FAILED_SECONDS = 30.0
"""How long a decision that failed (e.g. over the instance quota) waits before it is tried again."""


@dataclass
class _Clocks:
    """One target's scaling history, as the decisions need it."""

    active_since: float
    """The later of the scaler's start and the last rise in count (by anyone): the quiet
    period counts from here or from the last invocation, whichever is later."""
    last_count: int | None = None
    last_scale_out: float | None = None
    last_scaling: float | None = None
    low_since: dict[str, float] = field(default_factory=dict)
    step_runs: dict[str, float] = field(default_factory=dict)
    failed: tuple[int, float] | None = None
    """The count last refused, and when."""


@dataclass(frozen=True)
class _Open:
    ref: VariantRef
    desired: int


class Scaler:
    """Drives every registered variant's instance count by its policies."""

    def __init__(
        self,
        service: AutoScalingService,
        fleet: Fleet,
        signals: Signals,
        *,
        tick_seconds: float = 1.0,
        quiet_period: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self._fleet = fleet
        self._signals = signals
        self._tick_seconds = tick_seconds
        self._quiet_period = quiet_period
        self._clock = clock
        self._clocks: dict[str, _Clocks] = {}
        self._alarms: dict[str, AlarmStateChange] = {}
        self._open: dict[str, _Open] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the loop, picking up the activities the last server left InProgress."""
        for row in self._service.open_activities():
            self._open[row.activity_id] = _Open(VariantRef.parse(row.resource_id), row.desired)
        self._thread = threading.Thread(target=self._run, name="kiln-autoscaler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the loop and wait for it."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def alarm_changed(self, change: AlarmStateChange) -> None:
        """Note an alarm's new state (an ``AlarmListener``): step policies run while in ALARM."""
        if change.new is AlarmState.ALARM:
            self._alarms[change.alarm_name] = change
            self._wake.set()
        else:
            self._alarms.pop(change.alarm_name, None)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except (KilnError, SQLAlchemyError):
                log.exception("autoscaler tick failed; trying again next tick")
            self._wake.wait(self._tick_seconds)
            self._wake.clear()

    # -- one tick ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Observe, decide and act once for every target."""
        now = self._clock()
        self._end_reached()
        policies = self._service.policies_by_target()
        for target in self._service.targets():
            try:
                self._tick_target(target, policies.get(target.ref.resource_id, []), now)
            except (KilnError, SQLAlchemyError):
                log.exception("autoscaler: %s skipped this tick", target.ref.resource_id)

    def _tick_target(
        self, target: ScalableTarget, policies: list[ScalingPolicy], now: float
    ) -> None:
        seen = self._fleet.variant_now(target.ref)
        if seen is None or seen.status != EndpointStatus.IN_SERVICE:
            return
        clocks = self._clocks.setdefault(target.ref.resource_id, _Clocks(now))
        if clocks.last_count is not None and seen.desired > clocks.last_count:
            clocks.active_since = now
        clocks.last_count = seen.desired
        decision = self._decide(target, policies, seen, clocks, now)
        if decision is None:
            return
        if clocks.failed is not None and clocks.failed[0] == decision.desired:
            if now - clocks.failed[1] < RETRY_FAILED_SECONDS:
                return
        self._apply(target.ref, seen.desired, decision, clocks, now)

    def _decide(self, target: ScalableTarget, policies: list[ScalingPolicy], seen: VariantNow,
                clocks: _Clocks, now: float) -> policy.Decision | None:  # fmt: skip
        bounds = policy.Bounds(target.min_capacity, target.max_capacity, target.suspended)
        tracking = [(p, p.tracking) for p in policies if p.tracking is not None]
        return (
            policy.to_bounds(seen.desired, bounds)
            or self._track(target.ref, tracking, bounds, seen, clocks, now)
            or self._idle(target.ref, tracking, bounds, seen, clocks, now)
            or self._steps(policies, bounds, seen, clocks, now)
        )

    def _track(
        self,
        ref: VariantRef,
        tracking: list[tuple[ScalingPolicy, TargetTracking]],
        bounds: policy.Bounds,
        seen: VariantNow,
        clocks: _Clocks,
        now: float,
    ) -> policy.Decision | None:
        wants = []
        for found, config in tracking:
            metric = self._signals.metric(config, ref, seen, now)
            is_low = (
                metric is not None
                and seen.desired > 0
                and (policy.scale_in_count(seen.desired, metric, config.target_value) is not None)
            )
            low_since = policy.next_low_since(clocks.low_since.get(found.name), now, is_low)
            if low_since is None:
                clocks.low_since.pop(found.name, None)
            else:
                clocks.low_since[found.name] = low_since
            observed = policy.Tracked(now, seen.desired, metric, low_since,
                                      clocks.last_scale_out, clocks.last_scaling)  # fmt: skip
            alarms = (found.alarms + ("", ""))[:2]
            wants.append(policy.track(config, found.name, (alarms[0], alarms[1]), bounds, observed))
        return policy.combine(seen.desired, wants)

    def _idle(
        self,
        ref: VariantRef,
        tracking: list[tuple[ScalingPolicy, TargetTracking]],
        bounds: policy.Bounds,
        seen: VariantNow,
        clocks: _Clocks,
        now: float,
    ) -> policy.Decision | None:
        if not tracking:
            return None
        last = self._signals.last_invocation_at(ref) or 0.0
        may_scale_in = not all(config.disable_scale_in for _, config in tracking)
        idle_for = now - max(last, clocks.active_since)
        return policy.idle(seen.desired, bounds, idle_for, self._quiet_period, may_scale_in)

    def _steps(self, policies: list[ScalingPolicy], bounds: policy.Bounds, seen: VariantNow,
               clocks: _Clocks, now: float) -> policy.Decision | None:  # fmt: skip
        alarming = list(self._alarms.values())
        for found in policies:
            config = found.stepping
            change = next((c for c in alarming if found.arn in c.actions), None)
            if config is None or change is None:
                continue
            last = clocks.step_runs.get(found.name)
            if last is not None and now - last < config.cooldown:
                continue
            clocks.step_runs[found.name] = now
            cause = policy.alarm_cause(change.alarm_name, found.name)
            # The breach as the alarm last changed state (None: the step next to the threshold).
            decision = policy.step_decision(config, seen.desired, change.breach, bounds, cause)
            if decision is not None:
                return decision
        return None

    def _apply(self, ref: VariantRef, current: int, decision: policy.Decision, clocks: _Clocks,
               now: float) -> None:  # fmt: skip
        try:
            self._fleet.set_instance_count(ref.endpoint, ref.variant, decision.desired)
        except ValidationError:
            return  # Updating, or another change won the row: decide again next tick
        except KilnError as e:
            activity = self._service.begin_activity(ref, decision.desired, decision.cause)
            self._service.end_activity(activity, decision.desired, e.message)
            clocks.failed = (decision.desired, now)
            return
        activity = self._service.begin_activity(ref, decision.desired, decision.cause)
        self._open[activity] = _Open(ref, decision.desired)
        log.info("%s: %d → %d instances (%s)", ref.resource_id, current, decision.desired,
                 decision.cause)  # fmt: skip
        if decision.desired > current:
            clocks.last_scale_out = now
        clocks.last_scaling = now
        clocks.low_since.clear()
        clocks.last_count = decision.desired

    def _end_reached(self) -> None:
        """End each open activity once its variant has the count, or failed to get it."""
        for activity, wanted in list(self._open.items()):
            seen = self._fleet.variant_now(wanted.ref)
            if seen is None:
                failure: str | None = "the endpoint or its variant was deleted"
            elif seen.status == EndpointStatus.FAILED:
                failure = seen.failure_reason or "the endpoint failed"
            elif seen.status != EndpointStatus.IN_SERVICE:
                continue
            elif seen.current == wanted.desired:
                failure = None
            else:
                failure = seen.failure_reason or f"the variant has {seen.current} instances"
            self._service.end_activity(activity, wanted.desired, failure)
            del self._open[activity]
