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
per request. It parses the request and serialises the outcome; choosing the variant and replica,
retries, timing and telling observers are the data plane's
(:class:`~kiln.services.hosting.data_plane.DataPlane`).
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import orjson

from kiln.config import ACCOUNT_ID
from kiln.runtime.asgi import ClientDisconnected, Receive, Scope, Send, read_body
from kiln.services.hosting.data_plane import (
    Answered,
    DataPlane,
    Invocation,
    InvocationOutcome,
    ModelFailed,
)

MAX_PAYLOAD_BYTES = 6 * 1024 * 1024
_PREFIX = "/endpoints/"
_SUFFIX = "/invocations"
_MODEL_ERROR_TYPE = b"ModelError:http://internal.amazon.com/coral/com.amazon.sagemaker/"


class InvocationRouter:
    """The HTTP side of ``InvokeEndpoint``, in front of the data plane."""

    def __init__(self, plane: DataPlane) -> None:
        self._plane = plane

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
        arrived = time.perf_counter()
        endpoint = self.endpoint_of(scope)
        route = self._plane.route(endpoint)
        if scope["method"] != "POST":
            await _error(send, 405, b"ValidationError", "InvokeEndpoint takes POST")
            return
        if route is None:
            message = f"Endpoint {endpoint} of account {ACCOUNT_ID} not found."
            await _error(send, 400, b"ValidationError", message)
            return
        content_type = accept = attributes = inference_id = target = declared = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value
            elif name == b"accept":
                accept = value
            elif name == b"x-amzn-sagemaker-custom-attributes":
                attributes = value
            elif name == b"x-amzn-sagemaker-inference-id":
                inference_id = value
            elif name == b"x-amzn-sagemaker-target-variant":
                target = value
            elif name == b"content-length":
                declared = value
        try:
            body = (
                None
                if _declares_too_much(declared)
                else await read_body(receive, MAX_PAYLOAD_BYTES)
            )
        except ClientDisconnected:
            return
        if body is None:
            await _error(
                send, 413, b"ValidationError",
                f"Request payload is larger than the {MAX_PAYLOAD_BYTES} byte limit",
            )  # fmt: skip
            return
        invocation = Invocation(
            body,
            content_type,
            accept,
            attributes,
            inference_id,
            # Header bytes need not be UTF-8 (HTTP carries any latin-1 byte): an unknown variant.
            target.decode("utf-8", "replace") if target else None,
            arrived,
        )
        await self._plane.invoke(route, invocation, partial(_respond, send))


async def _respond(send: Send, outcome: InvocationOutcome) -> None:
    if isinstance(outcome, Answered):
        await _answer(send, outcome)
    elif isinstance(outcome, ModelFailed):
        await _model_error(send, outcome.endpoint, outcome.variant, outcome.status, outcome.message)
    else:
        await _error(send, outcome.status, outcome.kind, outcome.message)


def _declares_too_much(declared: bytes | None) -> bool:
    return declared is not None and declared.isdigit() and int(declared) > MAX_PAYLOAD_BYTES


async def _answer(send: Send, answer: Answered) -> None:
    out = [
        (b"content-type", answer.content_type),
        (b"x-amzn-invoked-production-variant", answer.variant.encode()),
        (b"content-length", str(len(answer.body)).encode()),
    ]
    if answer.custom_attributes is not None:
        out.append((b"x-amzn-sagemaker-custom-attributes", answer.custom_attributes))
    await send({"type": "http.response.start", "status": 200, "headers": out})
    await send({"type": "http.response.body", "body": answer.body})


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
