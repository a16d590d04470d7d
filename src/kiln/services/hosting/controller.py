"""The endpoint controller: drives each endpoint's replicas toward what the database asks for.

One worker thread per endpoint applies its changes in order: create (start every variant's
replicas, then route), update (blue/green: new replicas up and healthy, then traffic moves, then
the old ones drain and stop), weights and capacities, delete. A health loop pings every replica;
a crashed or hung one leaves the route at once and is replaced while the endpoint stays
``InService``. On start the controller brings every endpoint that should serve back up.

A worker that dies of an unexpected error (a full disk) notes it; ``sweep`` (called by the
sweeper) then finishes what no worker carries on (``sweeping.endpoint_decision``), so no endpoint
stays ``Creating`` or ``Updating`` for good.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from kiln.config import Settings
from kiln.db import ResourceRecord
from kiln.errors import unavailable_error
from kiln.services.hosting.replicas import Replica, ReplicaLauncher, ReplicaSpec, ReplicaStartError
from kiln.services.hosting.routing import EndpointRoute, RoutingTable, VariantRoute
from kiln.services.hosting.service import HostingStores, initial_variants
from kiln.services.sweeping import (
    EndpointAction,
    EndpointDecision,
    EndpointView,
    endpoint_decision,
)

log = logging.getLogger(__name__)

_DRAIN_SECONDS = 60.0
_FAILED_PINGS_BEFORE_REPLACING = 3


@dataclass
class Fleet:
    """The replicas serving one deployment (a config's variants, each with its container)."""

    deployment: dict[str, Any]
    weights: dict[str, float]
    replicas: dict[str, list[Replica]] = field(default_factory=dict)

    def variant(self, name: str) -> dict[str, Any] | None:
        """The deployment's variant called ``name``."""
        return next((v for v in self.deployment["Variants"] if v["VariantName"] == name), None)

    def all(self) -> list[Replica]:
        """Every replica of every variant."""
        return [r for group in self.replicas.values() for r in group]


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
    ) -> None:
        self._settings = settings
        self._stores = stores
        self._launcher = launcher
        self._routing = routing
        self._health_interval = health_interval
        self._fleets: dict[str, Fleet] = {}
        self._lock = threading.Lock()
        self._workers: dict[str, threading.Thread] = {}
        self._rerun: set[str] = set()
        self._errors: dict[str, tuple[str, float]] = {}  # what a worker died of, and when
        self._should_exit = threading.Event()
        self._health_thread: threading.Thread | None = None

    def start(self) -> None:
        """Bring endpoints back after a restart, then watch replica health."""
        for record in self._stores.endpoints.all():
            if record.status in ("InService", "Updating"):
                # Until its replicas are back, the router answers 503, not "no such endpoint".
                self._publish(record.name, Fleet(record.state["Deployment"], {}))
            if record.status != "Failed":
                self.wake(record.name)
        self._health_thread = threading.Thread(
            target=self._watch_health, name="kiln-endpoint-health", daemon=True
        )
        self._health_thread.start()

    def stop(self) -> None:
        """Stop every replica (endpoints keep their status: a restart brings them back)."""
        self._should_exit.set()
        with self._lock:
            workers = list(self._workers.values())
        for worker in workers:
            worker.join(timeout=60)
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
        with self._lock:
            if self._should_exit.is_set():
                return
            worker = self._workers.get(endpoint)
            if worker is not None and worker.is_alive():
                self._rerun.add(endpoint)
                return
            worker = threading.Thread(
                target=self._work, args=(endpoint,), name=f"kiln-endpoint-{endpoint}", daemon=True
            )
            self._workers[endpoint] = worker
        worker.start()

    def fleet(self, endpoint: str) -> Fleet | None:
        """The replicas serving ``endpoint`` now."""
        with self._lock:
            return self._fleets.get(endpoint)

    def sweep(self) -> None:
        """Finish the endpoint changes no worker carries on any more."""
        before = self._live_workers()
        records = self._stores.endpoints.all(["Creating", "Updating", "Deleting"])
        after = self._live_workers()
        for record in records:
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

    def _live_workers(self) -> set[str]:
        with self._lock:
            return {name for name, worker in self._workers.items() if worker.is_alive()}

    def _settle(self, decision: EndpointDecision) -> None:
        """Apply a sweeper's SETTLE or FAIL, if the endpoint is still where it was seen."""
        fleet = self.fleet(decision.name)
        is_settled = decision.action is EndpointAction.SETTLE

        def change(record: ResourceRecord) -> None:
            if record.status != decision.status:
                return
            record.status = "InService" if is_settled else "Failed"
            if decision.reason:
                record.state["FailureReason"] = decision.reason
            if is_settled:
                record.state.pop("PendingDeployment", None)
                record.state.pop("DesiredWeightsAndCapacities", None)
                if fleet is not None:
                    _describe_fleet(record, fleet)
            record.last_modified_time = time.time()

        self._stores.endpoints.modify(decision.name, change)
        with self._lock:
            self._errors.pop(decision.name, None)

    # -- the worker ----------------------------------------------------------------------------

    def _work(self, endpoint: str) -> None:
        while True:
            try:
                self._drive(endpoint)
            except Exception as e:
                log.exception("endpoint %s: controller error", endpoint)
                unavailable = unavailable_error(e)
                text = unavailable.message if unavailable else f"{type(e).__name__}: {e}"
                with self._lock:
                    self._errors[endpoint] = (text, time.time())
            with self._lock:
                if endpoint not in self._rerun or self._should_exit.is_set():
                    self._workers.pop(endpoint, None)
                    return
                self._rerun.discard(endpoint)

    def _drive(self, endpoint: str) -> None:
        record = self._stores.endpoints.get(endpoint)
        if record is None or record.status == "Deleting":
            self._delete(endpoint)
            return
        if record.status == "Failed":
            return
        if self.fleet(endpoint) is None:
            self._create(record)
            return  # a change that arrived meanwhile has set the rerun flag
        if record.state.get("PendingDeployment"):
            self._switch_config(record)
        elif record.state.get("DesiredWeightsAndCapacities"):
            self._apply_weights_and_capacities(record)
        self._repair(endpoint)

    def _create(self, record: ResourceRecord) -> None:
        try:
            fleet = self._start_fleet(record.name, record.state["Deployment"])
        except ReplicaStartError as e:
            self._record(record.name, status="Failed", failure=str(e))
            return
        with self._lock:
            self._fleets[record.name] = fleet
        self._publish(record.name, fleet)
        self._record(record.name, status="InService", fleet=fleet)

    def _switch_config(self, record: ResourceRecord) -> None:
        old = self.fleet(record.name)
        try:
            fleet = self._start_fleet(record.name, record.state["PendingDeployment"])
        except ReplicaStartError as e:
            # Rolled back: the old replicas never stopped serving.
            self._record(record.name, status="InService", failure=f"Update failed: {e}", clear=True)
            return
        with self._lock:
            self._fleets[record.name] = fleet
        self._publish(record.name, fleet)
        self._record(record.name, status="InService", fleet=fleet, clear=True)
        if old is not None:
            self._drain_and_stop(old.all())

    def _apply_weights_and_capacities(self, record: ResourceRecord) -> None:
        fleet = self.fleet(record.name)
        assert fleet is not None
        retired: list[Replica] = []
        failure = None
        for desired in record.state["DesiredWeightsAndCapacities"]:
            name = desired["VariantName"]
            if "DesiredWeight" in desired:
                fleet.weights[name] = float(desired["DesiredWeight"])
            count = desired.get("DesiredInstanceCount")
            if count is None:
                continue
            group = fleet.replicas.setdefault(name, [])
            if count < len(group):
                retired += group[count:]
                del group[count:]
            elif count > len(group) and (variant := fleet.variant(name)) is not None:
                try:
                    group += self._start_replicas(record.name, variant, count - len(group))
                except ReplicaStartError as e:
                    failure = f"Scaling variant {name} failed: {e}"
        self._publish(record.name, fleet)
        self._record(record.name, status="InService", fleet=fleet, failure=failure, clear=True)
        self._drain_and_stop(retired)

    def _repair(self, endpoint: str) -> None:
        fleet = self.fleet(endpoint)
        if fleet is None:
            return
        for name, group in fleet.replicas.items():
            variant = fleet.variant(name)
            for broken in [r for r in group if not r.address.is_healthy and variant]:
                log.warning("endpoint %s: replacing replica %s", endpoint, broken.id)
                try:
                    (replacement,) = self._start_replicas(endpoint, variant or {}, 1)
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
        self._stores.endpoints.remove(endpoint)

    # -- replicas ------------------------------------------------------------------------------

    def _start_fleet(self, endpoint: str, deployment: dict[str, Any]) -> Fleet:
        variants = deployment["Variants"]
        fleet = Fleet(
            deployment,
            {v["VariantName"]: float(v.get("InitialVariantWeight", 1.0)) for v in variants},
        )
        try:
            for variant in variants:
                count = int(variant.get("InitialInstanceCount", 1))
                fleet.replicas[variant["VariantName"]] = self._start_replicas(
                    endpoint, variant, count
                )
        except ReplicaStartError:
            self._stop_all(fleet.all(), grace=0)
            raise
        return fleet

    def _start_replicas(self, endpoint: str, variant: dict[str, Any], count: int) -> list[Replica]:
        spec = self._replica_spec(endpoint, variant)
        with ThreadPoolExecutor(max_workers=max(1, count)) as pool:
            futures = [pool.submit(self._launcher.start, spec) for _ in range(count)]
        started, errors = [], []
        for future in futures:
            try:
                started.append(future.result())
            except ReplicaStartError as e:
                errors.append(e)
        if errors:
            self._stop_all(started, grace=0)
            raise errors[0]
        return started

    def _replica_spec(self, endpoint: str, variant: dict[str, Any]) -> ReplicaSpec:
        timeout = variant.get(
            "ContainerStartupHealthCheckTimeoutInSeconds",
            self._settings.replica_startup_timeout_seconds,
        )
        return ReplicaSpec(
            endpoint=endpoint,
            variant=variant["VariantName"],
            container=variant["Container"],
            instance_type=variant["InstanceType"],
            startup_timeout=min(float(timeout), self._settings.replica_startup_timeout_seconds),
            volume_size_gb=variant.get("VolumeSizeInGB"),
            role_arn=variant.get("ExecutionRoleArn"),
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

    def _publish(self, endpoint: str, fleet: Fleet) -> None:
        variants = [
            VariantRoute(
                name,
                fleet.weights.get(name, float(variant.get("InitialVariantWeight", 1.0))),
                tuple(r.address for r in fleet.replicas.get(name, [])),
            )
            for variant in fleet.deployment["Variants"]
            if (name := variant["VariantName"])
        ]
        self._routing.publish(EndpointRoute.build(endpoint, variants))

    def _record(
        self,
        endpoint: str,
        *,
        status: str | None = None,
        fleet: Fleet | None = None,
        failure: str | None = None,
        clear: bool = False,
    ) -> None:
        def change(record: ResourceRecord) -> None:
            if status is not None and record.status != "Deleting":
                record.status = status
            if failure is not None:
                record.state["FailureReason"] = failure
            if clear:
                record.state.pop("PendingDeployment", None)
                record.state.pop("DesiredWeightsAndCapacities", None)
            if fleet is not None:
                _describe_fleet(record, fleet)
            record.last_modified_time = time.time()

        self._stores.endpoints.modify(endpoint, change)

    def _watch_health(self) -> None:
        while not self._should_exit.wait(self._health_interval):
            with self._lock:
                fleets = list(self._fleets.items())
            for endpoint, fleet in fleets:
                if any(self._check(replica) for replica in fleet.all()):
                    self.wake(endpoint)

    def _check(self, replica: Replica) -> bool:
        """Ping one replica; whether it just turned unhealthy."""
        if not replica.address.is_healthy:
            return False
        alive = replica.is_running() and self._launcher.ping(replica)
        replica.failed_pings = 0 if alive else replica.failed_pings + 1
        if not replica.is_running() or replica.failed_pings >= _FAILED_PINGS_BEFORE_REPLACING:
            replica.address.is_healthy = False
            return True
        return False


def _describe_fleet(record: ResourceRecord, fleet: Fleet) -> None:
    variants = initial_variants(fleet.deployment["Variants"])
    for name, numbers in variants.items():
        group = fleet.replicas.get(name, [])
        numbers["CurrentWeight"] = numbers["DesiredWeight"] = fleet.weights.get(name, 0.0)
        numbers["CurrentInstanceCount"] = sum(1 for r in group if r.address.is_healthy)
        numbers["DesiredInstanceCount"] = len(group)
    record.state["Deployment"] = fleet.deployment
    record.state["Variants"] = variants
    record.state["Replicas"] = [
        {"VariantName": r.spec.variant, "ReplicaId": r.id, "Phases": dict(r.phases)}
        for r in fleet.all()
    ]
