"""The data plane: serves one invocation from the routing table through the replica transport.

Between the HTTP router (:mod:`kiln.api.runtime`, which only parses and serialises) and the
transport port (:mod:`kiln.services.hosting.transport`). Per invocation it chooses the variant
(the target header, else by weight) and the replica (least outstanding), retries on another
replica when nothing reached the model, times the call and hands a typed outcome to ``respond``.
Only after the answer is sent does it tell each observer (one ``InvocationRecord``) and queue the
copies for the endpoint's shadow variants.

A request that finds no healthy replica of its variant (scaled to zero, the only replica just
crashed, all still starting after a restart) waits in the variant's bounded queue until a route
with a replica is published, within a time limit; a variant scaled to zero also signals demand
once (``on_demand``), which starts one replica. What to do is decided by
:mod:`kiln.services.hosting.cold_start`; this path costs nothing while replicas answer.

Shadows: a bounded queue worked by a few background tasks; when it is full the copy is dropped
and counted (``shadow_dropped``). A shadow's answer only ever goes to the observers, so a slow
or failing shadow never slows or fails a client.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from kiln.services.hosting.cold_start import (
    HoldVerdict,
    hold_seconds,
    hold_verdict,
    no_replica_message,
    refusal_message,
    should_signal_demand,
)
from kiln.services.hosting.invocations import (
    CaptureConfig,
    InvocationObserver,
    InvocationRecord,
    Outcome,
)
from kiln.services.hosting.routing import (
    EndpointRoute,
    ReplicaAddress,
    RoutingTable,
    ShadowRoute,
    VariantRoute,
    pick_replica,
)
from kiln.services.hosting.transport import (
    ReplicaResponse,
    ReplicaTimeout,
    ReplicaTransport,
    ReplicaUnreachable,
)

log = logging.getLogger(__name__)

SHADOW_QUEUE_SIZE = 1000
SHADOW_WORKERS = 4
_INVOCATIONS = b"/invocations"
_JSON = b"application/json"
_OCTET_STREAM = b"application/octet-stream"


# The per-request records are not frozen: a frozen dataclass sets each field through
# object.__setattr__, which costs about a microsecond per request on this path.


@dataclass(slots=True)
class Invocation:
    """One ``InvokeEndpoint`` request as the router parsed it (header values as sent)."""

    body: bytes
    content_type: bytes | None
    accept: bytes | None
    custom_attributes: bytes | None
    inference_id: bytes | None
    target_variant: str | None
    arrived: float
    """``time.perf_counter()`` when the request arrived (wall-clock time is derived from it
    only when a record is made)."""


@dataclass(slots=True)
class Answered:
    """The model answered 2xx: 200 with its body."""

    variant: str
    content_type: bytes
    body: bytes
    custom_attributes: bytes | None


@dataclass(slots=True)
class ModelFailed:
    """The model answered non-2xx (``status``), or none (``status`` 0): 424 ModelError."""

    endpoint: str
    variant: str
    status: int
    message: str


@dataclass(slots=True)
class Refused:
    """Kiln refused or could not place the request: ``status`` with error type ``kind``."""

    status: int
    kind: bytes
    message: str


InvocationOutcome = Answered | ModelFailed | Refused
Respond = Callable[[InvocationOutcome], Awaitable[None]]


@dataclass(slots=True)
class _Call:
    """What happened when one request went to a variant's replicas."""

    replica: ReplicaAddress | None
    response: ReplicaResponse | None
    failure: str | None
    """Why no response came (timeout, connection lost); None when one came or none was tried."""
    model_seconds: float
    unavailable: str | None = None
    """Why no replica was tried (the 503's message); None for the plain "none available"."""


@dataclass(slots=True)
class _Held:
    """The requests one variant holds while it has no healthy replica, oldest first."""

    waiters: deque[asyncio.Future[None]] = field(default_factory=deque)
    is_signalled: bool = False


@dataclass(frozen=True, slots=True)
class _ShadowCopy:
    endpoint: str
    shadow: ShadowRoute
    invocation: Invocation
    headers: list[tuple[bytes, bytes]]
    capture: CaptureConfig | None


class DataPlane:
    """Serves invocations; tells observers about each one; mirrors to shadow variants."""

    def __init__(
        self,
        routing: RoutingTable,
        transport: ReplicaTransport,
        observers: Sequence[InvocationObserver] = (),
        *,
        timeout: float = 60.0,
        shadow_queue_size: int = SHADOW_QUEUE_SIZE,
        shadow_workers: int = SHADOW_WORKERS,
        rng: random.Random | None = None,
        cold_start_queue: int = 100,
        cold_start_timeout: float = 30.0,
        on_demand: Callable[[str, str], None] | None = None,
    ) -> None:
        self._routing = routing
        self._transport = transport
        self._observers = tuple(observers)
        self._timeout = timeout
        self._rng = rng or random.Random()
        self._shadow_queue: asyncio.Queue[_ShadowCopy] = asyncio.Queue(shadow_queue_size)
        self._shadow_workers = shadow_workers
        self._workers: list[asyncio.Task[None]] = []
        self.shadow_dropped = 0
        """Shadow copies dropped because the queue was full (for the metrics part to read)."""
        self._queue_size = cold_start_queue
        self._cold_timeout = cold_start_timeout
        self._on_demand = on_demand
        self._held: dict[tuple[str, str], _Held] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        routing.add_listener(self._published)

    @property
    def held(self) -> int:
        """Requests waiting for a replica now."""
        return sum(len(h.waiters) for h in self._held.values())

    def add_observer(self, observer: InvocationObserver) -> None:
        """Tell ``observer`` of every invocation from now on (a part wired after start)."""
        self._observers = (*self._observers, observer)

    @property
    def shadow_backlog(self) -> int:
        """Shadow copies waiting to be sent."""
        return self._shadow_queue.qsize()

    def route(self, endpoint: str) -> EndpointRoute | None:
        """The current route of ``endpoint`` (None: no such endpoint)."""
        return self._routing.get(endpoint)

    async def invoke(self, route: EndpointRoute, invocation: Invocation, respond: Respond) -> None:
        """Serve ``invocation`` on ``route``: ``respond`` with the outcome, then tell observers
        and queue the shadow copies."""
        if self._loop is None:  # once: route changes from other threads are handed to this loop
            self._loop = asyncio.get_running_loop()
        target = invocation.target_variant
        variant = route.variant(target) if target else route.pick_variant(self._rng)
        if variant is None:
            what = f'variant "{target}"' if target else "a variant with weight above 0"
            message = f"Endpoint {route.name} has no {what}."
            await respond(Refused(400, b"ValidationError", message))
            return
        headers = _forwarded(invocation)
        replicas = variant.replicas
        if variant.green_share and self._rng.random() < variant.green_share:
            replicas = variant.green  # a rollout: this share goes to the new fleet
        call = await self._call(replicas, headers, invocation.body)
        if call.replica is None and call.failure is None:
            variant, call = await self._wait_for_replica(route.name, variant, headers, invocation)
        await respond(_outcome(route.name, variant.name, call))
        if self._observers:
            end = time.perf_counter()
            capture = self._sampled(route.capture)
            arrived = invocation.arrived
            self._emit(
                _record(route.name, variant.name, False, invocation, call, arrived, end, capture)
            )
        if route.shadows:
            self._mirror(route, invocation, headers)

    async def aclose(self) -> None:
        """Stop the shadow workers (copies still queued are dropped) and close the transport."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        self._transport.close()

    async def _call(
        self, replicas: Sequence[ReplicaAddress], headers: list[tuple[bytes, bytes]], body: bytes
    ) -> _Call:
        tried: list[ReplicaAddress] = []
        while (replica := pick_replica(replicas, tried)) is not None:
            tried.append(replica)
            replica.outstanding += 1
            sent = time.perf_counter()
            try:
                response = await self._transport.post(
                    replica.location, _INVOCATIONS, headers, body, self._timeout
                )
            except ReplicaUnreachable:
                continue  # nothing reached the model: another replica may take it
            except ReplicaTimeout:
                return _Call(replica, None, _timeout_message(self._timeout), _since(sent))
            except ConnectionError as e:
                return _Call(replica, None, f"connection lost: {e}", _since(sent))
            finally:
                replica.outstanding -= 1
            return _Call(replica, response, None, _since(sent))
        return _Call(None, None, None, 0.0)

    async def _wait_for_replica(
        self,
        endpoint: str,
        variant: VariantRoute,
        headers: list[tuple[bytes, bytes]],
        invocation: Invocation,
    ) -> tuple[VariantRoute, _Call]:
        """The cold path: hold the request until a replica of ``variant`` serves, or refuse it."""
        loop = asyncio.get_running_loop()
        deadline = time.perf_counter() + hold_seconds(variant.is_scaled_to_zero, self._cold_timeout)
        while True:
            key = (endpoint, variant.name)
            held = self._held.setdefault(key, _Held())
            zero = variant.is_scaled_to_zero
            verdict = hold_verdict(
                pick_replica(variant.replicas) is not None, len(held.waiters), self._queue_size
            )
            if verdict is HoldVerdict.REFUSE:
                break
            if should_signal_demand(zero, held.is_signalled) and self._on_demand is not None:
                held.is_signalled = True  # a full queue too: the client's retry finds a replica
                self._on_demand(endpoint, variant.name)
            if verdict is HoldVerdict.QUEUE_FULL:
                break
            waiter: asyncio.Future[None] = loop.create_future()
            held.waiters.append(waiter)
            try:
                await asyncio.wait((waiter,), timeout=max(0.0, deadline - time.perf_counter()))
            finally:  # timed out or cancelled: its place in the queue goes
                if not waiter.done():
                    waiter.cancel()
                    held.waiters.remove(waiter)
            if waiter.cancelled():
                verdict = HoldVerdict.REFUSE
                break
            route = self._routing.get(endpoint)
            current = None if route is None else route.variant(variant.name)
            if current is None:  # deleted meanwhile
                verdict = HoldVerdict.REFUSE
                break
            variant = current
            if pick_replica(variant.replicas) is not None:
                call = await self._call(variant.replicas, headers, invocation.body)
                return variant, call
        if not held.waiters:
            self._held.pop((endpoint, variant.name), None)
        waited = time.perf_counter() - invocation.arrived
        message = refusal_message(
            endpoint, variant.name, verdict, variant.is_scaled_to_zero, self._queue_size, waited
        )
        return variant, _Call(None, None, None, 0.0, message)

    def _published(self, endpoint: str) -> None:
        """A new route for ``endpoint``, or none (the controller's thread): hand it to the loop."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._route_changed, endpoint)

    def _route_changed(self, endpoint: str) -> None:
        """Wake what ``endpoint`` holds; forget the transport's pools of replicas now gone."""
        route = self._routing.get(endpoint)
        for key in [k for k in self._held if k[0] == endpoint]:
            held = self._held[key]
            variant = None if route is None else route.variant(key[1])
            if variant is None or pick_replica(variant.replicas) is not None:
                del self._held[key]  # served or gone: a later scale to zero signals afresh
            waiters, held.waiters = held.waiters, deque()
            for waiter in waiters:  # oldest first: they resume, and send, in this order
                if not waiter.done():
                    waiter.set_result(None)
        self._transport.retain(_addresses(self._routing.routes()))

    def _sampled(self, capture: CaptureConfig | None) -> CaptureConfig | None:
        if capture is None or self._rng.random() * 100 >= capture.sampling_percentage:
            return None
        return capture

    def _emit(self, record: InvocationRecord) -> None:
        for observer in self._observers:
            try:
                observer.observe(record)
            except Exception:  # one broken observer must not cost the others their record
                log.exception("invocation observer %r failed", observer)

    def _mirror(
        self, route: EndpointRoute, invocation: Invocation, headers: list[tuple[bytes, bytes]]
    ) -> None:
        for shadow in route.shadows:
            if shadow.fraction < 1.0 and self._rng.random() >= shadow.fraction:
                continue
            copy = _ShadowCopy(route.name, shadow, invocation, headers, route.capture)
            try:
                self._shadow_queue.put_nowait(copy)
            except asyncio.QueueFull:
                self.shadow_dropped += 1
                continue
            if not self._workers:
                self._workers = [
                    asyncio.get_running_loop().create_task(self._work_shadows())
                    for _ in range(self._shadow_workers)
                ]

    async def _work_shadows(self) -> None:
        while True:
            copy = await self._shadow_queue.get()
            try:
                await self._serve_shadow(copy)
            except Exception:
                log.exception("shadow copy to %s failed", copy.shadow.name)

    async def _serve_shadow(self, copy: _ShadowCopy) -> None:
        invocation = copy.invocation
        started = time.perf_counter()
        call = await self._call(copy.shadow.replicas, copy.headers, invocation.body)
        if not self._observers:
            return
        capture = self._sampled(copy.capture)
        end = time.perf_counter()
        # Its own clock: the time it waited in the queue is no latency of the shadow's.
        self._emit(
            _record(copy.endpoint, copy.shadow.name, True, invocation, call, started, end, capture)
        )


def _forwarded(invocation: Invocation) -> list[tuple[bytes, bytes]]:
    headers = [(b"content-type", invocation.content_type or _JSON)]
    if invocation.accept is not None:
        headers.append((b"accept", invocation.accept))
    if invocation.custom_attributes is not None:
        headers.append((b"x-amzn-sagemaker-custom-attributes", invocation.custom_attributes))
    if invocation.inference_id is not None:
        headers.append((b"x-amzn-sagemaker-inference-id", invocation.inference_id))
    return headers


def _outcome(endpoint: str, variant: str, call: _Call) -> InvocationOutcome:
    response = call.response
    if response is None:
        if call.failure is not None:
            return ModelFailed(endpoint, variant, 0, call.failure)
        return Refused(
            503,
            b"ServiceUnavailable",
            call.unavailable or no_replica_message(endpoint, variant),
        )
    if 200 <= response.status < 300:
        headers = response.headers
        return Answered(
            variant,
            headers.get(b"content-type", _OCTET_STREAM),
            response.body,
            headers.get(b"x-amzn-sagemaker-custom-attributes"),
        )
    text = response.body.decode("utf-8", errors="replace")
    return ModelFailed(endpoint, variant, response.status, text)


def _record(
    endpoint: str,
    variant: str,
    is_shadow: bool,
    invocation: Invocation,
    call: _Call,
    started: float,
    end: float,
    capture: CaptureConfig | None,
) -> InvocationRecord:
    response = call.response
    if response is None:
        outcome = Outcome.UNAVAILABLE if call.failure is None else Outcome.MODEL_FAILURE
        status, body, content_type = 0, b"", None
    else:
        ok = 200 <= response.status < 300
        outcome = Outcome.ANSWERED if ok else Outcome.MODEL_ERROR
        status, body = response.status, response.body
        raw_type = response.headers.get(b"content-type")
        content_type = None if raw_type is None else raw_type.decode("latin-1")
    model_us = int(call.model_seconds * 1_000_000)
    total_us = int((end - started) * 1_000_000)
    return InvocationRecord(
        endpoint=endpoint,
        variant=variant,
        is_shadow=is_shadow,
        replica=None if call.replica is None else call.replica.replica_id or call.replica.location,
        # Only capture reads it: a uuid4 per request would cost the others for nothing.
        event_id="" if capture is None else str(uuid.uuid4()),
        inference_id=_text(invocation.inference_id),
        arrived_at=time.time() - (end - invocation.arrived),
        outcome=outcome,
        model_status=status,
        model_latency_us=model_us,
        overhead_latency_us=max(0, total_us - model_us),
        request_body=invocation.body,
        request_content_type=_text(invocation.content_type) or "application/json",
        request_accept=_text(invocation.accept),
        response_body=body,
        response_content_type=content_type,
        capture=capture,
    )


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _since(start: float) -> float:
    return time.perf_counter() - start


def _timeout_message(timeout: float) -> str:
    return (
        "Your invocation timed out while waiting for a response from container primary "
        f"(after {timeout:.0f} s)."
    )


def _addresses(routes: Sequence[EndpointRoute]) -> set[str]:
    """Where every routed replica listens (blue, green and shadows)."""
    found: set[str] = set()
    for route in routes:
        for variant in route.variants:
            found.update(r.location for r in (*variant.replicas, *variant.green))
        for shadow in route.shadows:
            found.update(r.location for r in shadow.replicas)
    return found
