"""The Unix sockets the server binds for replicas, and the health ping over them."""

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


def ping_unix(path: str, timeout: float) -> bool:
    """``GET /ping`` over a Unix socket: whether it answered 200."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /ping HTTP/1.1\r\nHost: replica\r\nConnection: close\r\n\r\n")
            head = sock.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.1 200")
