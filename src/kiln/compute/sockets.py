"""Replica sockets: the Unix sockets the server binds for replicas, replica addresses (a socket
path or ``tcp://host:port``), and the health ping to either."""

from __future__ import annotations

import socket
from pathlib import Path


def bound_unix_socket(path: Path) -> socket.socket:
    """A Unix socket bound at ``path`` (not listening), in a folder only the server can reach.

    The server binds it and the replica inherits it (``--fd``): the replica never sees the
    path, so it cannot swap it for a link to another socket on the host, which the router
    would then send invocations to.
    """
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
    except OSError:
        listener.close()
        raise
    return listener


TCP_SCHEME = "tcp://"


def tcp_endpoint(address: str) -> tuple[str, int] | None:
    """``(host, port)`` of a ``tcp://host:port`` address; None for a Unix socket's path."""
    if not address.startswith(TCP_SCHEME):
        return None
    host, _, port = address[len(TCP_SCHEME) :].rpartition(":")
    return host.strip("[]"), int(port)


def socket_file(address: str) -> Path | None:
    """The Unix socket's file an address names; None for a TCP address."""
    return None if address.startswith(TCP_SCHEME) else Path(address)


def ping(address: str, timeout: float) -> bool:
    """``GET /ping`` to a replica's address (a socket path or ``tcp://``): whether it said 200."""
    endpoint = tcp_endpoint(address)
    try:
        if endpoint is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        else:
            sock = socket.socket(socket.AF_INET6 if ":" in endpoint[0] else socket.AF_INET)
        with sock:
            sock.settimeout(timeout)
            sock.connect(address if endpoint is None else endpoint)
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: replica\r\nConnection: close\r\n\r\n")
            head = sock.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.1 200")
