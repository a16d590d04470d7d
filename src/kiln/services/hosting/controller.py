"""The endpoint controller: drives each endpoint's replicas toward what the database asks for.

One worker thread per endpoint applies its changes in order: create (start every variant's
replicas, then route), update (blue/green: new replicas up and healthy, then traffic moves, then
the old ones drain and stop; with a ``DeploymentConfig`` the traffic moves in the stages
``rollout_plan`` decides, baking after each, and an alarm in ALARM rolls it back), weights and
capacities, delete. A health loop pings every replica;
a crashed or hung one leaves the route at once and is replaced while the endpoint stays
``InService``. On start the controller brings every endpoint that should serve back up.

With several servers on one database (``cluster.endpoint_sync``) the controller drives only the
endpoints its server owns (``owns``): it brings up those at start and those it comes to own
(``adopt``), and stops the replicas of one another server took (its worker finds it not owned).

A worker that dies of an unexpected error (a full disk) notes it; ``sweep`` (called by the
sweeper) then finishes what no worker carries on (``sweeping.endpoint_decision``), so no endpoint
stays ``Creating`` or ``Updating`` for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from kiln.config import Settings
from kiln.db import ResourceRecord
from kiln.errors import unavailable_error
from kiln.services.hosting.capture_sink import CaptureSink
from kiln.services.hosting.fleet_plan import (
    health_verdict,
    initial_counts,
    initial_weights,
    shadow_fraction,
    variant_numbers,
    weights_and_capacities,
)
from kiln.services.hosting.replicas import Replica, ReplicaLauncher, ReplicaSpec, ReplicaStartError
from kiln.services.hosting.rollout_plan import (
    Progress,
    RolloutPolicy,
    Step,
    next_step,
    parse_policy,
    stages,
)
from kiln.services.hosting.routing import (
    EndpointRoute,
    ReplicaAddress,
    RoutingTable,
    ShadowRoute,
    VariantRoute,
    blended,
)
from kiln.services.hosting.service import HostingStores, endpoint_state
from kiln.services.hosting.shapes import Deployment, EndpointState, ReplicaSummary, VariantSpec
from kiln.services.hosting.states import EndpointStatus, can_transition
from kiln.services.hosting.workers import KeyedWorkers
from kiln.services.monitoring.alarms.changes import AlarmState, AlarmStateChange
from kiln.services.sweeping import (
    EndpointAction,
    EndpointDecision,
    EndpointView,
    endpoint_decision,
)

log = logging.getLogger(__name__)

_DRAIN_SECONDS = 60.0
_RESTARTED = (
    "Rolled back: the server restarted during the deployment; the endpoint serves its previous "
    "configuration. Call UpdateEndpoint again to redeploy."
)


@dataclass
class Fleet:
    """The replicas serving one deployment (production variants and shadows)."""

    deployment: Deployment
    weights: dict[str, float]
    replicas: dict[str, list[Replica]] = field(default_factory=dict)

    def all(self) -> list[Replica]:
        """Every replica of every variant."""
        return [r for group in self.replicas.values() for r in group]

    def counts(self) -> dict[str, int]:
        """Replicas per variant."""
        return {name: len(group) for name, group in self.replicas.items()}


class EndpointController:
    """Starts, replaces and stops replicas; publishes routes; records endpoint status."""

    def __init__(
        self,
        settings: Settings,
        stores: HostingStores,
        launcher: ReplicaLauncher,
        routing: RoutingTable,
        *,
        health_interval: float = 1.0,
        capture: CaptureSink | None = None,
        alarm_states: Callable[[], Mapping[str, AlarmState]],
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self._settings = settings
        self._owns = owns or (lambda _endpoint: True)
        self._capture = capture
        self._stores = stores
        self._launcher = launcher
        self._routing = routing
        self._health_interval = health_interval
        self._fleets: dict[str, Fleet] = {}
        self._lock = threading.Lock()
        self._workers = KeyedWorkers(self._work, name="kiln-endpoint")
        self._errors: dict[str, tuple[str, float]] = {}  # what a worker died of, and when
        self._should_exit = threading.Event()
        self._health_thread: threading.Thread | None = None
        self._alarm_states = alarm_states
        self._alarming: set[str] = set()  # alarms now in ALARM, as their changes told
        self._alarm_changed = threading.Event()
        self._greens: dict[str, Fleet] = {}  # new fleets of rollouts under way

    def alarm_changed(self, change: AlarmStateChange) -> None:
        """Note an alarm's new state (an ``AlarmListener``): a rollout baking reads it."""
        with self._lock:
            if change.new is AlarmState.ALARM:
                self._alarming.add(change.alarm_name)
            else:
                self._alarming.discard(change.alarm_name)
        self._alarm_changed.set()

    def start(self) -> None:
        """Bring endpoints back after a restart, then watch replica health."""
        self._alarming = {n for n, s in self._alarm_states().items() if s is AlarmState.ALARM}
        for record in self._stores.endpoints.all():
            if self._owns(record.name):
                self._bring_up(record)
        self._health_thread = threading.Thread(
            target=self._watch_health, name="kiln-endpoint-health", daemon=True
        )
        self._health_thread.start()

    def adopt(self, endpoint: str) -> None:
        """Bring up an endpoint this server has just come to own (claimed, or taken over)."""
        record = self._stores.endpoints.get(endpoint)
        if record is None:
            return
        if self.fleet(endpoint) is not None:
            # The sync's tick read the owner row an instant before this server's own claim
            # noted it: the fleet is up, and an empty route must not replace its route.
            self.wake(endpoint)
            return
        self._bring_up(record)

    def _bring_up(self, record: ResourceRecord) -> None:
        """What a restart does for one endpoint: its replicas start again."""
        state = endpoint_state(record)
        if record.status == EndpointStatus.UPDATING and state.deployment_config:
            # A rollout the last server left half done ends as a rollback: the old config.
            self._record(
                record.name, status=EndpointStatus.IN_SERVICE, failure=_RESTARTED, clear=True
            )
        if record.status in (EndpointStatus.IN_SERVICE, EndpointStatus.UPDATING):
            # Until its replicas are back, the router answers 503, not "no such endpoint".
            self._publish(record.name, Fleet(state.deployment, {}))
        if record.status != EndpointStatus.FAILED:
            self.wake(record.name)

    def stop(self) -> None:
        """Stop every replica (endpoints keep their status: a restart brings them back)."""
        self._should_exit.set()
        self._workers.stop(timeout=60)
        with self._lock:
            fleets = list(self._fleets.items())
            self._fleets.clear()
        for name, fleet in fleets:
            self._routing.withdraw(name)
            self._stop_all(fleet.all(), grace=5.0)
        if self._health_thread is not None:
            self._health_thread.join(timeout=10)

    def wake(self, endpoint: str) -> None:
        """Drive ``endpoint`` on its worker (started if none runs)."""
        self._workers.wake(endpoint)

    def fleet(self, endpoint: str) -> Fleet | None:
        """The replicas serving ``endpoint`` now."""
        with self._lock:
            return self._fleets.get(endpoint)

    def sweep(self) -> None:
        """Finish the endpoint changes no worker carries on any more."""
        before = self._workers.running()
        records = self._stores.endpoints.all(
            [EndpointStatus.CREATING, EndpointStatus.UPDATING, EndpointStatus.DELETING]
        )
        after = self._workers.running()
        for record in records:
            if not self._owns(record.name):
                continue  # its owner's sweeper looks after it
            with self._lock:
                error, error_at = self._errors.get(record.name, (None, 0.0))
                has_fleet = record.name in self._fleets
            decision = endpoint_decision(
                EndpointView(
                    record.name,
                    record.status,
                    record.last_modified_time,
                    record.name in before | after,
                    has_fleet,
                    error,
                    error_at,
                )
            )
            if decision is None:
                continue
            log.warning("endpoint %s: no worker; %s", record.name, decision)
            if decision.action is EndpointAction.WAKE:
                self.wake(record.name)
            else:
                self._settle(decision)

    def _settle(self, decision: EndpointDecision) -> None:
        """Apply a sweeper's SETTLE or FAIL, if the endpoint is still where it was seen."""
        fleet = self.fleet(decision.name)
        is_settled = decision.action is EndpointAction.SETTLE

        def change(record: ResourceRecord) -> None:
            to = EndpointStatus.IN_SERVICE if is_settled else EndpointStatus.FAILED
            current = EndpointStatus(record.status)
            if record.status != decision.status or not can_transition(current, to):
                return
            record.status = to
            state = endpoint_state(record)
            if decision.reason:
                state = replace(state, failure_reason=decision.reason)
            if is_settled:
                state = state.settled()
                if fleet is not None:
                    state = _describe_fleet(state, fleet)
            record.state = state.to_dict()
            record.last_modified_time = time.time()

        self._stores.endpoints.modify(decision.name, change)
        with self._lock:
            self._errors.pop(decision.name, None)

    # -- the worker ----------------------------------------------------------------------------

    def _work(self, endpoint: str) -> None:
        try:
            self._drive(endpoint)
        except Exception as e:
            log.exception("endpoint %s: controller error", endpoint)
            unavailable = unavailable_error(e)
            text = unavailable.message if unavailable else f"{type(e).__name__}: {e}"
            with self._lock:
                self._errors[endpoint] = (text, time.time())

    def _drive(self, endpoint: str) -> None:
        if not self._owns(endpoint):
            self._let_go(endpoint)
            return
        record = self._stores.endpoints.get(endpoint)
        if record is None or record.status == EndpointStatus.DELETING:
            self._delete(endpoint)
            return
        if record.status == EndpointStatus.FAILED:
            return
        state = endpoint_state(record)
        if self.fleet(endpoint) is None:
            self._create(endpoint, state)
            return  # a change that arrived meanwhile has set the rerun flag
        if state.pending is not None:
            self._switch_config(endpoint, state.pending, parse_policy(state.deployment_config))
        elif state.desired is not None:
            self._apply_weights_and_capacities(endpoint, state)
        self._repair(endpoint)

    def _let_go(self, endpoint: str) -> None:
        """Another server owns ``endpoint`` now: stop this server's replicas of it (the route
        stays: the sync mirrors the new owner's)."""
        with self._lock:
            fleet = self._fleets.pop(endpoint, None)
            self._greens.pop(endpoint, None)
        if fleet is not None:
            self._stop_all(fleet.all(), grace=5.0)

    def _create(self, endpoint: str, state: EndpointState) -> None:
        try:
            fleet = self._start_fleet(endpoint, state.deployment)
        except ReplicaStartError as e:
            self._record(endpoint, status=EndpointStatus.FAILED, failure=str(e))
            return
        with self._lock:
            self._fleets[endpoint] = fleet
        self._publish(endpoint, fleet)
        self._record(endpoint, status=EndpointStatus.IN_SERVICE, fleet=fleet)

    def _switch_config(
        self, endpoint: str, pending: Deployment, policy: RolloutPolicy | None
    ) -> None:
        old = self.fleet(endpoint)
        try:
            fleet = self._start_fleet(endpoint, pending)
        except ReplicaStartError as e:
            # Rolled back: the old replicas never stopped serving.
            self._record(
                endpoint,
                status=EndpointStatus.IN_SERVICE,
                failure=f"Update failed: {e}",
                clear=True,
            )
            return
        if policy is not None and old is not None:
            reason = self._roll_out(endpoint, old, fleet, policy)
            if reason is not None:
                self._roll_back(endpoint, old, fleet, reason)
                return
        with self._lock:
            self._fleets[endpoint] = fleet
            self._greens.pop(endpoint, None)
        self._publish(endpoint, fleet)
        self._record(endpoint, status=EndpointStatus.IN_SERVICE, fleet=fleet, clear=True)
        if self._capture is not None and (old is None or old.deployment.capture != pending.capture):
            self._capture.flush(endpoint)
        if old is not None:
            self._drain_and_stop(old.all())

    def _roll_out(
        self, endpoint: str, blue: Fleet, green: Fleet, policy: RolloutPolicy
    ) -> str | None:
        """Move traffic to ``green`` stage by stage, baking after each; why it must roll back,
        or None when all traffic is on green and baked."""
        with self._lock:
            self._greens[endpoint] = green
        plan = stages(policy, min(green.counts().values(), default=1))
        started = since = time.monotonic()
        stage = -1
        while not self._should_exit.is_set():
            with self._lock:
                alarming = tuple(sorted(self._alarming.intersection(policy.alarms)))
            now = time.monotonic()
            decision = next_step(policy, plan, Progress(stage, since, started, now, alarming))
            if decision.step is Step.SHIFT:
                stage, since = decision.stage, now
                share = plan[stage].share
                self._publish(endpoint, blue, green, share)
                self._record_stage(endpoint, share, plan[stage].bake)
            elif decision.step is Step.BAKE:
                self._alarm_changed.wait(min(decision.until - now, 1.0))
                self._alarm_changed.clear()
                if self._is_deleting(endpoint):
                    return "Rolled back: the endpoint is being deleted."
            elif decision.step is Step.FINISH:
                return None
            else:
                return decision.reason
        return _RESTARTED

    def _is_deleting(self, endpoint: str) -> bool:
        """Whether a DeleteEndpoint came (it wakes the worker, so only then is the row read)."""
        if not self._workers.is_woken(endpoint):
            return False
        record = self._stores.endpoints.get(endpoint)
        return record is None or record.status == EndpointStatus.DELETING

    def _roll_back(self, endpoint: str, blue: Fleet, green: Fleet, reason: str) -> None:
        """All traffic back to ``blue``; ``green`` drains and stops; InService on the old config."""
        log.warning("endpoint %s: %s", endpoint, reason)
        self._publish(endpoint, blue)
        with self._lock:
            self._greens.pop(endpoint, None)
        self._record(
            endpoint, status=EndpointStatus.IN_SERVICE, fleet=blue, failure=reason, clear=True
        )
        self._drain_and_stop(green.all())

    def _apply_weights_and_capacities(self, endpoint: str, state: EndpointState) -> None:
        fleet = self.fleet(endpoint)
        assert fleet is not None
        assert state.desired is not None
        plan = weights_and_capacities(
            fleet.deployment, fleet.weights, fleet.counts(), state.desired
        )
        fleet.weights.update(plan.weights)
        retired: list[Replica] = []
        failure = None
        for step in plan.steps:
            group = fleet.replicas.setdefault(step.variant, [])
            if step.stop:
                retired += group[len(group) - step.stop :]
                del group[len(group) - step.stop :]
            elif (variant := fleet.deployment.variant(step.variant)) is not None:
                error = self._scale_out(endpoint, fleet, group, variant, step.start)
                if error is not None:
                    failure = f"Scaling variant {step.variant} failed: {error}"
        self._publish(endpoint, fleet)
        self._record(
            endpoint, status=EndpointStatus.IN_SERVICE, fleet=fleet, failure=failure, clear=True
        )
        self._drain_and_stop(retired)

    def _repair(self, endpoint: str) -> None:
        fleet = self.fleet(endpoint)
        if fleet is None:
            return
        for name, group in fleet.replicas.items():
            variant = fleet.deployment.variant(name)
            if variant is None:
                continue
            for broken in [r for r in group if not r.address.is_healthy]:
                log.warning("endpoint %s: replacing replica %s", endpoint, broken.id)
                try:
                    (replacement,) = self._start_replicas(endpoint, variant, 1)
                except ReplicaStartError as e:
                    log.error("endpoint %s: replacement failed: %s", endpoint, e)
                    continue
                group[group.index(broken)] = replacement
                self._publish(endpoint, fleet)
                self._launcher.stop(broken, grace=0)
        self._record(endpoint, fleet=fleet)

    def _delete(self, endpoint: str) -> None:
        self._routing.withdraw(endpoint)
        with self._lock:
            fleet = self._fleets.pop(endpoint, None)
        if fleet is not None:
            self._stop_all(fleet.all(), grace=30.0)
        if self._capture is not None:
            self._capture.flush(endpoint)
        self._stores.endpoints.remove(endpoint)

    # -- replicas ------------------------------------------------------------------------------

    def _start_fleet(self, endpoint: str, deployment: Deployment) -> Fleet:
        fleet = Fleet(deployment, initial_weights(deployment))
        try:
            for name, count in initial_counts(deployment).items():
                variant = deployment.variant(name)
                assert variant is not None
                fleet.replicas[name] = self._start_replicas(endpoint, variant, count)
        except ReplicaStartError:
            self._stop_all(fleet.all(), grace=0)
            raise
        return fleet

    def _scale_out(
        self, endpoint: str, fleet: Fleet, group: list[Replica], variant: VariantSpec, count: int
    ) -> ReplicaStartError | None:
        """Start ``count`` replicas into ``group``, each routed the moment it is ready (a warm
        one need not wait for a cold sibling); the first start error, if any."""
        lock = threading.Lock()

        def route(replica: Replica) -> None:
            with lock:
                group.append(replica)
                self._publish(endpoint, fleet)
                self._record(endpoint, fleet=fleet)

        _, errors = self._launch_each(endpoint, variant, count, route)
        return errors[0] if errors else None

    def _start_replicas(self, endpoint: str, variant: VariantSpec, count: int) -> list[Replica]:
        """Start ``count`` replicas, all or none (the others stop if one fails)."""
        started, errors = self._launch_each(endpoint, variant, count)
        if errors:
            self._stop_all(started, grace=0)
            raise errors[0]
        return started

    def _launch_each(
        self,
        endpoint: str,
        variant: VariantSpec,
        count: int,
        on_ready: Callable[[Replica], None] | None = None,
    ) -> tuple[list[Replica], list[ReplicaStartError]]:
        """Start ``count`` replicas in parallel (``on_ready`` hears of each as it is ready):
        those started, and why the others did not."""
        spec = self._replica_spec(endpoint, variant)

        def start() -> Replica:
            replica = self._launcher.start(spec)
            if on_ready is not None:
                on_ready(replica)
            return replica

        with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
            futures = [pool.submit(start) for _ in range(count)]
        started, errors = [], []
        for future in futures:
            try:
                started.append(future.result())
            except ReplicaStartError as e:
                errors.append(e)
        return started, errors

    def _replica_spec(self, endpoint: str, variant: VariantSpec) -> ReplicaSpec:
        limit = self._settings.replica_startup_timeout_seconds
        timeout = variant.startup_timeout
        return ReplicaSpec(
            endpoint=endpoint,
            variant=variant.name,
            container=dict(variant.container),
            instance_type=variant.instance_type,
            startup_timeout=limit if timeout is None else min(timeout, limit),
            volume_size_gb=variant.volume_size_gb,
            role_arn=variant.role_arn,
        )

    def _drain_and_stop(self, replicas: Sequence[Replica]) -> None:
        deadline = time.monotonic() + _DRAIN_SECONDS
        while any(r.address.outstanding for r in replicas) and time.monotonic() < deadline:
            time.sleep(0.01)
        self._stop_all(replicas, grace=30.0)

    def _stop_all(self, replicas: Sequence[Replica], grace: float) -> None:
        threads = [threading.Thread(target=self._launcher.stop, args=(r, grace)) for r in replicas]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # -- routes, records and health ------------------------------------------------------------

    def _publish(
        self, endpoint: str, fleet: Fleet, green: Fleet | None = None, share: float = 0.0
    ) -> None:
        """Route ``endpoint`` to ``fleet`` (with ``share`` of the traffic on ``green``, during a
        rollout; ``fleet``'s shadows and capture stay until green takes all)."""
        deployment = fleet.deployment

        def weight(variant: VariantSpec) -> float:
            return fleet.weights.get(variant.name, variant.initial_weight)

        def addresses(variant: VariantSpec) -> tuple[ReplicaAddress, ...]:
            return tuple(r.address for r in fleet.replicas.get(variant.name, []))

        variants = _variant_routes(fleet)
        if green is not None:
            variants = blended(variants, _variant_routes(green), share)
        production = weight(deployment.variants[0]) if deployment.variants else 0.0
        shadows = [
            ShadowRoute(v.name, shadow_fraction(production, weight(v)), addresses(v))
            for v in deployment.shadows
        ]
        capture = None if deployment.capture is None else deployment.capture.active
        self._routing.publish(EndpointRoute.build(endpoint, variants, shadows, capture))

    def _record_stage(self, endpoint: str, share: float, bake: float) -> None:
        """Note the rollout's stage for ``PendingDeploymentSummary``."""
        stage = {
            "Status": "Baking",
            "StatusMessage": f"{share:.0%} of traffic on the new fleet; baking for {bake:g} s",
            "StartTime": time.time(),
            "TrafficShare": share,
        }

        def change(record: ResourceRecord) -> None:
            record.state = replace(endpoint_state(record), stage=stage).to_dict()

        self._stores.endpoints.modify(endpoint, change)

    def _record(
        self,
        endpoint: str,
        *,
        status: EndpointStatus | None = None,
        fleet: Fleet | None = None,
        failure: str | None = None,
        clear: bool = False,
    ) -> None:
        def change(record: ResourceRecord) -> None:
            # A delete that arrived meanwhile wins: Deleting goes nowhere else.
            if status is not None and can_transition(EndpointStatus(record.status), status):
                record.status = status
            state = endpoint_state(record)
            if failure is not None:
                state = replace(state, failure_reason=failure)
            if clear:
                state = state.settled()
            if fleet is not None:
                state = _describe_fleet(state, fleet)
            record.state = state.to_dict()
            record.last_modified_time = time.time()

        self._stores.endpoints.modify(endpoint, change)

    def _watch_health(self) -> None:
        while not self._should_exit.wait(self._health_interval):
            with self._lock:
                fleets = list(self._fleets.items())
                greens = list(self._greens.values())
            for endpoint, fleet in fleets:
                if any(self._check(replica) for replica in fleet.all()):
                    self.wake(endpoint)
            for green in greens:
                for replica in green.all():
                    self._check(replica)  # leaves the route; the rollout's alarms judge it

    def _check(self, replica: Replica) -> bool:
        """Ping one replica; whether it just turned unhealthy."""
        if not replica.address.is_healthy:
            return False
        is_running = replica.is_running()
        verdict = health_verdict(
            is_running, is_running and self._launcher.ping(replica), replica.failed_pings
        )
        replica.failed_pings = verdict.failed_pings
        if verdict.is_broken:
            replica.address.is_healthy = False
        return verdict.is_broken


def _describe_fleet(state: EndpointState, fleet: Fleet) -> EndpointState:
    healthy = {
        name: sum(1 for r in group if r.address.is_healthy)
        for name, group in fleet.replicas.items()
    }
    return replace(
        state,
        deployment=fleet.deployment,
        variants=variant_numbers(fleet.deployment, fleet.weights, healthy, fleet.counts()),
        replicas=tuple(ReplicaSummary(r.spec.variant, r.id, dict(r.phases)) for r in fleet.all()),
    )


def _variant_routes(fleet: Fleet) -> list[VariantRoute]:
    """The production variants of ``fleet`` as routes: weights, replicas, scaled to zero."""
    return [
        VariantRoute(
            v.name,
            fleet.weights.get(v.name, v.initial_weight),
            tuple(r.address for r in fleet.replicas.get(v.name, [])),
            # An empty group, not a missing one: after a restart no group exists until started.
            is_scaled_to_zero=fleet.replicas.get(v.name) == [],
        )
        for v in fleet.deployment.variants
    ]
