"""TCP ports: free ones for the processes Kiln starts (the embedded store, rclone, replicas on
nodes), picked where no outgoing connection can take them before the process binds; and a
configured port's bind, failing in words that name its setting."""

from __future__ import annotations

import random
import socket
from collections import deque
from pathlib import Path

# Ray's default worker ports end at 19999; Linux's ephemeral range starts at 32768.
FIRST_PICKABLE = 20000
_LINUX_FIRST_EPHEMERAL = 32768
_FEWEST_PICKABLE = 2000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
# SystemRandom: tests seed the module-level generator (hypothesis does), and two test
# workers drawing the same sequence would pick the same ports.
_chance = random.SystemRandom()
# A port handed out but not bound yet still probes free; never hand it out twice in a row.
_handed_out: deque[int] = deque(maxlen=1024)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` nothing is bound to now, outside the kernel's ephemeral range."""
    # The kernel gives ephemeral ports to outgoing connections, so any connect() between this
    # probe and the caller's bind could take one; a port below that range is taken only by a
    # bind. bind(("", 0)) itself answers from the ephemeral range, hence the own pick.
    low, high = pickable_ports(_EPHEMERAL_RANGE)
    for _ in range(64):
        port = _chance.randint(low, high)
        if port not in _handed_out and _binds(host, port):
            _handed_out.append(port)
            return port
    with socket.socket() as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def pickable_ports(ephemeral_range: Path) -> tuple[int, int]:
    """The ports ``free_port`` picks from: above Ray's worker ports, below the ephemeral ones
    that ``ephemeral_range`` (Linux's ``ip_local_port_range``) names."""
    try:
        first_ephemeral = int(ephemeral_range.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        first_ephemeral = _LINUX_FIRST_EPHEMERAL
    if first_ephemeral - FIRST_PICKABLE < _FEWEST_PICKABLE:
        return FIRST_PICKABLE, FIRST_PICKABLE + _FEWEST_PICKABLE
    return FIRST_PICKABLE, first_ephemeral - 1


def _binds(host: str, port: int) -> bool:
    try:
        with socket.socket() as probe:
            probe.bind((host, port))
    except OSError:
        return False
    return True


def bind_loopback(port: int, setting: str) -> socket.socket:
    """A socket bound to 127.0.0.1:``port``; RuntimeError naming ``setting`` if another process
    holds the port."""
    bound = socket.socket()
    # As uvicorn's and Go's listeners do: a port left in TIME_WAIT by our own last run is free.
    bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        bound.bind(("127.0.0.1", port))
    except OSError as e:
        bound.close()
        raise RuntimeError(
            f"127.0.0.1:{port} is in use by another process ({e.strerror}); stop it or "
            f"choose another port with {setting}"
        ) from None
    return bound


def check_port_free(port: int, setting: str) -> None:
    """RuntimeError naming ``setting`` if another process listens on 127.0.0.1:``port``."""
    bind_loopback(port, setting).close()
