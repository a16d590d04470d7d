"""The one auth gate in front of every API Kiln serves.

An ASGI middleware: every HTTP request but ``/ping`` must carry an AWS SigV4 signature (header or
presigned query) or a bearer API key, or it is refused in its API's own error shape. The caller
becomes a ``Principal``, set in ``CALLER`` for the code below. Requests whose action the gate
can tell from the path (invocations, native ``/kiln/v1`` paths) are authorised here; AWS API
requests on ``POST /`` are authorised by their protocol layer once the operation and its
parameters are read (``Authorizer.operation``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import orjson
from starlette.responses import Response

from kiln.api.json_protocol import MAX_BODY_BYTES, json_error
from kiln.api.query_protocol import query_error
from kiln.auth import sigv4
from kiln.auth.actions import iam_prefix, operation_resources, passed_roles
from kiln.auth.errors import MISSING_TOKEN, AuthError, Refusal
from kiln.auth.keystore import KeyStore
from kiln.auth.policies import Decision, Policy, evaluate_all
from kiln.auth.principals import Principal
from kiln.runtime.asgi import Message, Receive, Scope, Send

CALLER: ContextVar[Principal | None] = ContextVar("kiln_caller", default=None)
# The largest body each protocol takes: invocations 6 MiB (SageMaker's), the control plane 2 MiB.
BODY_LIMITS = {"rest": 6 * 1024 * 1024}
CONTROL_BODY_LIMIT = MAX_BODY_BYTES
OPEN_PATHS = frozenset({"/ping"})


@dataclass(frozen=True)
class Action:
    """What a request asks: an IAM action on resources."""

    name: str
    resources: Sequence[str]


# Tells, from the path alone, which action a request is and how its errors look:
# (protocol, action or None when the protocol layer decides).
Classifier = Callable[[Scope], tuple[str, Action | None]]


class Authorizer:
    """Decides whether the current caller may perform an action."""

    def __init__(self, region: str) -> None:
        self._region = region

    def check(self, principal: Principal, action: Action) -> None:
        """``AccessDenied`` in AWS's words unless the principal's policies allow ``action``."""
        decision = _decide(principal.policies, action.name, tuple(action.resources))
        if decision is Decision.ALLOW:
            return
        resource = next((r for r in action.resources), "*")
        why = (
            "with an explicit deny in an identity-based policy"
            if decision is Decision.EXPLICIT_DENY
            else f"because no identity-based policy allows the {action.name} action"
        )
        raise AuthError(
            Refusal.DENIED,
            f"User: {principal.arn} is not authorized to perform: {action.name} "
            f"on resource: {resource} {why}",
        )

    def operation(self, service: str, operation: str, params: Any) -> None:
        """Authorise an AWS API operation for the caller the gate let in."""
        principal = CALLER.get()
        if principal is None:  # pragma: no cover - the gate sets it for every request
            raise AuthError(Refusal.MISSING, MISSING_TOKEN)
        resources = operation_resources(service, params, self._region)
        self.check(principal, Action(f"{iam_prefix(service)}:{operation}", resources))
        if isinstance(params, Mapping):
            for role in passed_roles(params):
                self.check(principal, Action("iam:PassRole", [role]))


class AuthGate:
    """ASGI middleware: authenticate, then pass the request on with its caller set."""

    def __init__(
        self,
        app: Callable[[Scope, Receive, Send], Awaitable[None]],
        keys: KeyStore,
        authorizer: Authorizer,
        classify: Classifier,
        *,
        anonymous: Principal | None = None,
    ) -> None:
        self._app = app
        self._keys = keys
        self._authorizer = authorizer
        self._classify = classify
        self._anonymous = anonymous  # set only when auth is off (loopback, --no-auth)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self._app(scope, receive, send)
            return
        protocol, action = self._classify(scope)
        limit = BODY_LIMITS.get(protocol, CONTROL_BODY_LIMIT)
        try:
            if _declared_length(scope) > limit:
                raise _TooLarge(limit)
            principal, receive = await self._authenticate(scope, receive, limit)
            if action is not None:
                self._authorizer.check(principal, action)
        except AuthError as refusal:
            answer = refusal_response(protocol, refusal.refusal.status,
                                      refusal.refusal.code(protocol), refusal.message)  # fmt: skip
            await answer(scope, receive, send)
            return
        except _TooLarge:
            message = f"Request body exceeds the {limit} byte limit"
            answer = refusal_response(protocol, 413, _too_large_code(protocol), message)
            await answer(scope, receive, send)
            return
        except _Disconnected:
            return
        token = CALLER.set(principal)
        try:
            await self._app(scope, receive, send)
        finally:
            CALLER.reset(token)

    async def _authenticate(
        self, scope: Scope, receive: Receive, limit: int
    ) -> tuple[Principal, Receive]:
        if self._anonymous is not None:
            return self._anonymous, receive
        now = time.time()
        authorization = _header(scope, b"authorization")
        if authorization is not None and authorization[:7].lower() == b"bearer ":
            return self._keys.bearer(authorization[7:].strip().decode("latin-1"), now), receive
        request = sigv4.HttpRequest(
            scope["method"], scope.get("raw_path") or scope["path"].encode(),
            scope.get("query_string", b""), scope["headers"],
        )  # fmt: skip
        claim = sigv4.read_claim(request)  # before reading the body: unsigned requests end here
        sigv4.check_time(claim, now)
        principal, secret = self._keys.signing_secret(
            claim.access_key_id, claim.security_token, now
        )
        request.body = body = await _read_body(receive, limit)
        if not sigv4.body_matches_declared_hash(request):
            raise AuthError(Refusal.BAD_SIGNATURE, "The provided 'x-amz-content-sha256' header "
                            "does not match what was computed.")  # fmt: skip
        sigv4.verify(claim, request, secret)
        return principal, _replay(body, receive)


@lru_cache(maxsize=8192)
def _decide(policies: tuple[Policy, ...], action: str, resources: tuple[str, ...]) -> Decision:
    """``evaluate_all``, remembered: the same caller asks the same thing on every invocation."""
    return evaluate_all(policies, action, resources)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        body += message.get("body", b"")
        if len(body) > limit:
            raise _TooLarge
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the already-read body on once, then waits as the server would."""
    delivered = False

    async def replay() -> Message:
        nonlocal delivered
        if delivered:
            return await receive()
        delivered = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _declared_length(scope: Scope) -> int:
    declared = _header(scope, b"content-length")
    return int(declared) if declared is not None and declared.isdigit() else 0


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value)
    return None


def _too_large_code(protocol: str) -> str:
    return "ValidationError" if protocol in ("rest", "query") else "ValidationException"


def refusal_response(protocol: str, status: int, code: str, message: str) -> Response:
    """An error in ``protocol``'s shape: JSON 1.1, REST-JSON (runtime) or query (XML)."""
    if protocol == "query":
        return query_error(status, code, message)
    if protocol == "rest":
        return Response(
            orjson.dumps({"message": message}), status_code=status,
            media_type="application/json", headers={"x-amzn-ErrorType": code},
        )  # fmt: skip
    return json_error(status, code, message)
