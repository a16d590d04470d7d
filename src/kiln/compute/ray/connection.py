"""Connecting this server to a Ray cluster as its driver, or failing fast and clearly.

``ray.init`` towards an address where no cluster answers retries for minutes; a server must not
hang at start, so a plain TCP connect to the cluster's address comes first, bounded.
Authentication is Ray's own: with token auth on (``RAY_AUTH_MODE=token``), the server's
environment names the token as every Ray client's does (``RAY_AUTH_TOKEN_PATH`` or
``RAY_AUTH_TOKEN``).
"""

from __future__ import annotations

import logging
import socket
import threading

import ray

from kiln.compute.ray.plans import NAMESPACE

PROBE_SECONDS = 5.0


class RayUnreachableError(RuntimeError):
    """``KILN_RAY_ADDRESS`` names no Ray cluster this server can reach."""


# Ray's driver connection is per process; each RayBackend holds it, the last one closes it.
_users = 0
_address: str | None = None
_lock = threading.Lock()


def connect(address: str) -> None:
    """Join the cluster at ``host:port`` as a driver (once per process)."""
    global _users, _address
    probe(address)
    with _lock:
        if _users and address != _address:
            raise RayUnreachableError(
                f"KILN_RAY_ADDRESS={address}: this process is already a driver of the Ray "
                f"cluster at {_address} (Ray allows one per process)"
            )
        if _users == 0:
            _address = address
            ray.init(
                address=address,
                namespace=NAMESPACE,
                log_to_driver=False,
                logging_level=logging.WARNING,
            )
        _users += 1


def disconnect() -> None:
    """Leave the cluster when the last backend of this process closes."""
    global _users
    with _lock:
        _users -= 1
        if _users == 0:
            ray.shutdown()


def probe(address: str) -> None:
    """Raise ``RayUnreachableError`` unless something accepts connections at ``address``."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_SECONDS):
            return
    except OSError as error:
        raise RayUnreachableError(
            f"KILN_RAY_ADDRESS={address}: no Ray cluster answers there ({error}); start its "
            "head with `ray start --head` (docs/scale-out.md) or correct the address"
        ) from error
