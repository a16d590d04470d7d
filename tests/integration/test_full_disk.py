"""A full KILN_HOME (ENOSPC), for real: a small tmpfs, filled to the last byte and freed again.

The server keeps answering (503 where it cannot store, never 500), log pumps drop lines and say
how many, a job whose end cannot be recorded yet is recorded once space returns (its trained
model kept on disk, since it could not be stored), and an endpoint whose start could not be
recorded is settled by the sweeper.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import (
    LOCAL_BACKEND_ONLY,
    ROLE,
    Kiln,
    deploy,
    job_log_text,
    make_settings,
    model_files,
    script_job,
    start_kiln,
    upload_model,
    upload_source,
    wait_for_log,
    wait_in_service,
    wait_until,
)
from kiln.errors import ResourceNotFoundError
from kiln.services.logs import FileLogStore
from kiln.services.logs.names import endpoint_group


class Disk:
    """The tmpfs under KILN_HOME: filled with one file, freed by deleting it."""

    def __init__(self, mount: Path) -> None:
        self.mount = mount
        self._filler = mount / "filler"

    def fill(self) -> None:
        """Write until the disk refuses even one byte."""
        fd = os.open(self._filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            chunk = 1 << 20
            while chunk:
                try:
                    os.write(fd, bytes(chunk))
                except OSError:
                    chunk //= 2
        finally:
            os.close(fd)
        assert os.statvfs(self.mount).f_bavail == 0

    def free(self) -> None:
        """Give all of it back."""
        self._filler.unlink(missing_ok=True)


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    """A 48 MiB tmpfs for KILN_HOME (we mount it: skipped where mounting is not permitted)."""
    mount = tmp_path / "small"
    mount.mkdir()
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", str(mount)],
            capture_output=True,
            text=True,
        )
    except FileNotFoundError:
        pytest.skip("no mount command to make a small tmpfs for KILN_HOME")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs for KILN_HOME: {done.stderr.strip()}")
    try:
        yield Disk(mount)
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=True)


def _kiln_on(disk: Disk, **overrides: str) -> Iterator[Kiln]:
    home = disk.mount / "home"
    kiln = start_kiln(make_settings(home, f"sqlite:///{home / 'kiln.db'}", **overrides))
    try:
        yield kiln
    finally:
        disk.free()
        kiln.thread.stop()


@pytest.fixture
def kiln_on(disk: Disk) -> Iterator[Kiln]:
    """A server whose KILN_HOME, database included, is on the small disk."""
    yield from _kiln_on(disk)


@pytest.fixture
def unsandboxed_kiln_on(disk: Disk) -> Iterator[Kiln]:
    """The same, with replicas outside bwrap: they watch KILN_HOME's disk, which bwrap hides."""
    yield from _kiln_on(disk, KILN_SANDBOX="off")


def _without_retries(kiln: Kiln) -> Any:
    creds = kiln.settings.credentials
    return boto3.client(
        "sagemaker",
        endpoint_url=kiln.endpoint,
        region_name=kiln.settings.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_create_model_on_a_full_disk_answers_503_and_works_once_space_returns(
    disk: Disk, kiln_on: Kiln
) -> None:
    sm = _without_retries(kiln_on)
    container = {"Image": "kiln/python"}
    disk.fill()
    with pytest.raises(ClientError) as refused:
        sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
    assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
    assert "disk is full" in refused.value.response["Error"]["Message"]
    assert sm.list_models()["Models"] == []
    disk.free()
    sm.create_model(ModelName="m1", ExecutionRoleArn=ROLE, PrimaryContainer=container)
    assert [m["ModelName"] for m in sm.list_models()["Models"]] == ["m1"]


# The script sees how full its disk is through its workspace, which lives in KILN_HOME: it prints
# while the disk is full, marks that with an empty file (no data block needed), and trains on
# once space is back.
PRINTS_WHILE_FULL = """
import os, time
model = os.environ["SM_MODEL_DIR"]
print("started", flush=True)
while os.statvfs(model).f_bavail > 0:
    time.sleep(0.01)
for i in range(500):
    print(f"line {i} " + "x" * 100, flush=True)
open(os.path.join(model, "printed"), "w").close()
while os.statvfs(model).f_bavail == 0:
    time.sleep(0.01)
print("after", flush=True)
open(os.path.join(model, "model.txt"), "w").write("trained")
"""


@LOCAL_BACKEND_ONLY  # the job's disk is its node's on Ray
def test_job_log_drops_lines_while_the_disk_is_full_and_says_how_many(
    disk: Disk, kiln_on: Kiln
) -> None:
    kiln_on.sagemaker.create_training_job(
        **script_job("full-log", upload_source(kiln_on, {"train.py": PRINTS_WHILE_FULL}))
    )
    wait_for_log(kiln_on.settings, "full-log", "started")
    disk.fill()
    printed = kiln_on.settings.workspaces_dir / "full-log" / "algo-1" / "model" / "printed"
    wait_until(printed.exists, "the script's printing on a full disk")
    disk.free()
    job = kiln_on.wait("full-log")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    text = job_log_text(kiln_on.settings, "full-log")
    note = re.search(r"\[kiln\] (\d+) log lines dropped: no space left on device", text)
    assert note is not None, text[-2000:]
    assert int(note.group(1)) > 0
    assert text.index("after") > note.start()
    assert (
        model_files(kiln_on, job["ModelArtifacts"]["S3ModelArtifacts"])["model.txt"] == b"trained"
    )


TRAINS_THEN_WAITS_FOR_A_FULL_DISK = """
import os, time
model = os.environ["SM_MODEL_DIR"]
open(os.path.join(model, "model.txt"), "w").write("trained")
print("trained", flush=True)
while os.statvfs(model).f_bavail > 0:
    time.sleep(0.01)
"""


@LOCAL_BACKEND_ONLY  # the job's disk is its node's on Ray
def test_job_ending_on_a_full_disk_is_recorded_once_space_returns_and_keeps_its_model(
    disk: Disk, kiln_on: Kiln, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="kiln.services.training.runner")
    source = upload_source(kiln_on, {"train.py": TRAINS_THEN_WAITS_FOR_A_FULL_DISK})
    kiln_on.sagemaker.create_training_job(**script_job("full-end", source))
    wait_for_log(kiln_on.settings, "full-end", "trained")
    disk.fill()
    wait_until(
        lambda: any("recording its end failed" in r.getMessage() for r in caplog.records),
        "a failed attempt to record the job's end",
    )
    describe = kiln_on.sagemaker.describe_training_job(TrainingJobName="full-end")
    assert describe["TrainingJobStatus"] == "InProgress"  # reads still work; the end waits
    disk.free()
    job = kiln_on.wait("full-end", timeout=30)  # the next attempt is at most 5 s away
    assert job["TrainingJobStatus"] == "Failed"
    workspace = kiln_on.settings.workspaces_dir / "full-end"
    assert "database or disk is full" in job["FailureReason"]
    assert f"kept in {workspace}" in job["FailureReason"]
    assert (workspace / "algo-1" / "model" / "model.txt").read_text() == "trained"


LOADS_WHEN_THE_DISK_IS_FULL = """
import json, os, time
def model_fn(model_dir):
    print("loading", flush=True)
    while os.statvfs(os.environ["DISK_TO_WATCH"]).f_bavail > 0:
        time.sleep(0.01)
    return "loaded"
def transform_fn(model, data, content_type, accept):
    return json.dumps({"model": model}), "application/json"
"""


def _endpoint_log(kiln: Kiln, endpoint: str) -> str:
    store, group = FileLogStore(kiln.settings.log_groups_dir), endpoint_group(endpoint)
    try:
        streams = store.streams(group)
    except ResourceNotFoundError:  # no replica has written yet
        return ""
    events = [e for s in streams for e in store.read(group, s.name, 0, 10_000)]
    return "\n".join(e.event.message for e in events)


def test_endpoint_whose_start_cannot_be_recorded_goes_in_service_once_space_returns(
    disk: Disk, unsandboxed_kiln_on: Kiln, caplog: pytest.LogCaptureFixture
) -> None:
    kiln = unsandboxed_kiln_on
    caplog.set_level(logging.WARNING, logger="kiln.services.hosting.controller")
    uri = upload_model(kiln, {"code/inference.py": LOADS_WHEN_THE_DISK_IS_FULL})
    environment = {"DISK_TO_WATCH": str(disk.mount)}
    deploy(kiln, "full-ep", {"v": (uri, 1, 1.0)}, environment=environment, wait=False)
    wait_until(lambda: "loading" in _endpoint_log(kiln, "full-ep"), "the model's loading")
    disk.fill()  # the model loads, the replica serves, and recording that fails
    wait_until(
        lambda: any("full-ep: controller error" in r.getMessage() for r in caplog.records),
        "a failed attempt to record the endpoint in service",
    )
    assert kiln.sagemaker.describe_endpoint(EndpointName="full-ep")["EndpointStatus"] == "Creating"
    disk.free()
    endpoint = wait_in_service(kiln, "full-ep", timeout=30)  # the sweeper settles it
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["ProductionVariants"][0]["CurrentInstanceCount"] == 1
    answer = kiln.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="full-ep", Body=b"{}", ContentType="application/json"
    )
    assert answer["Body"].read() == b'{"model": "loaded"}'
