"""The replica transport over Unix sockets (and TCP): a minimal pooled keep-alive HTTP/1.1 client.

The adapter of :class:`~kiln.services.hosting.transport.ReplicaTransport`; a replica's address is
its socket's path, or ``tcp://host:port`` for one on a cluster's node (``kiln.compute.ray``):
the same pooling either way.

On the invocation path a generic HTTP client costs more than the model (DESIGN.md), so this is
an asyncio protocol with httptools' parser: one request in flight per connection, connections
reused while the replica keeps them alive.

At most ``MAX_IN_FLIGHT`` requests go to one replica at a time; the rest wait here, first come
first served. As many as a replica batches at once (its ``KILN_MAX_BATCH_SIZE`` rows; the
benchmark's 64 concurrent clients): requests held back here cannot join a batch. Connections
stay pooled, so a replica sees a burst of new connections only when the load first rises (a
busy uvicorn accepts about one connection per loop turn; one turn is one batch).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Collection
from typing import cast

import httptools

from kiln.compute.sockets import tcp_endpoint
from kiln.services.hosting.transport import ReplicaResponse, ReplicaTimeout, ReplicaUnreachable

MAX_IN_FLIGHT = 64
# The replica drops keep-alive connections idle for 75 s; retire ours well before.
_IDLE_SECONDS = 60.0


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._transport: asyncio.Transport | None = None
        self._future: asyncio.Future[ReplicaResponse] | None = None
        self._headers: dict[bytes, bytes] = {}
        self._body: list[bytes] = []
        self._received_any = False
        self.is_reusable = True
        self.last_used = time.monotonic()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._received_any = True
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as e:
            self._fail(ReplicaUnreachable(f"malformed response from replica: {e}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.is_reusable = False
        if self._future is not None and not self._future.done():
            # Half an answer is none: the replica died (kill -9, killed as hung) between its
            # headers and its body, as it may while computing; either way another replica
            # answers the request instead.
            what = "mid-response" if self._received_any else "the connection"
            self._future.set_exception(ReplicaUnreachable(f"replica closed {what}"))

    # httptools callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.lower()] = value

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        if not self._parser.should_keep_alive():
            self.is_reusable = False
        future = self._future
        if future is not None and not future.done():
            future.set_result(
                ReplicaResponse(self._parser.get_status_code(), self._headers, b"".join(self._body))
            )

    # use

    def send(self, request: bytes) -> asyncio.Future[ReplicaResponse]:
        """Write one request; the future resolves with its response."""
        if self._transport is None:
            raise ReplicaUnreachable("connection not established")
        self._headers, self._body, self._received_any = {}, [], False
        self._future = asyncio.get_running_loop().create_future()
        self._transport.write(request)
        return self._future

    def _fail(self, error: Exception) -> None:
        self.is_reusable = False
        if self._future is not None and not self._future.done():
            self._future.set_exception(error)
        self.close()

    def close(self) -> None:
        """Close the connection."""
        self.is_reusable = False
        if self._transport is not None:
            self._transport.close()


class UnixReplicaTransport:
    """Keep-alive connection pools, one per replica socket."""

    def __init__(self) -> None:
        self._idle: defaultdict[str, list[_Connection]] = defaultdict(list)
        self._slots: dict[str, asyncio.Semaphore] = {}

    async def post(
        self,
        address: str,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout: float,
    ) -> ReplicaResponse:
        """POST ``body`` to ``path`` on the replica listening on the socket ``address``."""
        socket_path = address
        slots = self._slots.get(socket_path)
        if slots is None:
            slots = self._slots[socket_path] = asyncio.Semaphore(MAX_IN_FLIGHT)
        async with slots:
            connection = await self._acquire(socket_path)
            future = connection.send(_request(path, headers, body))
            timer = asyncio.get_running_loop().call_later(timeout, _expire, future, connection)
            try:
                response = await future
            except BaseException:
                connection.close()
                raise
            finally:
                timer.cancel()
            if connection.is_reusable and socket_path in self._slots:  # not forgotten meanwhile
                connection.last_used = time.monotonic()
                self._idle[socket_path].append(connection)
            else:
                connection.close()
            return response

    async def _acquire(self, socket_path: str) -> _Connection:
        idle = self._idle[socket_path]
        while idle:
            connection = idle.pop()
            if connection.is_reusable and time.monotonic() - connection.last_used < _IDLE_SECONDS:
                return connection
            connection.close()
        loop = asyncio.get_running_loop()
        endpoint = tcp_endpoint(socket_path)
        try:
            if endpoint is None:
                _transport, connection = await loop.create_unix_connection(_Connection, socket_path)
            else:
                _transport, connection = await loop.create_connection(_Connection, *endpoint)
        except OSError as e:
            raise ReplicaUnreachable(f"cannot connect to replica: {e}") from e
        return connection

    def retain(self, addresses: Collection[str]) -> None:
        """Close and forget the pools of every socket not in ``addresses`` (replicas gone):
        socket paths are unique per replica, so these pools would never be used again."""
        for gone in [path for path in self._slots if path not in addresses]:
            del self._slots[gone]
            for connection in self._idle.pop(gone, []):
                connection.close()

    def close(self) -> None:
        """Close every pooled connection."""
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


def _request(path: bytes, headers: list[tuple[bytes, bytes]], body: bytes) -> bytes:
    head = [b"POST ", path, b" HTTP/1.1\r\nHost: replica\r\nContent-Length: "]
    head.append(str(len(body)).encode())
    for name, value in headers:
        head += [b"\r\n", name, b": ", value]
    head += [b"\r\n\r\n", body]
    return b"".join(head)  # one copy of the body, not two


def _expire(future: asyncio.Future[ReplicaResponse], connection: _Connection) -> None:
    if not future.done():
        future.set_exception(ReplicaTimeout())
    connection.close()
