"""The runtime router: sagemaker-runtime ``InvokeEndpoint`` (CONTRACTS.md §3.9).

    POST /endpoints/{EndpointName}/invocations
      request headers  Content-Type, Accept, X-Amzn-SageMaker-Custom-Attributes,
                       X-Amzn-SageMaker-Target-Variant, X-Amzn-SageMaker-Inference-Id
      body             the payload, at most 6 MiB
    200  the replica's body and Content-Type; X-Amzn-Invoked-Production-Variant
    400  x-amzn-ErrorType: ValidationError    unknown endpoint or variant
    413  x-amzn-ErrorType: ValidationError    payload over 6 MiB
    424  x-amzn-ErrorType: ModelError         the model answered non-2xx or timed out:
         {"ErrorCode", "Message", "OriginalStatusCode", "OriginalMessage", "LogStreamArn"}
    503  x-amzn-ErrorType: ServiceUnavailable no healthy replica right now

A raw ASGI callable: bytes in, bytes out. No JSON parsing of payloads, no database, no log line
per request. The variant is chosen by weight (or the target header), the replica by least
outstanding requests; a request refused by a dead replica is retried on another. Each request
that reached a variant leaves one ``InvocationRecord`` for the observers (metrics), after its
answer is sent.
"""

from __future__ import annotations

import itertools
import random
import time
import uuid
from collections.abc import Sequence
from typing import Any

import orjson

from kiln.api.replica_client import ReplicaClient, ReplicaTimeout, ReplicaUnreachable
from kiln.config import ACCOUNT_ID
from kiln.runtime.asgi import ClientDisconnected, Receive, Scope, Send, read_body
from kiln.services.hosting.invocations import InvocationObserver, InvocationRecord, Outcome
from kiln.services.hosting.routing import RoutingTable, pick_replica

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_PREFIX = "/endpoints/"
_SUFFIX = "/invocations"
_MODEL_ERROR_TYPE = b"ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"
_FORWARDED = (
    b"content-type",
    b"accept",
    b"x-amzn-sagemaker-custom-attributes",
    b"x-amzn-sagemaker-inference-id",
)


class InvocationRouter:
    """Routes invocations to replicas through the in-memory routing table."""

    def __init__(
        self,
        routing: RoutingTable,
        region: str,
        timeout: float = 60.0,
        observers: Sequence[InvocationObserver] = (),
    ) -> None:
        self._routing = routing
        self._region = region
        self._timeout = timeout
        self._observers = tuple(observers)
        # Event ids: a random UUID-shaped prefix per router and a counter, unique and far
        # cheaper than uuid4() per request (which reads the OS's random source each time).
        head = uuid.uuid4().hex
        self._id_prefix = f"{head[:8]}-{head[8:12]}-{head[12:16]}-{head[16:20]}-"
        self._ids = itertools.count()
        self._client = ReplicaClient()
        self._rng = random.Random()

    def handles(self, scope: Scope) -> bool:
        """Whether ``scope`` is an invocation."""
        if scope["type"] != "http":
            return False
        path: str = scope["path"]
        return path.startswith(_PREFIX) and path.endswith(_SUFFIX)

    @staticmethod
    def endpoint_of(scope: Scope) -> str:
        """The endpoint an invocation names."""
        path: str = scope["path"]
        return path[len(_PREFIX) : -len(_SUFFIX)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        arrived_at = time.time()
        started = time.perf_counter()
        endpoint = self.endpoint_of(scope)
        route = self._routing.get(endpoint)
        if scope["method"] != "POST":
            await _error(send, 405, b"ValidationError", "InvokeEndpoint takes POST")
            return
        if route is None:
            message = f"Endpoint {endpoint} of account {ACCOUNT_ID} not found."
            await _error(send, 400, b"ValidationError", message)
            return
        headers = dict(scope["headers"])
        try:
            body = (
                None if _declares_too_much(headers) else await read_body(receive, MAX_PAYLOAD_BYTES)
            )
        except ClientDisconnected:
            return
        if body is None:
            await _error(
                send, 413, b"ValidationError",
                f"Request payload is larger than the {MAX_PAYLOAD_BYTES} byte limit",
            )  # fmt: skip
            return
        # Header bytes need not be UTF-8 (HTTP carries any latin-1 byte): an unknown variant then.
        target = headers.get(b"x-amzn-sagemaker-target-variant", b"").decode("utf-8", "replace")
        variant = route.variant(target) if target else route.pick_variant(self._rng)
        if variant is None:
            what = f'variant "{target}"' if target else "a variant with weight above 0"
            await _error(send, 400, b"ValidationError", f"Endpoint {endpoint} has no {what}.")
            return
        forwarded = [(k, v) for k, v in scope["headers"] if k in _FORWARDED]
        if b"content-type" not in headers:
            forwarded.append((b"content-type", b"application/json"))
        served = await self._forward(
            send, endpoint, variant.name, variant.replicas, forwarded, body
        )
        if self._observers:
            self._tell(served, endpoint, variant.name, headers, body, arrived_at, started)

    async def _forward(
        self,
        send: Send,
        endpoint: str,
        variant: str,
        replicas: Any,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> _Served:
        tried: list[Any] = []
        while (replica := pick_replica(replicas, tried)) is not None:
            tried.append(replica)
            replica.outstanding += 1
            sent = time.perf_counter()
            try:
                response = await self._client.post(
                    replica.socket_path, b"/invocations", headers, body, self._timeout
                )
            except ReplicaUnreachable:
                continue  # nothing reached the model: another replica may take it
            except ReplicaTimeout:
                await _model_error(send, endpoint, variant, 0, _timeout_message(self._timeout))
                return _Served(Outcome.MODEL_FAILURE, replica.socket_path, 0, sent)
            except ConnectionError as e:
                await _model_error(send, endpoint, variant, 0, f"connection lost: {e}")
                return _Served(Outcome.MODEL_FAILURE, replica.socket_path, 0, sent)
            finally:
                replica.outstanding -= 1
            served = _Served(Outcome.ANSWERED, replica.socket_path, response.status, sent,
                             time.perf_counter(), response.body,
                             response.headers.get(b"content-type"))  # fmt: skip
            if 200 <= response.status < 300:
                await _answer(send, variant, response.headers, response.body)
            else:
                served.outcome = Outcome.MODEL_ERROR
                text = response.body.decode("utf-8", errors="replace")
                await _model_error(send, endpoint, variant, response.status, text)
            return served
        await _error(
            send, 503, b"ServiceUnavailable",
            f"No replica of variant {variant} of endpoint {endpoint} is available right now.",
        )  # fmt: skip
        return _Served(Outcome.UNAVAILABLE, None, 0, 0.0)

    def _tell(
        self,
        served: _Served,
        endpoint: str,
        variant: str,
        headers: dict[bytes, bytes],
        body: bytes,
        arrived_at: float,
        started: float,
    ) -> None:
        """One record of this invocation to every observer."""
        total_us = int((time.perf_counter() - started) * 1e6)
        model_us = int((served.answered - served.sent) * 1e6) if served.answered else 0
        inference_id = headers.get(b"x-amzn-sagemaker-inference-id")
        accept = headers.get(b"accept")
        record = InvocationRecord(
            endpoint=endpoint,
            variant=variant,
            is_shadow=False,
            replica=served.replica,
            event_id=f"{self._id_prefix}{next(self._ids):012x}",
            inference_id=None if inference_id is None else inference_id.decode("latin-1"),
            arrived_at=arrived_at,
            outcome=served.outcome,
            model_status=served.status,
            model_latency_us=model_us,
            overhead_latency_us=max(total_us - model_us, 0),
            request_body=body,
            request_content_type=headers.get(b"content-type", b"application/json").decode(
                "latin-1"
            ),
            request_accept=None if accept is None else accept.decode("latin-1"),
            response_body=served.body,
            response_content_type=None
            if served.content_type is None
            else served.content_type.decode("latin-1"),
            capture=None,
        )
        for observer in self._observers:
            observer.observe(record)


class _Served:
    """How ``_forward`` ended, for the invocation's record."""

    __slots__ = ("answered", "body", "content_type", "outcome", "replica", "sent", "status")

    def __init__(
        self,
        outcome: Outcome,
        replica: str | None,
        status: int,
        sent: float,
        answered: float = 0.0,
        body: bytes = b"",
        content_type: bytes | None = None,
    ) -> None:
        self.outcome = outcome
        self.replica = replica
        self.status = status
        self.sent = sent
        self.answered = answered
        self.body = body
        self.content_type = content_type


def _declares_too_much(headers: dict[bytes, bytes]) -> bool:
    declared = headers.get(b"content-length")
    return declared is not None and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES


async def _answer(send: Send, variant: str, headers: dict[bytes, bytes], body: bytes) -> None:
    out = [
        (b"content-type", headers.get(b"content-type", b"application/octet-stream")),
        (b"x-amzn-invoked-production-variant", variant.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    attributes = headers.get(b"x-amzn-sagemaker-custom-attributes")
    if attributes is not None:
        out.append((b"x-amzn-sagemaker-custom-attributes", attributes))
    await send({"type": "http.response.start", "status": 200, "headers": out})
    await send({"type": "http.response.body", "body": body})


async def _model_error(send: Send, endpoint: str, variant: str, status: int, text: str) -> None:
    kind = "client" if 400 <= status < 500 else "server"
    document = {
        "ErrorCode": f"{kind.upper()}_ERROR_FROM_MODEL",
        "LogStreamArn": f"arn:aws:logs:::log-group:/aws/sagemaker/Endpoints/{endpoint}",
        "Message": (
            f'Received {kind} error ({status}) from primary with message "{text}". '
            f"See the replica logs of variant {variant} (kiln endpoints describe {endpoint})."
        ),
        "OriginalMessage": text,
        "OriginalStatusCode": status,
    }
    await _send_json(send, 424, _MODEL_ERROR_TYPE, document, variant)


async def _error(send: Send, status: int, kind: bytes, message: str) -> None:
    await _send_json(send, status, kind, {"message": message}, None)


async def _send_json(
    send: Send, status: int, kind: bytes, document: dict[str, Any], variant: str | None
) -> None:
    body = orjson.dumps(document)
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", kind),
        (b"content-length", str(len(body)).encode()),
    ]
    if variant is not None:
        headers.append((b"x-amzn-invoked-production-variant", variant.encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _timeout_message(timeout: float) -> str:
    return (
        "Your invocation timed out while waiting for a response from container primary "
        f"(after {timeout:.0f} s)."
    )
