"""The store front: an ASGI app that checks each S3 request and forwards it to rclone.

Per request: read the action (``actions.classify``), check the signature against the key store
(``signing.authenticate``), authorise the caller's policies for every action, then forward to
rclone on its private port, signed with the back key. Bodies stream both ways and are never held
whole; a body whose SHA-256 differs from the signed ``x-amz-content-sha256`` is cut off before
its last chunk reaches rclone (rclone then drops the upload: it writes to a temporary file and
renames only a complete body) and answered ``XAmzContentSHA256Mismatch``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from urllib.parse import parse_qsl, unquote

import httpx

from kiln.auth import sigv4
from kiln.auth.authorizer import Action, Authorizer
from kiln.auth.errors import AuthError
from kiln.auth.keystore import KeyStore
from kiln.runtime.asgi import ClientDisconnected, Receive, Scope, Send, read_body
from kiln.storefront.actions import (
    StoreRequest,
    UnsupportedRequest,
    classify,
    delete_actions,
    keys_to_delete,
)
from kiln.storefront.back import Back
from kiln.storefront.errors import error_body, refusal_body
from kiln.storefront.signing import Caller, authenticate, back_headers, forward_target

log = logging.getLogger(__name__)

# Headers that describe one hop, not the request (RFC 9110 §7.6.1), and those the front re-signs.
_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"upgrade",
                  b"proxy-connection", b"expect"})  # fmt: skip
_SIGNING = frozenset({b"host", b"authorization", b"x-amz-date", b"x-amz-content-sha256",
                      b"x-amz-security-token"})  # fmt: skip
_DELETE_BODY_LIMIT = 2 * 1024 * 1024  # 1,000 keys of up to 1,024 bytes, with their XML


class _HashMismatch(Exception):
    pass


class _ClientGone(Exception):
    pass


class StoreFront:
    """ASGI app: authenticate, authorise, forward; S3's XML errors for what it refuses."""

    def __init__(self, keys: KeyStore, authorizer: Authorizer, back: Back, region: str) -> None:
        self._keys = keys
        self._authorizer = authorizer
        self._back = back
        self._region = region
        self._client: httpx.AsyncClient | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif scope["type"] == "http":
            await self._handle(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self._client = httpx.AsyncClient(
                    base_url=self._back.url,
                    # rclone may take long to answer a big CompleteMultipartUpload: the client
                    # that called decides how long to wait, not the front.
                    timeout=httpx.Timeout(connect=10.0, read=None, write=None, pool=None),
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=64),
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self._client is not None:
                    await self._client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query = parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers: list[tuple[bytes, bytes]] = list(scope["headers"])
        path = unquote(raw_path.decode("latin-1"), encoding="utf-8", errors="replace")
        resource = path
        body: bytes | None = None
        try:
            signed = sigv4.HttpRequest(scope["method"], raw_path, scope.get("query_string", b""),
                                       headers)  # fmt: skip
            caller = authenticate(signed, self._keys, time.time())
            request = classify(scope["method"], path, query, _text_headers(headers))
            resource = request.resource
            if request.needs_keys_from_body:
                body = await _read_small(receive, _DELETE_BODY_LIMIT)
                _check_hash(caller, body)
                bucket = path.strip("/").partition("/")[0]
                actions = delete_actions(bucket, keys_to_delete(body))
                request = StoreRequest(request.operation, actions, resource)
            self._authorise(caller, request.actions)
        except AuthError as refused:
            await _answer(send, *refusal_body(refused, resource), scope["method"])
            return
        except UnsupportedRequest as refused:
            body_bytes = error_body(refused.code, refused.message, resource)
            await _answer(send, refused.status, body_bytes, scope["method"])
            return
        except _HashMismatch:
            await _answer(send, *_mismatch(resource), scope["method"])
            return
        except _ClientGone:
            return
        await self._forward(scope, receive, send, caller, query, headers, body, resource)

    def _authorise(self, caller: Caller, actions: Sequence[Action]) -> None:
        for action in actions:
            self._authorizer.check(caller.principal, action)

    async def _forward(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        caller: Caller,
        query: Sequence[tuple[str, str]],
        headers: list[tuple[bytes, bytes]],
        body: bytes | None,
        resource: str,
    ) -> None:
        assert self._client is not None  # set at lifespan startup, before any request
        method = scope["method"]
        path, encoded_query = forward_target(scope.get("raw_path") or b"/", query)
        host = f"127.0.0.1:{self._back.port}"
        kept = [(k, v) for k, v in headers if k.lower() not in _HOP | _SIGNING]
        outgoing = back_headers(method, path, encoded_query, kept, host, self._back.credentials,
                                self._region, time.time())  # fmt: skip
        content: bytes | AsyncIterator[bytes] | None = body
        if body is None and _has_body(headers):
            content = _streamed_body(receive, caller.body_sha256)
        url = path + (f"?{encoded_query}" if encoded_query else "")
        upstream = self._client.build_request(method, url, headers=outgoing, content=content)
        try:
            response = await self._client.send(upstream, stream=True)
        except _HashMismatch:
            await _answer(send, *_mismatch(resource), method)
            return
        except _ClientGone:
            return
        except httpx.TransportError as e:
            log.warning("S3 front: rclone did not answer %s %s: %r", method, path, e)
            message = "The embedded store is restarting; retry the request"
            unread = content is not body  # part of a streamed body may still be on the wire
            answer = error_body("ServiceUnavailable", message, resource)
            await _answer(send, 503, answer, method, close=unread)
            return
        try:
            await _relay(response, receive, send)
        finally:
            await response.aclose()


async def _relay(response: httpx.Response, receive: Receive, send: Send) -> None:
    """Stream rclone's answer to the client; stop reading it if the client leaves."""
    headers = [(k, v) for k, v in response.headers.raw if k.lower() not in _HOP]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    gone = asyncio.ensure_future(_disconnected(receive))
    try:
        async for chunk in response.aiter_raw():
            if gone.done():
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def _streamed_body(receive: Receive, sha256: str | None) -> AsyncIterator[bytes]:
    """The request body, chunk by chunk; the last chunk only once its hash is known to match."""
    digest = hashlib.sha256() if sha256 is not None else None
    held = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        if digest is not None:
            digest.update(chunk)
        if not message.get("more_body", False):
            if digest is not None and digest.hexdigest() != sha256:
                raise _HashMismatch
            if held or chunk:
                yield held + chunk
            return
        if chunk:
            if held:
                yield held
            held = chunk


async def _read_small(receive: Receive, limit: int) -> bytes:
    try:
        body = await read_body(receive, limit)
    except ClientDisconnected:
        raise _ClientGone from None
    if body is None:
        raise UnsupportedRequest(
            "MaxMessageLengthExceeded", 400, f"Your request was larger than {limit} bytes"
        )
    return body


def _check_hash(caller: Caller, body: bytes) -> None:
    if caller.body_sha256 is not None and hashlib.sha256(body).hexdigest() != caller.body_sha256:
        raise _HashMismatch


def _mismatch(resource: str) -> tuple[int, bytes]:
    message = "The provided 'x-amz-content-sha256' header does not match what was computed."
    return 400, error_body("XAmzContentSHA256Mismatch", message, resource)


def _has_body(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    for key, value in headers:
        name = key.lower()
        if name == b"content-length":
            return value.strip() != b"0"
        if name == b"transfer-encoding":
            return True
    return False


def _text_headers(headers: Sequence[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}


async def _answer(send: Send, status: int, body: bytes, method: str, close: bool = False) -> None:
    headers = [(b"content-type", b"application/xml")]
    if close:
        # The request's body was not all read: what is left of it would be parsed as the
        # connection's next request (a 400 to the client's retry), so the connection ends here.
        headers.append((b"connection", b"close"))
    if method != "HEAD":
        headers.append((b"content-length", str(len(body)).encode()))
    else:
        body = b""
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
