"""Capacity is a queue, not a gate: jobs asking for more than the machine run on what it has."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from conftest import (
    LOCAL_BACKEND_ONLY,
    Kiln,
    job_log_text,
    make_settings,
    model_files,
    script_job,
    start_kiln,
    upload_source,
)
from kiln.services.capacity import machine_name

pytestmark = pytest.mark.slow

SEEN_SCRIPT = """
import json, os
seen = {k: os.environ[k] for k in ("SM_NUM_CPUS", "SM_NUM_GPUS", "SM_CURRENT_INSTANCE_TYPE")}
with open(os.path.join(os.environ["SM_MODEL_DIR"], "seen.json"), "w") as f:
    json.dump(seen, f)
"""


def _run(kiln: Kiln, name: str, instance_type: str) -> dict[str, object]:
    request = script_job(name, upload_source(kiln, {"train.py": SEEN_SCRIPT}))
    request["ResourceConfig"]["InstanceType"] = instance_type
    kiln.sagemaker.create_training_job(**request)
    return kiln.wait(name)


@LOCAL_BACKEND_ONLY  # the numbers are this fixture's KILN_CAPACITY_*; Ray's are its nodes'
def test_job_bigger_than_the_machine_runs_on_it_and_says_so(kiln: Kiln) -> None:
    # ml.m5.4xlarge: 16 vCPUs and 64 GiB; the test machine has 4 vCPUs and 16 GiB.
    job = _run(kiln, "big-type-1", "ml.m5.4xlarge")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    starting = job["SecondaryStatusTransitions"][0]  # type: ignore[index]
    expected = (
        "ml.m5.4xlarge asks for 16 vCPUs and 65536 MiB; this machine has 4 vCPUs and "
        "16384 MiB: running on 4 vCPUs and 16384 MiB"
    )
    assert starting["StatusMessage"] == expected
    log = job_log_text(kiln.settings, "big-type-1")
    assert log.count(expected) == 1
    seen = json.loads(model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])  # type: ignore[index]
    assert seen["SM_NUM_CPUS"] == "4"


def test_gpu_type_on_a_machine_without_gpus_runs_on_cpu(kiln: Kiln) -> None:
    job = _run(kiln, "gpu-type-1", "ml.g5.xlarge")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    message = job["SecondaryStatusTransitions"][0]["StatusMessage"]  # type: ignore[index]
    machine = machine_name(kiln.settings)  # this machine, or the largest Ray node
    assert message.endswith(f"{machine} has no GPU: running on 4 vCPUs and 16384 MiB (CPU only)")
    seen = json.loads(model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])  # type: ignore[index]
    assert seen == {
        "SM_NUM_CPUS": "4",
        "SM_NUM_GPUS": "0",
        "SM_CURRENT_INSTANCE_TYPE": "ml.g5.xlarge",
    }


def test_job_that_fits_says_nothing_about_capacity(kiln: Kiln) -> None:
    job = _run(kiln, "small-type-1", "ml.m5.large")
    assert job["SecondaryStatusTransitions"][0]["StatusMessage"] == (  # type: ignore[index]
        "Launching requested ML instances"
    )


def test_strict_capacity_refuses_what_does_not_fit(tmp_path: Path, database_url: str) -> None:
    strict = start_kiln(
        make_settings(tmp_path / "strict-home", database_url, KILN_STRICT_CAPACITY="1")
    )
    try:
        request = script_job("huge-1", "s3://code/x.tar.gz")
        request["ResourceConfig"]["InstanceType"] = "ml.c4.8xlarge"  # 36 vCPUs, 60 GiB
        with pytest.raises(ClientError) as error:
            strict.sagemaker.create_training_job(**request)
        assert error.value.response["Error"]["Code"] == "ResourceLimitExceeded"
        message = error.value.response["Error"]["Message"]
        assert "ml.c4.8xlarge asks for 36 vCPUs and 61440 MiB" in message
        assert strict.sagemaker.list_training_jobs()["TrainingJobSummaries"] == []
    finally:
        strict.thread.stop()
