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
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import (
    Kiln,
    deploy,
    make_settings,
    model_files,
    script_job,
    sklearn_model_files,
    start_kiln,
    upload_model,
    upload_source,
    wait_for_log,
    wait_until,
)
from kiln.compute.base import LISTEN, ProcessHandle, ProcessSpec, Stream
from kiln.config import Settings
from kiln.errors import ResourceLimitError
from support.ray_cluster import RayLab, python_pids

if TYPE_CHECKING:
    from kiln.compute.ray.backend import RayBackend

pytestmark = pytest.mark.ray

HOME = Path("/kiln-home-of-the-server")
SERVER = "the-server"


@pytest.fixture(scope="module")
def backend(ray_lab: RayLab) -> Iterator[RayBackend]:
    """The server's side: a RayBackend connected to the session's cluster."""
    from kiln.compute.ray.backend import RayBackend

    settings = _settings(ray_lab, ray_lab.cluster.address)
    made = RayBackend(settings, SERVER)
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


def _first(handle: ProcessHandle, stream: Stream, text: bytes) -> bytes:
    return next(line for line in handle.lines(stream) if text in line)


def test_capacity_is_the_sum_of_the_live_nodes(backend: RayBackend) -> None:
    # head, w1, spare (2 CPUs each), doomed (3), 2 GiB each (ray_cluster.NODE_MEMORY_BYTES).
    capacity = backend.capacity()
    assert (capacity.vcpus, capacity.memory_mib, capacity.gpus) == (9, 4 * 2048, 0)


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
    other = RayBackend(_settings(ray_lab, ray_lab.cluster.address), "another-server")
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


def test_what_a_gone_server_left_is_stopped_and_nothing_of_anyone_else(
    backend: RayBackend, ray_lab: RayLab
) -> None:
    import ray
    from ray.util.placement_group import placement_group_table

    from kiln.compute.ray.backend import RayBackend

    gone = RayBackend(_settings(ray_lab, ray_lab.cluster.address), "gone-server")
    sleeper = "import os, time; print(os.getpid(), flush=True); time.sleep(120)"
    gone.place("left-job", 1, 1, 64, 0)
    left = gone.start(_spec("left-job-algo-1", sleeper, group="left-job", group_size=1))
    mine = backend.start(_spec("mine", sleeper))
    try:
        left_pid = int(next(left.lines(Stream.STDOUT)))
        next(mine.lines(Stream.STDOUT))
        assert ray.get_actor("kiln/gone-server/left-job-algo-1", namespace="kiln") is not None
        assert backend.stop_left_by(frozenset({"gone-server", "never-seen"})) == 1
        wait_until(lambda: not Path(f"/proc/{left_pid}").exists(), "the left process ended", 30)
        assert backend.attach(left.ref) is None
        groups = placement_group_table().values()
        assert all(g["state"] == "REMOVED" for g in groups if g["name"].startswith("kiln/gone-"))
        assert mine.poll() is None  # this server's own process runs on
    finally:
        left.release()
        mine.release()
        gone.close()


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
        RayBackend(_settings(ray_lab, "127.0.0.1:9"), SERVER)
    assert time.monotonic() - started < 10


# -- Kiln on Ray: a real server with KILN_BACKEND=ray, jobs and endpoints through boto3 ---------

# Hosts named in resourceconfig.json all-reduce one number each over a socket, through the
# first host's real address (MASTER_ADDR, MASTER_PORT): what torch.distributed's gloo does.
ALL_REDUCE = """
import json, os, socket, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
config = json.load(open(os.path.join(os.environ["SM_INPUT_CONFIG_DIR"], "resourceconfig.json")))
master = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
mine = rank + 1
if rank == 0:
    server = socket.create_server(master)
    total, peers = mine, []
    while len(peers) < world - 1:
        peer, _ = server.accept()
        total += int(peer.recv(64))
        peers.append(peer)
    for peer in peers:
        peer.sendall(str(total).encode())
else:
    deadline = time.time() + 60
    while True:
        try:
            peer = socket.create_connection(master, timeout=5)
            break
        except OSError:
            assert time.time() < deadline
            time.sleep(0.2)
    peer.sendall(str(mine).encode())
    total = int(peer.recv(64))
seen = {"sum": total, "node": os.environ["KILN_RAY_NODE_ID"], "hosts": config["hosts"],
        "current": config["current_host"], "master": os.environ["MASTER_ADDR"]}
open(os.path.join(os.environ["SM_MODEL_DIR"], config["current_host"] + ".json"), "w").write(
    json.dumps(seen))
"""


@pytest.fixture(scope="module")
def kiln_on_ray(ray_lab: RayLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """A kiln server whose jobs and replicas run on the session's Ray cluster."""
    home = tmp_path_factory.mktemp("kiln-on-ray")
    settings = make_settings(
        home,
        f"sqlite:///{home}/kiln.db",
        KILN_BACKEND="ray",
        KILN_RAY_ADDRESS=ray_lab.cluster.address,
        KILN_RAY_WORK_DIR=str(ray_lab.cluster.root / "kiln-work"),
    )
    with start_kiln(settings) as server:
        yield server


def test_a_two_instance_job_all_reduces_across_two_nodes(kiln_on_ray: Kiln) -> None:
    kiln = kiln_on_ray
    request = script_job("ray-all-reduce", upload_source(kiln, {"train.py": ALL_REDUCE}))
    request["ResourceConfig"]["InstanceCount"] = 2
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("ray-all-reduce", timeout=240)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])
    seen = {name: json.loads(body) for name, body in files.items()}
    assert sorted(seen) == ["algo-1.json", "algo-2.json"]
    assert {s["sum"] for s in seen.values()} == {3}
    assert len({s["node"] for s in seen.values()}) == 2
    assert all(s["hosts"] == ["algo-1", "algo-2"] for s in seen.values())
    assert seen["algo-1.json"]["master"].startswith("127.0.0.")


def test_an_endpoint_with_replicas_on_two_nodes_serves_through_the_router(
    kiln_on_ray: Kiln,
) -> None:
    kiln = kiln_on_ray
    deploy(kiln, "ray-endpoint", {"main": (upload_model(kiln, sklearn_model_files()), 2, 1.0)})
    route = kiln.thread.kiln.routing.get("ray-endpoint")
    assert route is not None
    addresses = [r.location for v in route.variants for r in v.replicas]
    assert len(addresses) == 2
    assert all(a.startswith("tcp://127.0.0.") for a in addresses)
    assert len({a.rsplit(":", 1)[0] for a in addresses}) == 2  # two nodes
    runtime = kiln.client("sagemaker-runtime")
    for _ in range(10):
        answer = runtime.invoke_endpoint(
            EndpointName="ray-endpoint", ContentType="text/csv", Body=",".join(["1.0"] * 30)
        )
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
    kiln.sagemaker.delete_endpoint(EndpointName="ray-endpoint")


def test_a_job_whose_hosts_the_cluster_cannot_place_together_fails_with_capacity_error(
    kiln_on_ray: Kiln,
) -> None:
    kiln = kiln_on_ray
    request = script_job("ray-too-wide", upload_source(kiln, {"train.py": "pass"}))
    # 3 CPUs a host (4, cut to the largest node): only one node holds one.
    request["ResourceConfig"].update(InstanceType="ml.m5.xlarge", InstanceCount=2)
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("ray-too-wide", timeout=120)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("CapacityError: ray-too-wide: ")
    assert "cannot hold 2 hosts of 3 CPUs" in job["FailureReason"]


def test_a_job_on_a_node_that_dies_fails_naming_the_node(
    kiln_on_ray: Kiln, ray_lab: RayLab
) -> None:
    kiln = kiln_on_ray
    doomed = ray_lab.cluster.node("doomed")
    script = "import time\nprint('training', flush=True)\ntime.sleep(600)\n"
    request = script_job("ray-node-dies", upload_source(kiln, {"train.py": script}))
    # 4 vCPUs, cut to the largest node's 3: only the 3-CPU node holds it.
    request["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge"
    kiln.sagemaker.create_training_job(**request)
    wait_for_log(kiln.settings, "ray-node-dies", "training", timeout=180)
    doomed.kill()
    job = kiln.wait("ray-node-dies", timeout=120)
    assert job["TrainingJobStatus"] == "Failed"
    assert f"node {doomed.ip} (Ray node " in job["FailureReason"]
    assert job["FailureReason"].endswith(") died")


def test_a_replica_whose_node_dies_is_replaced_on_another_while_the_endpoint_serves(
    kiln_on_ray: Kiln, ray_lab: RayLab
) -> None:
    kiln = kiln_on_ray
    deploy(kiln, "ray-heal", {"main": (upload_model(kiln, sklearn_model_files()), 2, 1.0)})
    before = _replica_addresses(kiln, "ray-heal")
    # Never the head: the cluster dies with it.
    victim = next(
        node
        for node in ray_lab.cluster.nodes
        if node.name != "head" and any(a.startswith(f"tcp://{node.ip}:") for a in before)
    )
    victim.kill()
    runtime = kiln.client("sagemaker-runtime")
    deadline = time.monotonic() + 120
    while True:
        # Every request is answered while the replica is found dead and replaced.
        answer = runtime.invoke_endpoint(
            EndpointName="ray-heal", ContentType="text/csv", Body=",".join(["1.0"] * 30)
        )
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200
        after = _replica_addresses(kiln, "ray-heal")
        if len(after) == 2 and not any(a.startswith(f"tcp://{victim.ip}:") for a in after):
            break
        assert time.monotonic() < deadline, after
        time.sleep(0.1)
    assert len(set(after) - set(before)) == 1
    endpoint = kiln.sagemaker.describe_endpoint(EndpointName="ray-heal")
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 2
    kiln.sagemaker.delete_endpoint(EndpointName="ray-heal")


def _replica_addresses(kiln: Kiln, endpoint: str) -> list[str]:
    route = kiln.thread.kiln.routing.get(endpoint)
    assert route is not None
    return [r.location for v in route.variants for r in v.replicas if r.is_healthy]


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
