"""Connections that cannot be held open forever: deadlines for a request's headers and body.

uvicorn times out idle keep-alive connections between requests, but not a client that connects
and sends nothing, or half its headers, or half its body: thousands of such half-open connections
would each hold a socket and a parser for ever. This protocol (httptools, as uvicorn's own)
closes a connection whose request headers have not arrived within ``HEADER_SECONDS`` of the
connection or of the request's first byte, or whose body has not arrived within
``BODY_SECONDS`` of its headers (6 MiB at a slow 100 KB/s takes a minute).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_SECONDS = 10.0
BODY_SECONDS = 120.0


class DeadlineHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header and body deadlines."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # One timer per connection, re-armed only when it fires early: moving the deadline per
        # request is a float store, not a timer scheduled and cancelled twice per request.
        self._deadline: asyncio.TimerHandle | None = None
        self._expires_at: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(HEADER_SECONDS)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(HEADER_SECONDS)

    def on_headers_complete(self) -> None:
        self._arm(BODY_SECONDS)
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._expires_at = None
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._expires_at = None
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        now = self.loop.time()
        self._expires_at = now + seconds
        if self._deadline is None:
            self._schedule(now, self._expires_at)

    def _schedule(self, now: float, expires_at: float) -> None:
        # Never later than HEADER_SECONDS away, the shortest deadline: a deadline armed while
        # this timer is pending is then checked no later than it falls due.
        self._deadline = self.loop.call_at(min(expires_at, now + HEADER_SECONDS), self._check)

    def _check(self) -> None:
        self._deadline = None
        expires_at = self._expires_at
        if expires_at is None:
            return  # between requests: uvicorn's keep-alive timeout governs
        now = self.loop.time()
        if now < expires_at:
            self._schedule(now, expires_at)
            return
        self._expires_at = None
        if not self.transport.is_closing():
            self.transport.close()
