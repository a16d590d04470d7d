"""Half-open connections are closed: no header, half a header, half a body."""

from __future__ import annotations

import socket
import time

import pytest

from conftest import Kiln
from kiln.api import connections


@pytest.fixture(autouse=True)
def short_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connections, "HEADER_SECONDS", 0.5)
    monkeypatch.setattr(connections, "BODY_SECONDS", 1.0)


def _connect(kiln: Kiln, first_bytes: bytes) -> socket.socket:
    host, port = kiln.endpoint.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    if first_bytes:
        sock.sendall(first_bytes)
    return sock


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    started = time.monotonic()
    try:
        while sock.recv(4096):
            pass  # an answer (e.g. a 4xx) may come first; the connection must still end
    except TimeoutError:
        return False
    finally:
        sock.close()
    return time.monotonic() - started < seconds


def test_a_connection_that_sends_nothing_is_closed(kiln: Kiln) -> None:
    assert _closed_within(_connect(kiln, b""), 5)


def test_a_connection_with_half_its_headers_is_closed(kiln: Kiln) -> None:
    assert _closed_within(_connect(kiln, b"POST / HTTP/1.1\r\nHost: x\r\n"), 5)


def test_a_connection_with_half_its_body_is_closed(kiln: Kiln) -> None:
    head = b"POST /endpoints/e/invocations HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n"
    assert _closed_within(_connect(kiln, head + b"{"), 6)


def test_a_keep_alive_connection_serves_requests_after_the_header_deadline(kiln: Kiln) -> None:
    sock = _connect(kiln, b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    time.sleep(0.8)  # longer than the header deadline, shorter than uvicorn's keep-alive (5 s)
    sock.sendall(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    sock.close()
