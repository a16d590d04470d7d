"""The local backend behind the compute seam: handles, refs, output lines, replica sockets."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import wait_until
from kiln.compute.base import LISTEN, ProcessHandle, ProcessSpec, Stream
from kiln.compute.local import UNKNOWN_EXIT, LocalBackend, LocalRef
from kiln.compute.sockets import ping

# Answers one GET /ping on the socket it inherited (``--fd N``), then exits.
_PING_SERVER = """
import socket, sys
listener = socket.socket(fileno=int(sys.argv[sys.argv.index("--fd") + 1]))
listener.listen()
connection, _ = listener.accept()
connection.recv(1024)
connection.sendall(b"HTTP/1.1 200 OK\\r\\nContent-Length: 0\\r\\n\\r\\n")
connection.close()
"""


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    made = LocalBackend(private=[tmp_path / "private"], sandbox="off", scope=uuid.uuid4().hex)
    yield made
    made.close()


def _finish(handle: ProcessHandle) -> None:
    """Read what is left of its output (closing the pipes), then release it."""
    for stream in Stream:
        list(handle.lines(stream))
    handle.release()


def _spec(workspace: Path, *argv: str, socket_path: Path | None = None) -> ProcessSpec:
    workspace.mkdir(parents=True, exist_ok=True)
    return ProcessSpec(
        name=f"test-{uuid.uuid4().hex[:8]}",
        argv=argv,
        env={"PATH": "/usr/bin:/bin"},
        workspace=workspace,
        cwd=workspace,
        vcpus=1,
        memory_mib=512,
        socket_path=socket_path,
    )


def test_a_process_gives_its_lines_per_stream_and_its_exit_code(
    backend: LocalBackend, tmp_path: Path
) -> None:
    script = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    handle = backend.start(_spec(tmp_path / "w", sys.executable, "-c", script))
    assert list(handle.lines(Stream.STDOUT)) == [b"out\n"]
    assert list(handle.lines(Stream.STDERR)) == [b"err\n"]
    assert handle.wait(30) == 3
    assert handle.lost_reason() is None
    handle.release()


def test_attach_finds_a_running_process_by_its_ref_and_stops_it(
    backend: LocalBackend, tmp_path: Path
) -> None:
    handle = backend.start(_spec(tmp_path / "w", "sleep", "60"))
    attached = backend.attach(handle.ref)
    assert attached is not None
    assert attached.poll() is None
    assert attached.local_pid == handle.local_pid
    attached.stop(grace=5)
    assert handle.wait(10) != 0
    assert attached.poll() == UNKNOWN_EXIT
    _finish(handle)


def test_attach_finds_nothing_once_the_process_is_gone(
    backend: LocalBackend, tmp_path: Path
) -> None:
    handle = backend.start(_spec(tmp_path / "w", "true"))
    handle.wait(30)
    _finish(handle)
    assert backend.attach(handle.ref) is None


def test_attach_refuses_another_backends_or_a_malformed_ref(backend: LocalBackend) -> None:
    assert backend.attach(json.dumps({"backend": "ray", "actor": "a"})) is None
    assert backend.attach("not json") is None


def test_a_replica_listens_on_the_socket_the_backend_bound_for_it(
    backend: LocalBackend, tmp_path: Path
) -> None:
    socket_path = tmp_path / "sockets" / "r.sock"
    spec = _spec(
        tmp_path / "w", sys.executable, "-c", _PING_SERVER, LISTEN, socket_path=socket_path
    )
    handle = backend.start(spec)
    assert handle.address == str(socket_path)
    wait_until(lambda: ping(str(socket_path), timeout=1), "the replica answers its ping", 30)
    assert handle.wait(30) == 0
    _finish(handle)


def test_a_pid_file_names_the_same_process_as_a_ref() -> None:
    pid_file = json.dumps({"pid": 12, "started": 34, "marker": "/w"})
    assert LocalRef.load(pid_file) == LocalRef(12, 34, "/w")
    assert LocalRef.load(LocalRef(12, 34, "/w", "/s.sock").dump()) == LocalRef(
        12, 34, "/w", "/s.sock"
    )
