"""Loaded by every compat client (it is first on their PYTHONPATH): records non-loopback traffic.

An audit hook (PEP 578) sees each name lookup and each connect. A target that is not loopback is
appended to the file named by ``KILN_COMPAT_NETLOG``; the test asserts that file stays empty. It
records and never blocks, so a client behaves exactly as it would unwatched.
"""

import ipaddress
import os
import sys

_LOG = os.environ.get("KILN_COMPAT_NETLOG")
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}
_EVENTS = {
    "socket.getaddrinfo",
    "socket.gethostbyname",
    "socket.gethostbyname_ex",
    "socket.gethostbyaddr",
    "socket.connect",
    "socket.sendto",
}


def _is_loopback(host):
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _target(event, args):
    if event == "socket.connect" or event == "socket.sendto":
        address = args[1] if event == "socket.connect" else args[2]
        if not isinstance(address, tuple):  # AF_UNIX and friends: a path, never the network
            return None
        return address[0], address
    return args[0], args[:2]


def _hook(event, args):
    if event not in _EVENTS:
        return
    host, shown = _target(event, args)
    if _is_loopback(host):
        return
    with open(_LOG, "a") as f:
        f.write(f"{os.getpid()} {event} {shown!r} argv={sys.argv[:2]!r}\n")


if _LOG:
    sys.addaudithook(_hook)
