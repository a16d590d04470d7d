"""Scale-out on Ray: a data-parallel job on 2 instances against 1, and the router's throughput to
replicas on two nodes against one, in the same run.

A two-node Ray cluster on loopback (``tests/support/ray_cluster.py``: each node 1 CPU, its own
127.0.0.x address, every outbound probe off) and one ``kiln server`` with ``KILN_BACKEND=ray``.

- **training**: a CPU-bound script (pure-Python arithmetic over ``--work`` million numbers)
  splits the work by ``RANK``/``WORLD_SIZE`` and all-reduces the partial sums over a socket at
  ``MASTER_ADDR:MASTER_PORT``; timed ``CreateTrainingJob`` → ``Completed`` (staging on the
  nodes and the model's upload included) with ``InstanceCount`` 1 and 2, alternating. The ratio
  is 1 instance's time ÷ 2 instances': above 1 means the second node made it faster.
- **serving**: the serving workload v1's model (BENCHMARKING.md) on 1 replica, then on 2 (one
  per node: each replica asks for 1 CPU); ``--threads`` closed-loop clients post the 1-row body
  through the router for ``--duration`` s, every answer checked. The ratio is 2 replicas'
  requests a second ÷ 1's. On a 2-core machine the router, the clients and the replicas share
  the same two cores, so this shows the router spreading load over nodes, not a cluster's gain.

Run: ``.venv/bin/python bench/scaleout.py [--repeat N] [--work M]`` (needs ``kiln[ray]``);
results also go to ``bench/results/scaleout.json``.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tarfile
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from common import run_header, sigterm_as_exit
from serving import (
    ROLE,
    Kiln,
    Workload,
    _client,
    _first_invoke,
    build_workload,
    post,
    start_kiln,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

from support.ray_cluster import NodeSpec, RayCluster  # noqa: E402

RESULTS = HERE / "results" / "scaleout.json"
INSTANCE = "ml.m5.large"  # 2 vCPUs, cut to a node's 1

TRAIN = """
import json, os, socket, time
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
total_n = int(os.environ["WORK_MILLIONS"]) * 1_000_000
share = range(rank * total_n // world, (rank + 1) * total_n // world)
partial = 0
for i in share:
    partial = (partial + i * i) % 1_000_000_007
master = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
if world > 1 and rank == 0:
    server, result = socket.create_server(master), partial
    peers = [server.accept()[0] for _ in range(world - 1)]
    for peer in peers:
        result = (result + int(peer.recv(64))) % 1_000_000_007
    for peer in peers:
        peer.sendall(str(result).encode())
elif world > 1:
    deadline = time.time() + 120
    while True:
        try:
            peer = socket.create_connection(master, timeout=5)
            break
        except OSError:
            assert time.time() < deadline
            time.sleep(0.1)
    peer.sendall(str(partial).encode())
    result = int(peer.recv(64))
else:
    result = partial
open(os.path.join(os.environ["SM_MODEL_DIR"], "sum.json"), "w").write(json.dumps(result))
"""


def upload_source(kiln: Kiln) -> str:
    """The training script as a sourcedir.tar.gz in the store."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = TRAIN.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    key = f"code/{uuid.uuid4().hex}/sourcedir.tar.gz"
    _s3(kiln).put_object(Bucket="models", Key=key, Body=buffer.getvalue())
    return f"s3://models/{key}"


def _s3(kiln: Kiln) -> Any:
    return _client(kiln.settings, "s3", kiln.settings.s3_endpoint_url)


def train(kiln: Kiln, source: str, instances: int, work: int) -> float:
    """Seconds from CreateTrainingJob to Completed for ``instances`` hosts."""
    name = f"scaleout-{instances}-{uuid.uuid4().hex[:6]}"
    started = time.perf_counter()
    kiln.sagemaker.create_training_job(
        TrainingJobName=name,
        RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "kiln/python", "TrainingInputMode": "File"},
        HyperParameters={
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{source}"',
        },
        Environment={"WORK_MILLIONS": str(work)},
        OutputDataConfig={"S3OutputPath": "s3://models/jobs"},
        ResourceConfig={"InstanceType": INSTANCE, "InstanceCount": instances, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 3600},
    )
    while True:
        job = kiln.sagemaker.describe_training_job(TrainingJobName=name)
        if job["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            break
        time.sleep(0.1)
    took = time.perf_counter() - started
    if job["TrainingJobStatus"] != "Completed":
        raise RuntimeError(f"{name}: {job['TrainingJobStatus']}: {job.get('FailureReason')}")
    return took


def deploy(kiln: Kiln, workload: Workload, name: str, instances: int) -> None:
    """An endpoint of ``instances`` replicas of the workload's model, answering correctly."""
    sm = kiln.sagemaker
    container = {"Image": "kiln/python", "ModelDataUrl": kiln.model_uri}
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    variant = {"VariantName": "main", "ModelName": name, "InitialInstanceCount": instances,
               "InstanceType": INSTANCE}  # fmt: skip
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while sm.describe_endpoint(EndpointName=name)["EndpointStatus"] != "InService":
        time.sleep(0.2)
    _first_invoke(kiln, name, workload.bodies[1].read_bytes(), workload.expected[1])


def undeploy(kiln: Kiln, name: str) -> None:
    """Delete the endpoint and wait until its replicas are gone."""
    kiln.sagemaker.delete_endpoint(EndpointName=name)
    kiln.sagemaker.delete_endpoint_config(EndpointConfigName=name)
    kiln.sagemaker.delete_model(ModelName=name)
    time.sleep(2.0)  # the replicas' actors give their CPUs back


def throughput(kiln: Kiln, workload: Workload, name: str, threads: int, duration: float) -> float:
    """Requests a second through the router, every answer checked."""
    path, headers = f"/endpoints/{name}/invocations", {"Authorization": f"Bearer {kiln.api_key}"}
    body, expected = workload.bodies[1].read_bytes(), workload.expected[1]
    done = [0] * threads
    failures: list[str] = []
    deadline = time.perf_counter() + duration

    def client(index: int) -> None:
        while time.perf_counter() < deadline:
            status, answer = post(kiln.settings.port, path, body, 30.0, headers)
            if status != 200 or orjson.loads(answer).get("predictions") != expected:
                failures.append(f"{status} {answer[:80]!r}")
            done[index] += 1

    workers = [threading.Thread(target=client, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    if failures:
        raise RuntimeError(f"{len(failures)} failed requests: {failures[:3]}")
    return sum(done) / duration


def main() -> int:
    """Run the benchmark; 0 when 2 instances trained faster than 1."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=2, help="rounds (default 2)")
    parser.add_argument("--work", type=int, default=60, help="millions of numbers (default 60)")
    parser.add_argument("--threads", type=int, default=8, help="serving clients (default 8)")
    parser.add_argument("--duration", type=float, default=8.0, help="serving seconds (default 8)")
    args = parser.parse_args()
    header = run_header("scaleout")
    with sigterm_as_exit(), ExitStack() as stack:
        root = Path(tempfile.mkdtemp(prefix="kiln-ray-"))
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        print("starting a two-node Ray cluster on loopback (1 CPU each) ...", flush=True)
        cluster = RayCluster.start(root, [NodeSpec("head", cpus=1), NodeSpec("w1", cpus=1)])
        stack.callback(cluster.stop)
        os.environ.update(cluster.client_env)
        workload = build_workload(workdir)
        kiln = start_kiln(
            workload,
            workdir,
            stack,
            KILN_BACKEND="ray",
            KILN_RAY_ADDRESS=cluster.address,
            KILN_RAY_WORK_DIR=str(root / "work"),
        )
        source = upload_source(kiln)
        trained: dict[int, list[float]] = {1: [], 2: []}
        served: dict[int, list[float]] = {1: [], 2: []}
        for round_ in range(args.repeat):
            for instances in (1, 2) if round_ % 2 == 0 else (2, 1):
                took = train(kiln, source, instances, args.work)
                trained[instances].append(took)
                print(f"training, {instances} instance(s): {took:.1f} s", flush=True)
            for replicas in (1, 2) if round_ % 2 == 0 else (2, 1):
                name = f"scaleout-{replicas}-{round_}"
                deploy(kiln, workload, name, replicas)
                rate = throughput(kiln, workload, name, args.threads, args.duration)
                served[replicas].append(rate)
                print(f"serving, {replicas} replica(s): {rate:.0f} requests/s", flush=True)
                undeploy(kiln, name)
    train_ratio = statistics.median(trained[1]) / statistics.median(trained[2])
    serve_ratio = statistics.median(served[2]) / statistics.median(served[1])
    print(
        f"\ntraining: 1 instance {statistics.median(trained[1]):.1f} s, 2 instances "
        f"{statistics.median(trained[2]):.1f} s: {train_ratio:.2f}x faster on two nodes"
    )
    print(
        f"serving: 1 replica {statistics.median(served[1]):.0f} req/s, 2 replicas on two nodes "
        f"{statistics.median(served[2]):.0f} req/s: {serve_ratio:.2f}x"
    )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                **header,
                "args": vars(args),
                "training_s": trained,
                "serving_rps": served,
                "training_ratio": train_ratio,
                "serving_ratio": serve_ratio,
            },  # fmt: skip
            indent=2,
        )
    )
    return 0 if train_ratio > 1 else 1


if __name__ == "__main__":
    sys.exit(main())
