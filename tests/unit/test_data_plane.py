"""The data plane on real replica apps (``ReplicaApp``) reached through an in-process transport.

The transport is an adapter of the port like the Unix-socket one, over ASGI calls instead of
sockets: an address with no app behind it is unreachable, as a dead socket is.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Collection, MutableMapping
from typing import Any

import pytest

from kiln.runtime.handlers import InferenceError, Reply
from kiln.runtime.model_server import ReplicaApp
from kiln.services.hosting.data_plane import (
    Answered,
    DataPlane,
    Invocation,
    InvocationOutcome,
    ModelFailed,
    Refused,
)
from kiln.services.hosting.invocations import CaptureConfig, InvocationRecord, Outcome
from kiln.services.hosting.routing import (
    EndpointRoute,
    ReplicaAddress,
    RoutingTable,
    ShadowRoute,
    VariantRoute,
)
from kiln.services.hosting.transport import ReplicaResponse, ReplicaTimeout, ReplicaUnreachable

# Async tests run on asyncio through anyio's pytest plugin (anyio comes with Starlette).
pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


CAPTURE = CaptureConfig(100, "s3://b/capture", True, True, frozenset(), frozenset())


class AsgiTransport:
    """The replica transport over in-process ASGI apps: address → app."""

    def __init__(self, apps: dict[str, ReplicaApp]) -> None:
        self.apps = apps
        self.closed = False
        self.retained: set[str] | None = None

    async def post(
        self,
        address: str,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout: float,
    ) -> ReplicaResponse:
        app = self.apps.get(address)
        if app is None:
            raise ReplicaUnreachable(f"nothing listens on {address}")
        scope = {"type": "http", "method": "POST", "path": path.decode(), "headers": headers}
        answer: dict[str, Any] = {"body": b""}

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = dict(message["headers"])
            else:
                answer["body"] += message.get("body", b"")

        try:
            await asyncio.wait_for(app(scope, receive, send), timeout)
        except TimeoutError:
            raise ReplicaTimeout() from None
        return ReplicaResponse(answer["status"], answer["headers"], answer["body"])

    def retain(self, addresses: Collection[str]) -> None:
        self.retained = set(addresses)

    def close(self) -> None:
        self.closed = True


def _replica(name: str, delay: float = 0.0, fail: bool = False) -> ReplicaApp:
    async def dispatch(
        body: bytes, content_type: str | None, accept: str | None, attributes: str | None,
        inference_id: str | None,
    ) -> Reply:  # fmt: skip
        await asyncio.sleep(delay)
        if fail:
            raise InferenceError(500, f"{name} broke")
        return Reply(f"{name}:{inference_id}".encode(), "text/plain", attributes)

    return ReplicaApp(dispatch)


class Seen:
    """An observer that keeps every record."""

    def __init__(self) -> None:
        self.records: list[InvocationRecord] = []

    def observe(self, record: InvocationRecord) -> None:
        self.records.append(record)


def _invocation(target: str | None = None, inference_id: bytes | None = None) -> Invocation:
    return Invocation(
        b"[1]", b"application/json", None, b"a=1", inference_id, target,
        time.perf_counter(),
    )  # fmt: skip


def _plane(
    apps: dict[str, ReplicaApp], route: EndpointRoute, **kwargs: Any
) -> tuple[DataPlane, Seen]:
    routing = RoutingTable()
    routing.publish(route)
    seen = Seen()
    return DataPlane(routing, AsgiTransport(apps), [seen], rng=random.Random(7), **kwargs), seen


def _route(
    variants: dict[str, list[str]],
    shadows: tuple[ShadowRoute, ...] = (),
    capture: CaptureConfig | None = None,
) -> EndpointRoute:
    return EndpointRoute.build(
        "e",
        [
            VariantRoute(v, 1.0, tuple(ReplicaAddress(a, v) for a in addresses))
            for v, addresses in variants.items()
        ],
        shadows,
        capture,
    )


async def _serve(plane: DataPlane, invocation: Invocation) -> InvocationOutcome:
    outcomes: list[InvocationOutcome] = []

    async def respond(outcome: InvocationOutcome) -> None:
        outcomes.append(outcome)

    route = plane.route("e")
    assert route is not None
    await plane.invoke(route, invocation, respond)
    (outcome,) = outcomes
    return outcome


async def test_answer_carries_the_variant_and_the_replicas_body() -> None:
    plane, seen = _plane({"a1": _replica("a1")}, _route({"A": ["a1"]}))
    before = time.time()
    outcome = await _serve(plane, _invocation(inference_id=b"id-7"))
    assert outcome == Answered("A", b"text/plain", b"a1:id-7", b"a=1")
    (record,) = seen.records
    assert before - 0.1 <= record.arrived_at <= time.time()
    assert (record.endpoint, record.variant, record.is_shadow) == ("e", "A", False)
    assert (record.outcome, record.model_status, record.inference_id) == (
        Outcome.ANSWERED, 200, "id-7",
    )  # fmt: skip
    assert record.response_body == b"a1:id-7"
    assert record.capture is None


async def test_model_latency_covers_the_replicas_time_and_overhead_the_rest() -> None:
    plane, seen = _plane({"a1": _replica("a1", delay=0.05)}, _route({"A": ["a1"]}))
    await _serve(plane, _invocation())
    (record,) = seen.records
    assert record.model_latency_us >= 50_000
    assert 0 <= record.overhead_latency_us < record.model_latency_us


async def test_target_variant_picks_the_variant() -> None:
    apps = {"a1": _replica("a1"), "b1": _replica("b1")}
    plane, _ = _plane(apps, _route({"A": ["a1"], "B": ["b1"]}))
    outcome = await _serve(plane, _invocation(target="B"))
    assert isinstance(outcome, Answered)
    assert outcome.body.startswith(b"b1")


async def test_unknown_target_variant_is_refused_without_a_record() -> None:
    plane, seen = _plane({"a1": _replica("a1")}, _route({"A": ["a1"]}))
    outcome = await _serve(plane, _invocation(target="Nope"))
    assert outcome == Refused(400, b"ValidationError", 'Endpoint e has no variant "Nope".')
    assert seen.records == []


async def test_an_unreachable_replica_is_retried_on_another() -> None:
    # "dead" has no app behind it: nothing reached a model, so the next replica takes it.
    plane, seen = _plane({"a2": _replica("a2")}, _route({"A": ["dead", "a2"]}))
    outcome = await _serve(plane, _invocation())
    assert isinstance(outcome, Answered)
    assert seen.records[0].replica == "a2"


async def test_no_reachable_replica_is_503_and_recorded_unavailable() -> None:
    plane, seen = _plane({}, _route({"A": ["dead"]}))
    outcome = await _serve(plane, _invocation())
    assert outcome == Refused(
        503, b"ServiceUnavailable", "No replica of variant A of endpoint e is available right now."
    )
    assert (seen.records[0].outcome, seen.records[0].replica) == (Outcome.UNAVAILABLE, None)


async def test_model_error_keeps_the_replicas_status_and_message() -> None:
    plane, seen = _plane({"a1": _replica("a1", fail=True)}, _route({"A": ["a1"]}))
    outcome = await _serve(plane, _invocation())
    assert outcome == ModelFailed("e", "A", 500, "a1 broke")
    assert (seen.records[0].outcome, seen.records[0].model_status) == (Outcome.MODEL_ERROR, 500)


async def test_timeout_is_a_model_failure_with_status_zero() -> None:
    plane, seen = _plane({"a1": _replica("a1", delay=1.0)}, _route({"A": ["a1"]}), timeout=0.05)
    outcome = await _serve(plane, _invocation())
    assert isinstance(outcome, ModelFailed)
    assert outcome.status == 0
    assert "timed out" in outcome.message
    assert seen.records[0].outcome is Outcome.MODEL_FAILURE


@pytest.mark.parametrize(("percentage", "sampled"), [(100, 200), (0, 0)])
async def test_capture_samples_by_the_initial_sampling_percentage(
    percentage: int, sampled: int
) -> None:
    capture = CaptureConfig(percentage, "s3://b/c", True, True, frozenset(), frozenset())
    plane, seen = _plane({"a1": _replica("a1")}, _route({"A": ["a1"]}, capture=capture))
    for _ in range(200):
        await _serve(plane, _invocation())
    assert sum(1 for r in seen.records if r.capture is capture) == sampled


async def test_capture_samples_about_its_share() -> None:
    capture = CaptureConfig(30, "s3://b/c", True, True, frozenset(), frozenset())
    plane, seen = _plane({"a1": _replica("a1")}, _route({"A": ["a1"]}, capture=capture))
    for _ in range(400):
        await _serve(plane, _invocation())
    assert 80 <= sum(1 for r in seen.records if r.capture is not None) <= 160


def _shadowed(delay: float = 0.0, fail: bool = False, **kwargs: Any) -> tuple[DataPlane, Seen]:
    shadow = ShadowRoute("S", 1.0, (ReplicaAddress("s1", "S"),))
    apps = {"a1": _replica("a1"), "s1": _replica("s1", delay=delay, fail=fail)}
    return _plane(apps, _route({"A": ["a1"]}, (shadow,), CAPTURE), **kwargs)


async def _until(condition: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_shadow_gets_a_copy_whose_record_is_marked_shadow() -> None:
    plane, seen = _shadowed()
    outcome = await _serve(plane, _invocation(inference_id=b"id-1"))
    assert isinstance(outcome, Answered)
    assert outcome.body == b"a1:id-1"
    await _until(lambda: len(seen.records) == 2)
    shadow = seen.records[1]
    assert (shadow.variant, shadow.is_shadow, shadow.response_body) == ("S", True, b"s1:id-1")
    assert shadow.capture is CAPTURE
    await plane.aclose()


async def test_a_slow_shadow_never_delays_the_answer() -> None:
    plane, seen = _shadowed(delay=2.0)
    started = time.perf_counter()
    for _ in range(5):
        await _serve(plane, _invocation())
    assert time.perf_counter() - started < 1.0
    assert [r.is_shadow for r in seen.records] == [False] * 5
    await plane.aclose()


async def test_a_failing_shadow_is_recorded_and_never_fails_the_client() -> None:
    plane, seen = _shadowed(fail=True)
    assert isinstance(await _serve(plane, _invocation()), Answered)
    await _until(lambda: len(seen.records) == 2)
    assert (seen.records[1].outcome, seen.records[1].model_status) == (Outcome.MODEL_ERROR, 500)
    await plane.aclose()


async def test_copies_past_a_full_shadow_queue_are_dropped_and_counted() -> None:
    plane, _ = _shadowed(delay=2.0, shadow_queue_size=2, shadow_workers=1)
    for _ in range(6):
        await _serve(plane, _invocation())
    # Two wait; the worker has taken one or not yet: the other three or four did not fit.
    assert plane.shadow_backlog == 2
    assert plane.shadow_dropped in (3, 4)
    await plane.aclose()


async def test_shadow_fraction_mirrors_a_share_of_requests() -> None:
    shadow = ShadowRoute("S", 0.25, (ReplicaAddress("s1", "S"),))
    apps = {"a1": _replica("a1"), "s1": _replica("s1")}
    plane, seen = _plane(apps, _route({"A": ["a1"]}, (shadow,)))
    for _ in range(400):
        await _serve(plane, _invocation())
    await _until(lambda: plane.shadow_backlog == 0)
    await asyncio.sleep(0.05)
    assert 60 <= sum(1 for r in seen.records if r.is_shadow) <= 140
    await plane.aclose()


async def test_aclose_closes_the_transport() -> None:
    plane, _ = _plane({}, _route({"A": []}))
    await plane.aclose()
    assert plane._transport.closed  # type: ignore[attr-defined]


def _zero_route(replicas: list[str] | None = None) -> EndpointRoute:
    """Variant A scaled to zero (no replica), or back with ``replicas``."""
    addresses = tuple(ReplicaAddress(a, "A") for a in replicas or [])
    return EndpointRoute.build(
        "e", [VariantRoute("A", 1.0, addresses, is_scaled_to_zero=not addresses)]
    )


async def _serve_all(plane: DataPlane, count: int) -> list[asyncio.Task[InvocationOutcome]]:
    tasks = [asyncio.create_task(_serve(plane, _invocation(inference_id=f"{i}".encode())))
             for i in range(count)]  # fmt: skip
    await _until(lambda: plane.held == count)
    return tasks


async def test_requests_to_a_variant_at_zero_wait_for_its_replica_and_keep_their_order() -> None:
    demands: list[tuple[str, str]] = []
    order: list[str] = []
    app = _replica("a1")

    async def recording(body: bytes, ct: Any, accept: Any, attrs: Any, inference_id: Any) -> Reply:
        order.append(inference_id)
        return await app.dispatch(body, ct, accept, attrs, inference_id)

    plane, _ = _plane(
        {"a1": ReplicaApp(recording)}, _zero_route(), on_demand=lambda *k: demands.append(k)
    )
    tasks = await _serve_all(plane, 5)
    assert demands == [("e", "A")]  # signalled once for all five
    plane._routing.publish(_zero_route(["a1"]))  # type: ignore[attr-defined]
    outcomes = await asyncio.gather(*tasks)
    assert all(isinstance(o, Answered) for o in outcomes)
    assert order == ["0", "1", "2", "3", "4"]
    assert plane.held == 0


async def test_a_full_cold_start_queue_answers_503_saying_the_variant_is_starting() -> None:
    plane, _ = _plane({}, _zero_route(), cold_start_queue=2)
    tasks = await _serve_all(plane, 2)
    outcome = await _serve(plane, _invocation())
    assert isinstance(outcome, Refused)
    assert (outcome.status, outcome.kind) == (503, b"ServiceUnavailable")
    assert "scaled to zero and starting" in outcome.message
    assert "queue of 2 held requests is full" in outcome.message
    for task in tasks:
        task.cancel()


async def test_a_held_request_past_the_timeout_answers_503_saying_it_did_not_start() -> None:
    plane, seen = _plane({}, _zero_route(), cold_start_timeout=0.05)
    outcome = await _serve(plane, _invocation())
    assert isinstance(outcome, Refused)
    assert outcome.status == 503
    assert "is scaled to zero and its instance did not start within" in outcome.message
    assert seen.records[0].outcome is Outcome.UNAVAILABLE
    assert plane.held == 0


async def test_a_queue_of_zero_refuses_at_once_but_still_asks_for_a_replica() -> None:
    demands: list[tuple[str, str]] = []
    plane, _ = _plane({}, _zero_route(), cold_start_queue=0, on_demand=lambda *k: demands.append(k))
    outcome = await _serve(plane, _invocation())
    assert isinstance(outcome, Refused)
    assert "queue of 0 held requests is full" in outcome.message
    assert demands == [("e", "A")]


async def test_a_variant_whose_replica_crashed_holds_briefly_without_asking_for_one() -> None:
    demands: list[tuple[str, str]] = []
    broken = ReplicaAddress("gone", "A", is_healthy=False)
    route = EndpointRoute.build("e", [VariantRoute("A", 1.0, (broken,))])
    plane, _ = _plane({"a1": _replica("a1")}, route, on_demand=lambda *k: demands.append(k))
    (task,) = await _serve_all(plane, 1)
    plane._routing.publish(_route({"A": ["a1"]}))  # type: ignore[attr-defined]
    assert isinstance(await task, Answered)
    assert demands == []  # the controller replaces it on its own


async def test_requests_held_for_a_deleted_endpoint_are_refused_at_once() -> None:
    plane, _ = _plane({}, _zero_route(), cold_start_timeout=30)
    (task,) = await _serve_all(plane, 1)
    plane._routing.withdraw("e")  # type: ignore[attr-defined]
    outcome = await asyncio.wait_for(task, timeout=5)  # not the 30 s hold
    assert isinstance(outcome, Refused)
    assert plane.held == 0


async def test_a_cancelled_held_request_gives_its_place_in_the_queue_back() -> None:
    plane, _ = _plane({}, _zero_route(), cold_start_queue=1)
    (task,) = await _serve_all(plane, 1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert plane.held == 0


async def test_the_transport_forgets_the_replicas_no_route_names_any_more() -> None:
    plane, _ = _plane({"a1": _replica("a1"), "a2": _replica("a2")}, _route({"A": ["a1", "a2"]}))
    assert isinstance(await _serve(plane, _invocation()), Answered)  # the loop is known
    plane._routing.publish(_route({"A": ["a2"]}))  # type: ignore[attr-defined]
    transport = plane._transport  # type: ignore[attr-defined]
    await _until(lambda: transport.retained is not None)
    assert transport.retained == {"a2"}
