"""Listing, restarts, the unsandboxed fallback and the embedded store's supervision."""

from __future__ import annotations

import os
import signal
import socket
import time
from dataclasses import replace
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from conftest import (
    ANY_STORE,
    Kiln,
    job_log_text,
    make_settings,
    script_job,
    start_kiln,
    upload_source,
    wait_for_log,
)
from kiln.config import Settings
from kiln.services.training.scheduler import RESTART_FAILURE
from kiln.storage import EmbeddedS3Server, wait_for_port

SLEEPY = "import time\nprint('started', flush=True)\ntime.sleep(120)\n"

RESUMABLE = """
import os, time
ckpt = "/opt/ml/checkpoints/progress.txt"
if os.path.exists(ckpt):
    print("resumed from", open(ckpt).read(), flush=True)
    open(os.path.join(os.environ["SM_MODEL_DIR"], "resumed.txt"), "w").write("yes")
else:
    open(ckpt, "w").write("step-1")
    print("started", flush=True)
    time.sleep(120)
"""


def _create_jobs(kiln: Kiln, names: list[str]) -> None:
    for name in names:
        request = script_job(name, "s3://code/none.tar.gz")  # fails fast: no source archive
        kiln.sagemaker.create_training_job(**request)


def test_list_filters_sorts_and_pages(kiln: Kiln) -> None:
    _create_jobs(kiln, ["alpha-1", "beta-1", "alpha-2"])
    sm = kiln.sagemaker
    names = [s["TrainingJobName"] for s in sm.list_training_jobs()["TrainingJobSummaries"]]
    assert names == ["alpha-1", "beta-1", "alpha-2"]  # CreationTime, ascending by default
    by_name = sm.list_training_jobs(SortBy="Name", SortOrder="Descending")
    assert [s["TrainingJobName"] for s in by_name["TrainingJobSummaries"]] == [
        "beta-1", "alpha-2", "alpha-1"
    ]  # fmt: skip
    filtered = sm.list_training_jobs(NameContains="alpha")["TrainingJobSummaries"]
    assert {s["TrainingJobName"] for s in filtered} == {"alpha-1", "alpha-2"}
    first = sm.list_training_jobs(MaxResults=2)
    second = sm.list_training_jobs(MaxResults=2, NextToken=first["NextToken"])
    assert len(first["TrainingJobSummaries"]) == 2
    assert [s["TrainingJobName"] for s in second["TrainingJobSummaries"]] == ["alpha-2"]
    assert "NextToken" not in second


def test_paginator_walks_every_page(kiln: Kiln) -> None:
    _create_jobs(kiln, [f"page-{i}" for i in range(5)])
    pages = kiln.sagemaker.get_paginator("list_training_jobs").paginate(
        PaginationConfig={"PageSize": 2}
    )
    names = [s["TrainingJobName"] for page in pages for s in page["TrainingJobSummaries"]]
    assert names == [f"page-{i}" for i in range(5)]


def test_status_filter_and_creation_time_filter(kiln: Kiln) -> None:
    _create_jobs(kiln, ["done-1"])
    kiln.wait("done-1")
    sm = kiln.sagemaker
    assert (
        sm.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"][0]["TrainingJobName"]
        == "done-1"
    )
    assert sm.list_training_jobs(StatusEquals="Completed")["TrainingJobSummaries"] == []
    later = sm.list_training_jobs(CreationTimeAfter=time.time() + 60)
    assert later["TrainingJobSummaries"] == []


def test_restart_fails_a_running_job_without_checkpoints(kiln_settings: Settings) -> None:
    first = start_kiln(kiln_settings)
    source = upload_source(first, {"train.py": SLEEPY})
    first.sagemaker.create_training_job(**script_job("restart-1", source))
    wait_for_log(kiln_settings, "restart-1", "started")
    first.thread.stop()
    with start_kiln(replace(kiln_settings, port=0)) as second:
        job = second.sagemaker.describe_training_job(TrainingJobName="restart-1")
        assert job["TrainingJobStatus"] == "Failed"
        assert job["FailureReason"] == RESTART_FAILURE


@ANY_STORE
def test_restart_resumes_a_job_from_its_checkpoints(kiln_settings: Settings) -> None:
    first = start_kiln(kiln_settings)
    if not first.thread.kiln.backend.is_sandboxed:
        first.thread.stop()
        pytest.skip("the script hard-codes /opt/ml/checkpoints: it needs the bwrap sandbox")
    source = upload_source(first, {"train.py": RESUMABLE})
    request = script_job("resume-1", source)
    request["CheckpointConfig"] = {"S3Uri": "s3://ckpt/resume-1"}
    first.sagemaker.create_training_job(**request)
    wait_for_log(kiln_settings, "resume-1", "started")
    first.thread.stop()
    with start_kiln(replace(kiln_settings, port=0)) as second:
        job = second.wait("resume-1")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
        assert "Restarting" in statuses
        wait_for_log(kiln_settings, "resume-1", "resumed from step-1")


def test_unsandboxed_fallback_points_sm_variables_at_the_workspace(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(tmp_path / "home", database_url, KILN_SANDBOX="off")
    with start_kiln(settings) as kiln:
        assert not kiln.thread.kiln.backend.is_sandboxed
        script = "import os\nprint('model dir', os.environ['SM_MODEL_DIR'])\n"
        kiln.sagemaker.create_training_job(
            **script_job("plain-1", upload_source(kiln, {"train.py": script}))
        )
        job = kiln.wait("plain-1")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        log = job_log_text(settings, "plain-1")
        host = kiln.thread.kiln.backend.container_path(
            settings.workspaces_dir / "plain-1" / "algo-1"
        )
        assert f"model dir {host / 'model'}" in log


def test_embedded_store_is_restarted_when_it_dies(kiln: Kiln) -> None:
    supervisor = kiln.thread.kiln.s3_server
    assert supervisor is not None
    old_pid = supervisor.pid
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while (supervisor.pid == old_pid or supervisor.restarts == 0) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert supervisor.restarts == 1
    back = kiln.thread.kiln.store_back
    assert back is not None
    wait_for_port("127.0.0.1", back.port, 15)
    kiln.s3.create_bucket(Bucket="after-restart")
    assert "after-restart" in [b["Name"] for b in kiln.s3.list_buckets()["Buckets"]]


def test_embedded_store_key_is_not_on_its_command_line(kiln: Kiln) -> None:
    supervisor = kiln.thread.kiln.s3_server
    assert supervisor is not None
    assert supervisor.pid is not None
    command_line = Path(f"/proc/{supervisor.pid}/cmdline").read_bytes()
    back = kiln.thread.kiln.store_back
    assert back is not None
    assert back.credentials.secret_access_key.encode() not in command_line
    kiln.s3.create_bucket(Bucket="still-signed")  # the key reached rclone all the same
    with pytest.raises(ClientError):
        boto3.client(
            "s3",
            endpoint_url=back.url,
            region_name="us-east-1",
            aws_access_key_id=back.credentials.access_key_id,
            aws_secret_access_key="wrong" * 8,
        ).list_buckets()


def test_embedded_store_refuses_a_port_another_process_holds(tmp_path: Path) -> None:
    with socket.socket() as stranger:
        stranger.bind(("127.0.0.1", 0))
        stranger.listen()
        port = stranger.getsockname()[1]
        settings = make_settings(
            tmp_path / "home", f"sqlite:///{tmp_path / 'k.db'}", KILN_S3_PORT=str(port)
        )
        with pytest.raises(RuntimeError, match=f"127.0.0.1:{port} is in use.*KILN_S3_PORT"):
            EmbeddedS3Server(settings).start()
