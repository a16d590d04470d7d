"""ASGI plumbing shared by the replica and the router: types and a bounded body reader."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Message = MutableMapping[str, Any]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ClientDisconnected(Exception):
    """The client went away before the request body was complete."""


async def read_body(receive: Receive, limit: int) -> bytes | None:
    """The request body, or None once it exceeds ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnected
        chunk = message.get("body", b"")
        # The common case, one message holding the whole body, skips the join.
        if not chunks and not message.get("more_body", False):
            return chunk if len(chunk) <= limit else None
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
