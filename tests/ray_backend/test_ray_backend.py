"""RayBackend on a real two-node Ray cluster on loopback (``conftest.ray_lab``): placement over
nodes, output, exit, stop with grace, re-attach, a replica's TCP address, a lost node, and no
connection leaving 127.0.0.0/8 while the cluster lives (the last test of the file)."""

from __future__ import annotations

import ast
import json
import os
import socket
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from kiln.compute.base import LISTEN, ProcessHandle, ProcessSpec, Stream
from kiln.config import Settings
from kiln.errors import ResourceLimitError
from support.ray_cluster import RayLab, python_pids

if TYPE_CHECKING:
    from kiln.compute.ray.backend import RayBackend

pytestmark = pytest.mark.ray

HOME = Path("/kiln-home-of-the-server")


@pytest.fixture(scope="module")
def backend(ray_lab: RayLab) -> Iterator[RayBackend]:
    """The server's side: a RayBackend connected to the session's cluster."""
    from kiln.compute.ray.backend import RayBackend

    settings = _settings(ray_lab, ray_lab.cluster.address)
    made = RayBackend(settings)
    yield made
    made.close()


def _settings(lab: RayLab, address: str) -> Settings:
    return Settings.from_env(
        {
            "KILN_HOME": str(HOME),
            "KILN_BACKEND": "ray",
            "KILN_RAY_ADDRESS": address,
            "KILN_RAY_WORK_DIR": str(lab.cluster.root / "work"),
        }
    )


def _spec(name: str, code: str, *extra: str, **fields: object) -> ProcessSpec:
    workspace = HOME / "workspaces" / name
    options: dict[str, object] = {"vcpus": 1, "memory_mib": 64, **fields}
    return ProcessSpec(
        name=name,
        argv=[sys.executable, "-c", code, *extra],
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        workspace=workspace,
        cwd=workspace,
        **options,  # type: ignore[arg-type]
    )


def wait_until(condition: Callable[[], object], what: str, timeout: float) -> None:
    """Poll ``condition`` until it holds (this folder's conftest shadows the root one's)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(0.1)


def _first(handle: ProcessHandle, stream: Stream, text: bytes) -> bytes:
    return next(line for line in handle.lines(stream) if text in line)


def test_capacity_is_the_sum_of_the_live_nodes(backend: RayBackend) -> None:
    # head, w1 (2 CPUs each), doomed (3), 2 GiB each (ray_cluster.NODE_MEMORY_BYTES), no GPU.
    capacity = backend.capacity()
    assert (capacity.vcpus, capacity.memory_mib, capacity.gpus) == (7, 3 * 2048, 0)


def test_the_hosts_of_a_two_host_job_run_on_the_two_nodes_placed(backend: RayBackend) -> None:
    addresses = backend.place("two-hosts", 2, 1, 64, 0)
    code = "import os; print(os.environ['KILN_RAY_NODE_ID'], os.getcwd())"
    specs = [_spec(f"two-hosts-{i}", code, group="two-hosts", group_size=2) for i in (1, 2)]
    handles = [backend.start(spec) for spec in specs]
    try:
        outputs = [b"".join(h.lines(Stream.STDOUT)).decode().split() for h in handles]
        assert [h.wait(60) for h in handles] == [0, 0]
        assert len({node for node, _ in outputs}) == 2
        assert [h.host for h in handles] == addresses
        assert len(set(addresses)) == 2
        work = backend.container_path(specs[0].workspace)
        assert (
            outputs[0][1]
            == str(work)
            == str(specs[0].workspace).replace(str(HOME), str(Path(work).parents[1]))
        )
    finally:
        for handle in handles:
            handle.release()


def test_lines_of_both_streams_and_the_exit_code_come_back(backend: RayBackend) -> None:
    code = "import sys; print('out 1'); print('out 2'); print('err', file=sys.stderr); exit(3)"
    handle = backend.start(_spec("streams", code))
    try:
        assert list(handle.lines(Stream.STDOUT)) == [b"out 1\n", b"out 2\n"]
        assert list(handle.lines(Stream.STDERR)) == [b"err\n"]
        assert handle.wait(60) == 3
        assert handle.poll() == 3
        assert handle.lost_reason() is None
        assert handle.local_pid is None
    finally:
        handle.release()


def test_stop_sends_sigterm_and_returns_the_exit_code(backend: RayBackend) -> None:
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n    print('got SIGTERM', flush=True); sys.exit(7)\n"
        "signal.signal(signal.SIGTERM, bye)\nprint('ready', flush=True)\ntime.sleep(120)\n"
    )
    handle = backend.start(_spec("graceful", code))
    try:
        lines = handle.lines(Stream.STDOUT)
        assert next(lines) == b"ready\n"
        assert handle.poll() is None
        assert handle.stop(grace=30) == 7
        assert list(lines) == [b"got SIGTERM\n"]
    finally:
        handle.release()


def test_a_process_that_ignores_sigterm_is_killed_after_the_grace(backend: RayBackend) -> None:
    code = (
        "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready')\ntime.sleep(120)\n"
    )
    handle = backend.start(_spec("stubborn", code))
    try:
        assert next(handle.lines(Stream.STDOUT)) == b"ready\n"
        started = time.monotonic()
        assert handle.stop(grace=1) == -9
        assert time.monotonic() - started < 20
    finally:
        handle.release()


def test_another_backend_attaches_by_ref_until_the_process_is_released(
    backend: RayBackend, ray_lab: RayLab
) -> None:
    from kiln.compute.ray.backend import RayBackend

    handle = backend.start(_spec("attached", "import time; print('up'); time.sleep(120)"))
    other = RayBackend(_settings(ray_lab, ray_lab.cluster.address))
    try:
        assert next(handle.lines(Stream.STDOUT)) == b"up\n"
        found = other.attach(handle.ref)
        assert found is not None
        assert (found.host, found.poll()) == (handle.host, None)
        handle.release()
        wait_until(lambda: other.attach(handle.ref) is None, "the released actor gone", 30)
        assert other.attach('{"backend": "local", "pid": 1}') is None
    finally:
        handle.release()
        other.close()


def test_a_replica_serves_http_on_its_tcp_address(backend: RayBackend) -> None:
    code = (
        "import argparse, http.server\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--port', type=int)\np.add_argument('--host')\na = p.parse_args()\n"
        "http.server.ThreadingHTTPServer((a.host, a.port), http.server.SimpleHTTPRequestHandler)"
        ".serve_forever()\n"
    )
    spec = _spec("replica", code, LISTEN, socket_path=Path("/unused/replica.sock"))
    handle = backend.start(spec)
    try:
        assert handle.address == f"tcp://{handle.host}:{handle.address.rsplit(':', 1)[1]}"
        url = handle.address.replace("tcp://", "http://") + "/"
        wait_until(lambda: _answers(url), f"{url} answering", 60)
    finally:
        assert handle.stop(grace=5) is not None
        handle.release()


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def test_a_spec_no_node_can_hold_is_refused_at_once(backend: RayBackend) -> None:
    started = time.monotonic()
    with pytest.raises(ResourceLimitError, match="no node of the Ray cluster can hold 64 CPUs"):
        backend.start(_spec("too-big", "pass", vcpus=64))
    assert time.monotonic() - started < 5


def test_a_job_whose_hosts_cannot_all_fit_is_refused_at_once(backend: RayBackend) -> None:
    # 3 CPUs a host: only the 3-CPU node holds one.
    with pytest.raises(ResourceLimitError, match="cannot hold 2 hosts of 3 CPUs"):
        backend.place("too-wide", 2, 3, 64, 0)


def test_an_unreachable_ray_address_fails_fast(ray_lab: RayLab) -> None:
    from kiln.compute.ray.backend import RayBackend
    from kiln.compute.ray.connection import RayUnreachableError

    started = time.monotonic()
    with pytest.raises(RayUnreachableError, match=r"KILN_RAY_ADDRESS=127\.0\.0\.1:9: no Ray"):
        RayBackend(_settings(ray_lab, "127.0.0.1:9"))
    assert time.monotonic() - started < 10


def test_a_process_on_a_node_that_dies_is_lost_naming_the_node(
    backend: RayBackend, ray_lab: RayLab
) -> None:
    # The only node with 3 CPUs: the process can run nowhere else.
    doomed = ray_lab.cluster.node("doomed")
    handle = backend.start(_spec("on-doomed", "import time; print('up'); time.sleep(300)", vcpus=3))
    try:
        assert next(handle.lines(Stream.STDOUT)) == b"up\n"
        assert handle.host == doomed.ip
        doomed.kill()
        wait_until(lambda: handle.lost_reason() is not None, "the process lost", 60)
        assert handle.lost_reason() == f"node {doomed.ip} (Ray node {_node_id(handle)}) died"
        assert handle.poll() == -9
    finally:
        handle.release()


def _node_id(handle: ProcessHandle) -> str:
    return str(json.loads(handle.ref)["node_id"])


def test_no_connection_leaves_loopback_while_the_cluster_lives(ray_lab: RayLab) -> None:
    import ray

    # The recorder ran in every `ray start`, in every Python process of the cluster still
    # alive (agents, monitors, actors' workers), and in a task's worker started just now.
    task = ray.remote(lambda: os.getpid())
    pythons = python_pids(ray_lab.cluster.pids()) | {ray.get(task.remote())}
    guarded = {int(pid) for pid in ray_lab.guarded.read_text().split()}
    assert set(ray_lab.cluster.starters) - guarded == set()
    assert {pid for pid in pythons if Path(f"/proc/{pid}").exists()} - guarded == set()
    ray_lab.watch.stop()
    assert ray_lab.watch.found == []
    recorded = ray_lab.netlog.read_text() if ray_lab.netlog.exists() else ""
    assert [line for line in recorded.splitlines() if not _allowed(line)] == []


def _allowed(line: str) -> bool:
    """A lookup that stays on this machine: the wildcard address a server binds, or this
    machine's own name (``http.server`` asks for it: ``socket.getfqdn``)."""
    _, event, rest = line.split(" ", 2)
    target = ast.literal_eval(rest.split(" argv=")[0])[0]
    local = {"0.0.0.0", "::", socket.gethostname()}
    return event in ("socket.getaddrinfo", "socket.gethostbyaddr") and target in local
