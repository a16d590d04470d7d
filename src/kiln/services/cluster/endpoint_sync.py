"""``EndpointSync``: each endpoint driven by its owner only, and routed by every server.

Why polling, once a second, and not PostgreSQL's LISTEN/NOTIFY: it runs the same on SQLite and
PostgreSQL, it costs three small queries a second per server, and it cannot miss a change (a
notification sent while a listener reconnects is lost, so NOTIFY would need this poll as well).

It is the hosting service's ``Controller``: ``wake`` (after every API change) bumps the
endpoint's generation, claiming a new endpoint for this server, and wakes the local controller
when this server owns it. Each tick reads the owner rows, the endpoint records and the leases,
and applies ``endpoint_plan.plan_sync``; it also writes the routes this server's controller
published for its own endpoints, so the others' data planes reach the replicas.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from kiln.db.leases import EndpointOwnerRows
from kiln.errors import ServiceUnavailableError
from kiln.services.cluster.endpoint_plan import SyncPlan, SyncView, plan_sync
from kiln.services.cluster.route_codec import addresses_of, route_from_json, route_to_json
from kiln.services.hosting.routing import RoutingTable

log = logging.getLogger(__name__)


class Lease(Protocol):
    """What the sync needs of this server's lease."""

    server_id: str

    def is_live(self) -> bool:
        """Whether this server may take work."""

    def live_servers(self) -> frozenset[str]:
        """The servers whose leases run."""


class Driver(Protocol):
    """What the sync needs of the endpoint controller."""

    def wake(self, endpoint: str) -> None:
        """Drive ``endpoint``."""

    def adopt(self, endpoint: str) -> None:
        """Bring up an endpoint this server has come to own."""


class EndpointSync:
    """Owner rows and shared routes (see the module docstring)."""

    def __init__(
        self,
        rows: EndpointOwnerRows,
        lease: Lease,
        routing: RoutingTable,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._rows = rows
        self._lease = lease
        self._routing = routing
        self._interval = interval
        self._clock = clock
        self._driver: Driver | None = None
        self._lock = threading.Lock()
        self._owned: dict[str, int] = {}
        self._mirrored: dict[str, int] = {}
        self._dirty: set[str] = set()
        self._kick = threading.Event()
        self._should_exit = threading.Event()
        self._thread: threading.Thread | None = None
        routing.add_listener(self._route_changed)

    def prime(self) -> None:
        """Read which endpoints this server owns (before its controller starts)."""
        me = self._lease.server_id
        with self._lock:
            self._owned = {r.endpoint: r.generation for r in self._rows.rows() if r.owner == me}

    def owns(self, endpoint: str) -> bool:
        """Whether this server's controller drives ``endpoint``."""
        with self._lock:
            return endpoint in self._owned

    def start(self, driver: Driver) -> None:
        """Sync every ``interval`` until ``stop``."""
        self._driver = driver
        self._thread = threading.Thread(target=self._loop, name="kiln-endpoint-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop syncing."""
        self._should_exit.set()
        self._kick.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self, endpoint: str) -> None:
        """An API call changed ``endpoint``: tell its owner (claiming a new one for this server)."""
        me = self._lease.server_id
        try:
            row = self._rows.bump(endpoint)
            if row is None and self._lease.is_live() and self._rows.claim(endpoint, me):
                row = self._rows.bump(endpoint)
        except ServiceUnavailableError as e:
            # The change is stored: a new endpoint is claimed on a later tick, and the owner's
            # sweeper wakes an endpoint left Creating or Updating. Only a local wake is sure now.
            log.warning("endpoint %s: owner not told of the change now: %s", endpoint, e)
            if self.owns(endpoint) and self._driver is not None:
                self._driver.wake(endpoint)
            return
        if row is None or row.owner != me:
            return  # the owner's sync sees the generation move within a second
        with self._lock:
            self._owned[endpoint] = row.generation
        if self._driver is not None:
            self._driver.wake(endpoint)

    def _route_changed(self, endpoint: str) -> None:
        if self.owns(endpoint):
            with self._lock:
                self._dirty.add(endpoint)
            self._kick.set()

    def _loop(self) -> None:
        while not self._should_exit.is_set():
            self._kick.wait(self._interval)
            self._kick.clear()
            if self._should_exit.is_set():
                return
            try:
                self._write_routes()
                self._tick()
            except ServiceUnavailableError as e:
                log.warning("endpoint sync: the database is away, trying again in 1 s: %s", e)
            except Exception:  # a bad row must not stop routing for every endpoint
                log.exception("endpoint sync failed")

    def _tick(self) -> None:
        with self._lock:
            owned, mirrored = dict(self._owned), dict(self._mirrored)
        view = SyncView(
            self._lease.server_id,
            self._clock(),
            tuple(self._rows.rows()),
            self._rows.endpoints(),
            self._lease.live_servers(),
            owned,
            mirrored,
            is_fenced=not self._lease.is_live(),
        )
        self._apply(plan_sync(view), {r.endpoint: r.generation for r in view.rows})

    def _apply(self, plan: SyncPlan, generations: dict[str, int]) -> None:
        me, driver = self._lease.server_id, self._driver
        assert driver is not None
        gained = [name for name in plan.claim if self._rows.claim(name, me)]
        for name, dead in plan.take:
            if self._rows.take(name, dead, me):
                log.warning(
                    "endpoint %s: taken over from server %s, whose lease ran out", name, dead
                )
                gained.append(name)
        for name in plan.release:
            log.warning("endpoint %s: another server owns it now; stopping its replicas", name)
            with self._lock:
                self._owned.pop(name, None)
            driver.wake(name)
        for name in plan.forget:
            self._rows.forget(name)
            with self._lock:
                self._owned.pop(name, None)
        for name in plan.withdraw:
            with self._lock:
                self._mirrored.pop(name, None)
            if name not in gained:
                self._routing.withdraw(name)
        for name in [*gained, *plan.adopt]:
            with self._lock:  # a claim or a take just moved the generation by one
                self._owned[name] = generations.get(name, 0) + (name in gained)
            driver.adopt(name)
        for name in plan.wake:
            with self._lock:
                self._owned[name] = generations[name]
            driver.wake(name)
        for name in plan.mirror:
            self._mirror(name)

    def _mirror(self, endpoint: str) -> None:
        found = self._rows.route(endpoint)
        if found is None:
            return
        version, data = found
        if data is None:
            self._routing.withdraw(endpoint)
        else:
            current = self._routing.get(endpoint)
            known = {} if current is None else addresses_of(current)
            self._routing.publish(route_from_json(endpoint, data, known))
        with self._lock:
            self._mirrored[endpoint] = version

    def _write_routes(self) -> None:
        with self._lock:
            dirty, self._dirty = self._dirty, set()
        me = self._lease.server_id
        for endpoint in sorted(dirty):
            route = self._routing.get(endpoint)
            try:
                self._rows.publish_route(
                    endpoint, me, None if route is None else route_to_json(route)
                )
            except ServiceUnavailableError:
                with self._lock:
                    self._dirty.add(endpoint)  # written on the next tick
                raise
