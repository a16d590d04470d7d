"""The replica transport port: how the data plane posts one request to a replica's address.

Addresses are opaque strings the replica launcher hands out (a Unix socket path today); only
the adapter (:mod:`kiln.transport.unix`) reads them, so TCP replicas need no change here.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Protocol


class ReplicaUnreachable(Exception):
    """No answer came back: the connection failed, or closed before the answer was complete
    (the replica died). Another replica takes the request."""


class ReplicaTimeout(Exception):
    """The replica did not answer in time."""


class ReplicaResponse:
    """A replica's answer."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: dict[bytes, bytes], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class ReplicaTransport(Protocol):
    """Posts requests to replicas.

    Raises :class:`ReplicaUnreachable` when nothing reached the replica, :class:`ReplicaTimeout`
    when it did not answer within ``timeout``, ``ConnectionError`` when it broke mid-answer.
    """

    async def post(
        self,
        address: str,
        path: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeout: float,
    ) -> ReplicaResponse:
        """POST ``body`` to ``path`` on the replica at ``address``."""
        ...

    def retain(self, addresses: Collection[str]) -> None:
        """Forget what is pooled for every address not in ``addresses`` (replicas now gone)."""

    def close(self) -> None:
        """Close every pooled connection."""
