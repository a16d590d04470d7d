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
        self._deadline: asyncio.TimerHandle | None = None

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
        self._disarm()
        super().on_message_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()
