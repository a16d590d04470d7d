"""The one auth gate in front of every API Kiln serves.

An ASGI middleware: every HTTP request but ``/ping`` must carry an AWS SigV4 signature (header or
presigned query) or a bearer API key, or it is refused in its API's own error shape. The caller
becomes a ``Principal``, set in ``auth.authorizer.CALLER`` for the code below. Requests whose
action the gate can tell from the path (invocations, native ``/kiln/v1`` paths) are authorised
here; AWS API requests on ``POST /`` are authorised by their protocol layer once the operation
and its parameters are read (``Authorizer.operation``).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import orjson
from starlette.responses import Response

from kiln.api.json_protocol import MAX_BODY_BYTES, json_error
from kiln.api.query_protocol import query_error
from kiln.api.runtime import MAX_PAYLOAD_BYTES
from kiln.auth import sigv4
from kiln.auth.authorizer import CALLER, Action, Authorizer
from kiln.auth.errors import AuthError, Refusal
from kiln.auth.keystore import KeyStore
from kiln.auth.principals import Principal
from kiln.runtime.asgi import ClientDisconnected, Message, Receive, Scope, Send, read_body

OPEN_PATHS = frozenset({"/ping"})

# Tells, from the path alone, which action a request is and how its errors look:
# (protocol, action or None when the protocol layer decides).
Classifier = Callable[[Scope], tuple[str, Action | None]]


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
        # The largest body each API takes: invocations SageMaker's 6 MiB, the control plane 2 MiB.
        limit = MAX_PAYLOAD_BYTES if protocol == "rest" else MAX_BODY_BYTES
        try:
            if _declared_length(scope) > limit:
                raise _TooLarge
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
        except ClientDisconnected:
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
        body = await read_body(receive, limit)
        if body is None:
            raise _TooLarge
        request.body = body
        if not sigv4.body_matches_declared_hash(request):
            raise AuthError(Refusal.BAD_SIGNATURE, "The provided 'x-amz-content-sha256' header "
                            "does not match what was computed.")  # fmt: skip
        sigv4.verify(claim, request, secret)
        return principal, _replay(body, receive)


class _TooLarge(Exception):
    pass


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
