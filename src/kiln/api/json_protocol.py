"""AWS's JSON protocols (1.1 and 1.0), one implementation for every service Kiln serves over them.

    POST /   X-Amz-Target: <targetPrefix>.<Operation>   (SageMaker., Logs_20140328.,
                                                         GraniteServiceVersion20100801., …)
             Content-Type: application/x-amz-json-<jsonVersion>   (1.1; CloudWatch's 1.0)
             body: the operation's input shape as JSON (timestamps as epoch seconds)
    200      the output shape as JSON, ``{}`` for operations without one
    4xx/5xx  {"__type": "<Code>", "message": "<text>"}; a service that moved from the query
             protocol (``awsQueryCompatible``: CloudWatch) also sends
             ``x-amzn-query-error: <query code>;Sender``, the code its clients know

Each request is checked against botocore's model of the operation, then handed to the service
method registered for it; the services are plain synchronous Python, run off the event loop.
With ``check_responses`` (tests), every answer is also checked against the output shape and a
violation is a 500: an operation cannot ship an answer botocore's model calls incomplete.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from kiln.api.errors import error_body
from kiln.api.validation import check_output, operation_model, validate
from kiln.auth.errors import AuthError
from kiln.errors import KilnError, unavailable_error
from kiln.shapes.aws import service_model

log = logging.getLogger(__name__)

Operation = Callable[[Mapping[str, Any]], dict[str, Any]]
# Raises ``AuthError`` unless the caller may run (service, operation) with these parameters.
Authorize = Callable[[str, str, Mapping[str, Any]], None]
ErrorCodes = Sequence[tuple[type[KilnError], str]]

MAX_BODY_BYTES = 2 * 1024 * 1024


class JsonApi:
    """One AWS service over JSON 1.1: dispatches ``X-Amz-Target`` to its operations."""

    def __init__(
        self,
        service: str,
        operations: Mapping[str, Operation],
        error_codes: ErrorCodes,
        *,
        default_code: str = "ValidationException",
        check_responses: bool = False,
        authorize: Authorize | None = None,
    ) -> None:
        self.service = service
        metadata = service_model(service).metadata
        self.target_prefix = str(metadata["targetPrefix"]) + "."
        self._media_type = f"application/x-amz-json-{metadata.get('jsonVersion', '1.1')}"
        self._query_types = _query_error_types(service) if "awsQueryCompatible" in metadata else {}
        self.operations = dict(operations)
        self._error_codes = list(error_codes)
        self._default_code = default_code
        self._check_responses = check_responses
        self.authorize = authorize  # set by AwsApis for every API it serves

    def serves(self, target: str) -> bool:
        """Whether ``target`` (an ``X-Amz-Target`` value) names this service."""
        return target.startswith(self.target_prefix)

    async def handle(self, request: Request) -> Response:
        """Answer one request."""
        target = request.headers.get("x-amz-target", "")
        name = target[len(self.target_prefix) :] if self.serves(target) else ""
        operation = self.operations.get(name)
        model = operation_model(self.service, name) if name else None
        if operation is None or model is None:
            return unknown_operation(target)
        try:
            params = await _read_json(request)
            if self.authorize is not None:
                self.authorize(self.service, name, params)
            validate(model, params)
            answer = await run_in_threadpool(operation, params)
        except BadRequest as e:
            return self._error(e.status, e.code, str(e))
        except AuthError as e:
            return self._error(e.refusal.status, e.refusal.code("json"), e.message)
        except Exception as e:
            return self._failure(name, e)
        if self._check_responses:
            problems = check_output(model, answer)
            if problems:
                log.error("%s%s answered outside its shape: %s", self.target_prefix, name, problems)
                return self._error(500, "InternalFailure", f"{name} answer: " + "; ".join(problems))
        return json_response(200, answer, self._media_type)

    def _error(self, status: int, code: str, message: str) -> Response:
        """An error in this service's JSON dialect (with the query code where it has one)."""
        if not self._query_types:
            return json_response(status, error_body(code, message), self._media_type)
        kind = "Sender" if status < 500 else "Receiver"
        response = json_response(
            status, error_body(self._query_types.get(code, code), message), self._media_type
        )
        response.headers["x-amzn-query-error"] = f"{code};{kind}"
        return response

    def _failure(self, name: str, error: Exception) -> Response:
        """The answer to an operation that raised ``error``."""
        unavailable = unavailable_error(error)
        if unavailable is not None:
            # 503: botocore retries it, and the server goes on serving what it can.
            return self._error(503, "ServiceUnavailable", unavailable.message)
        if isinstance(error, KilnError):
            return self._error(400, self.error_code(error), error.message)
        log.exception("%s%s failed", self.target_prefix, name, exc_info=error)
        return self._error(
            500, "InternalFailure", "The request processing has failed because of an unknown error."
        )

    def error_code(self, error: KilnError) -> str:
        """This service's error code for ``error``."""
        for kind, code in self._error_codes:
            if isinstance(error, kind):
                return code
        return self._default_code


class BadRequest(Exception):
    """A request refused before it reaches a service: status, code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


async def _read_json(request: Request) -> dict[str, Any]:
    body = await read_limited(request)
    if not body:
        return {}
    try:
        params = orjson.loads(body)
    except orjson.JSONDecodeError as e:
        raise BadRequest(
            400, "SerializationException", f"Request body is not valid JSON: {e}"
        ) from None
    if not isinstance(params, dict):
        raise BadRequest(400, "SerializationException", "Request body must be a JSON object")
    return params


async def read_limited(request: Request) -> bytes:
    """The request's body, refused past ``MAX_BODY_BYTES`` (413) or when the client left."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BadRequest(413, "ValidationException", _too_large())
    body = bytearray()
    try:
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY_BYTES:
                raise BadRequest(413, "ValidationException", _too_large())
    except ClientDisconnect:
        raise BadRequest(400, "SerializationException", "The client closed the request") from None
    return bytes(body)


def _too_large() -> str:
    return f"Request body exceeds the {MAX_BODY_BYTES} byte limit of the control plane"


def _query_error_types(service: str) -> dict[str, str]:
    """Query error code → the error shape's name (``InvalidParameterValue`` →
    ``InvalidParameterValueException``), from the service's model."""
    model = service_model(service)
    return {
        str(shape.metadata.get("error", {}).get("code", shape.name)): shape.name
        for shape in model.error_shapes
    }


def json_response(
    status: int, document: Mapping[str, Any], media_type: str = "application/x-amz-json-1.1"
) -> Response:
    """A JSON response with a request id."""
    return Response(
        orjson.dumps(document),
        status_code=status,
        media_type=media_type,
        headers={"x-amzn-RequestId": str(uuid.uuid4())},
    )


def json_error(status: int, code: str, message: str) -> Response:
    """A JSON 1.1 error response."""
    return json_response(status, error_body(code, message))


def unknown_operation(target: str) -> Response:
    """The answer to a target no service of Kiln's implements."""
    what = f"operation {target!r}" if target else "a request without X-Amz-Target"
    return json_error(400, "UnknownOperationException", f"Kiln does not implement {what}")


NativeHandler = Callable[[Request], Awaitable[Response]]
ErrorStatuses = Sequence[tuple[type[KilnError], int, str]]


def native_answers(handler: NativeHandler, statuses: ErrorStatuses = ()) -> NativeHandler:
    """A native (``/kiln/v1/…``) route whose errors answer in AWS's JSON shape, never a traceback.

    ``statuses`` maps Kiln's errors to a status and code (first match wins; other Kiln errors are
    400 ``ValidationException``); "not now" errors (a full disk) are 503 ``ServiceUnavailable``.
    """

    async def handle(request: Request) -> Response:
        try:
            return await handler(request)
        except BadRequest as e:
            return JSONResponse(error_body(e.code, str(e)), e.status)
        except Exception as e:
            unavailable = unavailable_error(e)
            if unavailable is not None:
                return JSONResponse(error_body("ServiceUnavailable", unavailable.message), 503)
            if not isinstance(e, KilnError):
                raise
            status, code = next(
                ((s, c) for kind, s, c in statuses if isinstance(e, kind)),
                (400, "ValidationException"),
            )
            return JSONResponse(error_body(code, e.message), status)

    return handle
