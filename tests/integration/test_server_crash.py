"""``kill -9`` of ``kiln server``, then a start on the same KILN_HOME: nothing orphaned, nothing
doubled, nothing left on disk. Real server processes, real rclone, real replicas and jobs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import (
    ROLE,
    make_settings,
    script_job,
    source_tarball,
    wait_for_log,
    wait_until,
)
from kiln.compute.local import LocalRef
from kiln.config import Settings
from kiln.pidfiles import process_info, write_pid_file
from kiln.ports import free_port
from kiln.sdk.session import sagemaker_client
from kiln.services.training.scheduler import RESTART_FAILURE
from kiln.storage import EmbeddedS3Server, ObjectStore, rclone_binary, wait_for_port

pytestmark = pytest.mark.slow

KILN = [sys.executable, "-m", "kiln.cli"]
SLEEPY = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"
ECHO = """
import json
def model_fn(model_dir):
    return "echo"
def transform_fn(model, data, content_type, accept):
    return json.dumps({"model": model}), "application/json"
"""


def _pids_under(path: Path) -> set[int]:
    """Live processes whose command line or working folder names ``path`` or below."""
    found = set()
    for entry in Path("/proc").iterdir():
        info = process_info(int(entry.name)) if entry.name.isdigit() else None
        if info is not None and any(
            value == str(path) or value.startswith(f"{path}/") for value in (info.cwd, *info.args)
        ):
            found.add(info.pid)
    return found


def _replica_ids(run_dir: Path) -> set[str]:
    """The replicas that have processes running, by the folder their command line names."""
    prefix = f"{run_dir / 'replicas'}/"
    ids = set()
    for pid in _pids_under(run_dir / "replicas"):
        info = process_info(pid)
        for arg in info.args if info else ():
            if arg.startswith(prefix):
                ids.add(arg[len(prefix) :].split("/")[0])
    return ids


class _Server:
    """``kiln server`` as a process of its own, on fixed ports across restarts."""

    def __init__(self, tmp_path: Path, **env: str) -> None:
        self.home = tmp_path / "home"
        self.port, self.s3_port = free_port(), free_port()
        self._log = tmp_path / "server.log"
        self._env = {
            **os.environ,
            "KILN_HOME": str(self.home),
            "KILN_STOP_GRACE_SECONDS": "3",
            "KILN_CAPACITY_VCPUS": "4",
            "KILN_CAPACITY_MEMORY_MIB": "16384",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> subprocess.Popen[bytes]:
        command = [*KILN, "server", "--port", str(self.port), "--s3-port", str(self.s3_port)]
        with open(self._log, "ab") as output:
            self.process = subprocess.Popen(
                command, env=self._env, stdout=output, stderr=subprocess.STDOUT
            )
        wait_for_port("127.0.0.1", self.port, 60, self.process)
        return self.process

    @property
    def settings(self) -> Settings:
        return Settings.for_client({"KILN_HOME": str(self.home), "KILN_PORT": str(self.port)})

    @property
    def log(self) -> str:
        return self._log.read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=60)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[_Server]:
    """A server whose replicas and jobs run unsandboxed: without bwrap they outlive it."""
    # No warm spares: replicas are told apart here by the workspace their command line names,
    # and a spare learns its paths over its control pipe (test_kill_9_reaps_warm_spares).
    server = _Server(tmp_path, KILN_SANDBOX="off", KILN_WARM_SPARES="0")
    try:
        yield server
    finally:
        server.stop()


def _deploy_and_train(settings: Settings, endpoint: str, job: str) -> Any:
    sm = sagemaker_client(settings)
    s3 = ObjectStore.from_settings(settings)
    s3.ensure_bucket("crash")
    s3.client.put_object(
        Bucket="crash", Key="m.tar.gz", Body=source_tarball({"code/inference.py": ECHO})
    )
    s3.client.put_object(
        Bucket="crash", Key="src.tar.gz", Body=source_tarball({"train.py": SLEEPY})
    )
    sm.create_model(
        ModelName=endpoint,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": "s3://crash/m.tar.gz"},
    )
    variant = {"VariantName": "v", "ModelName": endpoint, "InstanceType": "ml.m5.large"}
    sm.create_endpoint_config(EndpointConfigName=endpoint, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    sm.create_training_job(**script_job(job, "s3://crash/src.tar.gz"))
    return sm


def _wait_in_service(sm: Any, endpoint: str) -> None:
    waiter = sm.get_waiter("endpoint_in_service")
    waiter.wait(EndpointName=endpoint, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})


def test_kill_9_of_the_server_leaves_nothing_running_doubled_or_on_disk(server: _Server) -> None:
    endpoint, job = f"crash-{uuid.uuid4().hex[:6]}", f"crash-job-{uuid.uuid4().hex[:6]}"
    first = server.start()
    settings = server.settings
    sm = _deploy_and_train(settings, endpoint, job)
    _wait_in_service(sm, endpoint)
    wait_for_log(settings, job, "started")
    (old_replica,) = _replica_ids(settings.run_dir)
    replica_pids = _pids_under(settings.run_dir / "replicas")
    job_pids = _pids_under(settings.workspaces_dir / job)
    lost_upload = settings.storage_dir / "crash" / ".rclone_temp_multipart_lost"  # as a killed
    lost_upload.write_bytes(b"part")  # rclone leaves a multipart upload's parts
    cgroups = [
        *Path("/sys/fs/cgroup").glob(f"*/kiln/{job}-algo-1"),
        *Path("/sys/fs/cgroup").glob(f"*/kiln/replica-{old_replica}"),
    ]

    first.send_signal(signal.SIGKILL)
    first.wait()
    wait_until(lambda: not _pids_under(settings.storage_dir), "rclone dying with its server")
    assert replica_pids  # without bwrap, replicas and jobs outlive their server: orphans...
    assert all(process_info(p) for p in replica_pids | job_pids)
    assert job_pids

    server.start()
    wait_until(lambda: not any(process_info(p) for p in replica_pids | job_pids), "reaping")
    _wait_in_service(sm, endpoint)
    assert len(_replica_ids(settings.run_dir)) == 1
    assert old_replica not in _replica_ids(settings.run_dir)
    assert [p.name for p in (settings.run_dir / "replicas").iterdir()] != [old_replica]
    assert len([p for p in (settings.run_dir / "replicas").iterdir()]) == 1
    assert sm.describe_training_job(TrainingJobName=job)["FailureReason"] == RESTART_FAILURE
    assert not (settings.workspaces_dir / job).exists()
    assert not lost_upload.exists()
    assert [c for c in cgroups if c.exists()] == []
    assert len(_pids_under(settings.storage_dir)) == 1  # one rclone: the new server's
    assert "Traceback" not in server.log


def test_kill_9_of_the_server_leaves_no_warm_spare_running(tmp_path: Path) -> None:
    server = _Server(tmp_path, KILN_SANDBOX="off", KILN_WARM_SPARES="1")
    try:
        first = server.start()
        pid_files = server.settings.pids_dir / "replicas"
        wait_until(lambda: list(pid_files.glob("*.json")), "a warm spare", timeout=60)
        records = [LocalRef.load(path.read_text()) for path in pid_files.glob("*.json")]
        spares = {record.pid for record in records if record is not None}
        assert spares
        first.send_signal(signal.SIGKILL)
        first.wait()
        assert all(process_info(pid) for pid in spares)  # unsandboxed, they outlive it...
        server.start()
        wait_until(lambda: not any(process_info(pid) for pid in spares), "reaping the spares")
    finally:
        server.stop()


def test_a_second_server_on_the_same_home_is_refused(server: _Server, tmp_path: Path) -> None:
    first = server.start()
    second = _Server(tmp_path / "second")
    second.home = server.home
    command = [*KILN, "server", "--port", str(second.port), "--s3-port", str(second.s3_port)]
    done = subprocess.run(command, env=second._env | {"KILN_HOME": str(server.home)},
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode != 0
    assert f"another kiln server (pid {first.pid}) uses KILN_HOME {server.home}" in done.stderr
    assert first.poll() is None


def test_embedded_store_kills_the_rclone_its_pid_file_names_first(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "home", f"sqlite:///{tmp_path / 'k.db'}")
    settings.storage_dir.mkdir(parents=True)
    # What a crash leaves: an rclone serving our folder on our port, named by our pid file.
    address = f"127.0.0.1:{settings.s3_port}"
    command = [rclone_binary(), "serve", "s3", "--addr", address, "--config", "/dev/null"]
    left = subprocess.Popen([*command, str(settings.storage_dir)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    wait_for_port("127.0.0.1", settings.s3_port, 15, left)
    write_pid_file(settings.pids_dir / "s3.json", left.pid, str(settings.storage_dir))
    store = EmbeddedS3Server(settings)
    try:
        store.start()
        assert left.wait(timeout=10) == -signal.SIGKILL
        assert store.pid != left.pid
        ObjectStore.from_settings(settings).ensure_bucket("served")
    finally:
        store.stop()
        left.kill()
        left.wait()
