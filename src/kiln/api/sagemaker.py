"""SageMaker's control plane over JSON 1.1 (CONTRACTS.md §3.1).

    POST /   X-Amz-Target: SageMaker.<Operation>
             Content-Type: application/x-amz-json-1.1
             body: the operation's input shape as JSON (timestamps as epoch seconds)
    200      the output shape as JSON, ``{}`` for operations without one
    4xx/5xx  {"__type": "<Code>", "message": "<text>"}

Each request is checked against botocore's model of the operation, then handed to the service
method registered for it. The services are plain synchronous Python, run off the event loop.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from kiln.api.errors import error_body, error_code
from kiln.api.validation import operation_model, validate
from kiln.errors import KilnError

log = logging.getLogger(__name__)

Operation = Callable[[Mapping[str, Any]], dict[str, Any]]

MAX_BODY_BYTES = 2 * 1024 * 1024
_TARGET_PREFIX = "SageMaker."


class SageMakerApi:
    """The ASGI endpoint that dispatches ``X-Amz-Target`` to service operations."""

    def __init__(self, operations: Mapping[str, Operation], service: str = "sagemaker") -> None:
        self._operations = dict(operations)
        self._service = service

    async def handle(self, request: Request) -> Response:
        """Answer one control-plane request."""
        target = request.headers.get("x-amz-target", "")
        name = target[len(_TARGET_PREFIX) :] if target.startswith(_TARGET_PREFIX) else ""
        operation = self._operations.get(name)
        model = operation_model(self._service, name) if name else None
        if operation is None or model is None:
            what = f"operation {target!r}" if target else "a request without X-Amz-Target"
            return _error(400, "UnknownOperationException", f"Kiln does not implement {what}")
        try:
            params = await _read_json(request)
            validate(model, params)
            answer = await run_in_threadpool(operation, params)
        except _BadRequest as e:
            return _error(e.status, e.code, str(e))
        except KilnError as e:
            return _error(400, error_code(e), e.message)
        except Exception:
            log.exception("SageMaker.%s failed", name)
            return _error(
                500,
                "InternalFailure",
                "The request processing has failed because of an unknown error.",
            )
        return _json(200, answer)


class _BadRequest(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


async def _read_json(request: Request) -> dict[str, Any]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _BadRequest(413, "ValidationException", _too_large())
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise _BadRequest(413, "ValidationException", _too_large())
    except ClientDisconnect:
        raise _BadRequest(400, "SerializationException", "The client closed the request") from None
    if not body:
        return {}
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise _BadRequest(
            400, "SerializationException", f"Request body is not valid JSON: {e}"
        ) from None
    if not isinstance(params, dict):
        raise _BadRequest(400, "SerializationException", "Request body must be a JSON object")
    return params


def _too_large() -> str:
    return f"Request body exceeds the {MAX_BODY_BYTES} byte limit of the control plane"


def _json(status: int, document: Mapping[str, Any]) -> Response:
    return Response(
        orjson.dumps(document),
        status_code=status,
        media_type="application/x-amz-json-1.1",
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def _error(status: int, code: str, message: str) -> Response:
    return _json(status, error_body(code, message))
