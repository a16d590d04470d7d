"""Two real ``kiln server`` processes on one PostgreSQL and one S3 store (scale-out-servers.md):
a job runs once, an endpoint is served through either server, and a killed server's endpoint
moves to the other (on Ray, what it left running there is stopped). Each server has its own
KILN_HOME; they share the database, the store, the server key and Kiln's key pair. Leases of
3 s keep the takeover quick.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from sqlalchemy import create_engine, select

from conftest import (
    NO_RETRIES,
    POSTGRES_URL,
    ROLE,
    TEST_BACKEND,
    backend_settings,
    make_settings,
    postgres_database,
    script_job,
    source_tarball,
    wait_until,
)
from kiln.config import Settings
from kiln.db.tables import endpoint_owners, training_jobs
from kiln.ports import free_port
from kiln.storage import EmbeddedS3Server, ObjectStore, wait_for_port
from support.needs import require

pytestmark = pytest.mark.slow

LEASE = 3.0
KEY_ID, SECRET = "AKIASCALEOUTTEST0001", "scale-out-test-secret-key-000000000000000"
"""The store's keys; jobs get them (on Ray their nodes stage with them)."""
OWNER_KEY_ID, OWNER_SECRET = "AKIASCALEOUTOWNER001", "scale-out-owner-secret-key-0000000000000"
"""The servers' owner keys, which clients sign with and no job gets."""
ECHO = """
import json, os
def model_fn(model_dir):
    return os.environ.get("KILN_HOME", "")
def transform_fn(model, data, content_type, accept):
    return json.dumps({"pid": os.getpid()}), "application/json"
"""
SLEEPY = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
CHATTY = "for i in range(50):\n    print(f'chatty {i}')\n"
MARK_ONCE = """
import os, sys
with open(sys.argv[-1] if len(sys.argv) > 1 else os.environ["MARKER"], "a") as f:
    f.write(f"{os.getpid()} {os.getcwd()}\\n")
"""


@dataclass
class _Server:
    """``kiln server`` as a process group of its own."""

    name: str
    home: Path
    port: int
    process: subprocess.Popen[bytes]

    def client(self, service: str) -> Any:
        return boto3.session.Session().client(
            service,  # type: ignore[call-overload]
            endpoint_url=f"http://127.0.0.1:{self.port}",
            region_name="us-east-1",
            aws_access_key_id=OWNER_KEY_ID,
            aws_secret_access_key=OWNER_SECRET,
            config=NO_RETRIES,
        )

    @property
    def run_dir(self) -> Path:
        """Where its replicas' sockets and folders are."""
        env = {"KILN_HOME": str(self.home), "KILN_ACCESS_KEY_ID": OWNER_KEY_ID}
        return Settings.from_env({**env, "KILN_SECRET_ACCESS_KEY": OWNER_SECRET}).run_dir

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@dataclass
class _Pair:
    a: _Server
    b: _Server
    database_url: str
    store: ObjectStore
    tmp: Path


def _start(name: str, tmp: Path, env: dict[str, str]) -> _Server:
    home, port = tmp / name, free_port()
    home.mkdir()
    log = open(tmp / f"{name}.log", "ab")  # the server's, closed with it
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln.cli", "server", "--port", str(port)],
        env={**_outside_env(), **env, **backend_settings(home), "KILN_HOME": str(home)},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: kill -9 of the group, as a crash
    )
    log.close()
    wait_for_port("127.0.0.1", port, 60, process)
    return _Server(name, home, port, process)


def _outside_env() -> dict[str, str]:
    """This process's environment less KILN_* and AWS_* (a module fixture starts before the
    per-test clean environment)."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("KILN_", "AWS_"))}


def _processes_of(server: _Server) -> set[int]:
    """The live processes of ``server``'s jobs and replicas (its own excepted: it has none
    under these folders)."""
    return _pids_under(server.run_dir) | _pids_under(server.home)


def _pids_under(path: Path) -> set[int]:
    """Live processes whose working folder or command line names a path under ``path``."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            cwd = os.readlink(entry / "cwd")
            args = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except (OSError, ValueError):
            continue
        if any(v.startswith(f"{path}/") for v in (cwd, *args)):
            found.add(int(entry.name))
    return found


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[_Pair]:
    """Servers A and B on one fresh PostgreSQL database and one S3 store."""
    require("PostgreSQL", POSTGRES_URL is not None, "set KILN_TEST_DATABASE_URL; .ci/run does")
    tmp = tmp_path_factory.mktemp("scale-out")
    databases = ExitStack()  # the database outlives both servers
    url = databases.enter_context(postgres_database())
    store_settings = make_settings(
        tmp / "store", url, KILN_ACCESS_KEY_ID=KEY_ID, KILN_SECRET_ACCESS_KEY=SECRET
    )
    store = EmbeddedS3Server(store_settings)
    store.start()
    env = {
        "KILN_DATABASE_URL": url,
        "KILN_LEASE_SECONDS": str(LEASE),
        "KILN_S3_ENDPOINT_URL": store_settings.s3_endpoint_url,
        "KILN_S3_ACCESS_KEY_ID": KEY_ID,
        "KILN_S3_SECRET_ACCESS_KEY": SECRET,
        "KILN_ACCESS_KEY_ID": OWNER_KEY_ID,
        "KILN_SECRET_ACCESS_KEY": OWNER_SECRET,
        "KILN_SERVER_KEY_FILE": str(tmp / "server.key"),
        "KILN_SANDBOX": "off",
        "KILN_WARM_SPARES": "0",
        "KILN_STOP_GRACE_SECONDS": "2",
        "KILN_CAPACITY_VCPUS": "4",
        "KILN_CAPACITY_MEMORY_MIB": "16384",
        "KILN_LOG_STORE": "database",  # the default on PostgreSQL; said here as the test needs it
    }
    servers: list[_Server] = []
    try:
        servers.append(_start("a", tmp, env))
        servers.append(_start("b", tmp, env))
        yield _Pair(servers[0], servers[1], url, ObjectStore.from_settings(store_settings), tmp)
    finally:
        for server in servers:
            if server.process.poll() is None:
                server.process.send_signal(signal.SIGTERM)
                server.process.wait(timeout=60)
        for server in servers:  # a killed server's replicas outlive it, unsandboxed
            for pid in _processes_of(server):
                os.kill(pid, signal.SIGKILL)
        store.stop()
        databases.close()


def _owner(pair: _Pair, endpoint: str) -> str | None:
    engine = create_engine(pair.database_url)
    try:
        with engine.connect() as connection:
            statement = select(endpoint_owners.c.owner).where(
                endpoint_owners.c.endpoint == endpoint
            )
            row = connection.execute(statement).first()
    finally:
        engine.dispose()
    return None if row is None else str(row[0])


def _job_owner(pair: _Pair, job: str) -> str | None:
    engine = create_engine(pair.database_url)
    try:
        with engine.connect() as connection:
            statement = select(training_jobs.c.owner).where(training_jobs.c.name == job)
            row = connection.execute(statement).first()
    finally:
        engine.dispose()
    return None if row is None else row[0]


def _job(sm: Any, job: str) -> dict[str, Any]:
    return dict(sm.describe_training_job(TrainingJobName=job))


def _server_id(server: _Server) -> str:
    return (server.home / "server-id").read_text().strip()


def _invoke(server: _Server, endpoint: str) -> bytes | None:
    try:
        answer = server.client("sagemaker-runtime").invoke_endpoint(
            EndpointName=endpoint, Body=b"[1]", ContentType="application/json"
        )
    except server.client("sagemaker-runtime").exceptions.ClientError:
        return None
    body: bytes = answer["Body"].read()
    return body


def test_a_job_created_through_one_server_runs_exactly_once(pair: _Pair) -> None:
    marker = pair.tmp / "runs.txt"
    pair.store.ensure_bucket("scale")
    source = source_tarball(
        {"train.py": MARK_ONCE.replace('os.environ["MARKER"]', repr(str(marker)))}
    )
    pair.store.client.put_object(Bucket="scale", Key="once.tar.gz", Body=source)
    sm = pair.b.client("sagemaker")
    job = f"once-{uuid.uuid4().hex[:6]}"
    sm.create_training_job(**script_job(job, "s3://scale/once.tar.gz", output="s3://scale/out"))
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
    )
    assert sm.describe_training_job(TrainingJobName=job)["TrainingJobStatus"] == "Completed"
    (line,) = marker.read_text().splitlines()  # one run, on one server
    assert f"{pair.a.home}/" in line or f"{pair.b.home}/" in line


def test_a_jobs_log_is_read_through_the_server_that_did_not_run_it(pair: _Pair) -> None:
    pair.store.ensure_bucket("scale")
    pair.store.client.put_object(
        Bucket="scale", Key="chatty.tar.gz", Body=source_tarball({"train.py": CHATTY})
    )
    job = f"chatty-{uuid.uuid4().hex[:6]}"
    pair.a.client("sagemaker").create_training_job(**script_job(job, "s3://scale/chatty.tar.gz"))
    sm = pair.a.client("sagemaker")
    sm.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300}
    )
    ran_it = _job_owner(pair, job)
    other = pair.b if ran_it == _server_id(pair.a) else pair.a
    assert ran_it != _server_id(other)
    logs = other.client("logs")

    def chatty_lines() -> list[str]:
        (stream,) = logs.describe_log_streams(
            logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{job}/"
        )["logStreams"]
        page = logs.get_log_events(
            logGroupName="/aws/sagemaker/TrainingJobs",
            logStreamName=stream["logStreamName"],
            startFromHead=True,
        )
        return [e["message"] for e in page["events"] if e["message"].startswith("chatty ")]

    # Lines reach the database within a flush (100 ms) of being written.
    wait_until(lambda: len(chatty_lines()) == 50, "the other server serving the job's log", 5)
    assert chatty_lines() == [f"chatty {i}" for i in range(50)]


def test_an_endpoint_created_on_one_server_is_invoked_through_the_other(pair: _Pair) -> None:
    pair.store.ensure_bucket("scale")
    pair.store.client.put_object(
        Bucket="scale", Key="echo.tar.gz", Body=source_tarball({"code/inference.py": ECHO})
    )
    sm = pair.a.client("sagemaker")
    sm.create_model(
        ModelName="echo",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": "s3://scale/echo.tar.gz"},
    )
    variant = {"VariantName": "v", "ModelName": "echo", "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(EndpointConfigName="echo", ProductionVariants=[variant])
    sm.create_endpoint(EndpointName="echo", EndpointConfigName="echo")
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName="echo", WaiterConfig={"Delay": 0.1, "MaxAttempts": 600}
    )
    assert _owner(pair, "echo") == _server_id(pair.a)  # the server that created it owns it
    wait_until(lambda: _invoke(pair.b, "echo") is not None, "B routing to A's replica", 10)
    assert _pids_under(pair.a.run_dir)
    assert not _pids_under(pair.b.run_dir)


def test_a_killed_servers_job_and_endpoint_are_taken_over_within_two_leases(pair: _Pair) -> None:
    pair.store.client.put_object(
        Bucket="scale", Key="sleepy.tar.gz", Body=source_tarball({"train.py": SLEEPY})
    )
    job = f"sleepy-{uuid.uuid4().hex[:6]}"
    pair.a.client("sagemaker").create_training_job(**script_job(job, "s3://scale/sleepy.tar.gz"))
    sm = pair.b.client("sagemaker")
    wait_until(lambda: _job(sm, job)["SecondaryStatus"] == "Training", "A training the job", 30)
    assert _job_owner(pair, job) == _server_id(pair.a)
    before = sm.describe_endpoint(EndpointName="echo")
    pair.a.kill()
    killed = time.monotonic()
    wait_until(lambda: _owner(pair, "echo") == _server_id(pair.b), "B owning echo", 2 * LEASE)
    wait_until(lambda: _job(sm, job)["TrainingJobStatus"] == "Failed", "B failing A's job", LEASE)
    assert time.monotonic() - killed <= 2 * LEASE
    assert _server_id(pair.a) in _job(sm, job)["FailureReason"]
    wait_until(lambda: _invoke(pair.b, "echo") is not None, "B serving echo again", 30)
    assert _pids_under(pair.b.run_dir)  # B's own replica serves it now
    if TEST_BACKEND == "ray":  # locally they ran on A's machine, out of B's reach
        wait_until(lambda: not _processes_of(pair.a), "B stopping what A left on Ray", LEASE)
    after = sm.describe_endpoint(EndpointName="echo")
    assert after["EndpointStatus"] == "InService"
    assert after["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    assert before["EndpointStatus"] == "InService"
