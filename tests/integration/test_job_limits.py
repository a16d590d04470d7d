"""Limits: volumes, each ending the job (or the endpoint) cleanly with a reason naming it."""

from __future__ import annotations

import uuid

from conftest import (
    Kiln,
    deploy,
    script_job,
    tar_bomb,
    upload_source,
    wait_in_service,
)

VOLUME_FILLER = r"""
import os, time
with open(os.path.join(os.environ["SM_MODEL_DIR"], "huge.bin"), "wb") as f:
    os.posix_fallocate(f.fileno(), 0, 1200 << 20)
print("filled", flush=True)
time.sleep(300)
"""

GIB = 1 << 30


def test_tar_bomb_source_fails_the_job_naming_volume_size(kiln: Kiln) -> None:
    kiln.thread.kiln.objects.ensure_bucket("code")
    key = f"{uuid.uuid4().hex}/sourcedir.tar.gz"
    kiln.s3.put_object(Bucket="code", Key=key, Body=tar_bomb(3 * GIB // 2))  # 1.5 MB → 1.5 GiB
    request = script_job("bomb-1", f"s3://code/{key}")
    request["ResourceConfig"]["VolumeSizeInGB"] = 1
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("bomb-1", timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        f"ClientError: s3://code/{key} expands to more than fits in the job's volume: "
        "VolumeSizeInGB=1 (1 GiB per instance"
    )


def test_job_that_outgrows_its_volume_is_stopped_with_the_reason(kiln: Kiln) -> None:
    request = script_job("fill-1", upload_source(kiln, {"train.py": VOLUME_FILLER}))
    request["ResourceConfig"]["VolumeSizeInGB"] = 1
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("fill-1", timeout=90)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith(
        "ClientError: the job wrote 1.2 GiB into /opt/ml on algo-1, more than fits in the "
        "job's volume: VolumeSizeInGB=1"
    )


def test_model_tar_bomb_fails_the_endpoint_naming_the_variants_volume(kiln: Kiln) -> None:
    kiln.thread.kiln.objects.ensure_bucket("models")
    key = f"{uuid.uuid4().hex}/model.tar.gz"
    kiln.s3.put_object(Bucket="models", Key=key, Body=tar_bomb(3 * GIB // 2))
    model = f"s3://models/{key}"
    deploy(kiln, "bomb-ep", {"AllTraffic": (model, 1, 1.0)}, wait=False, volume_size_gb=1)
    described = wait_in_service(kiln, "bomb-ep")
    assert described["EndpointStatus"] == "Failed"
    assert (
        f"Failed to extract model data from {model}: model.tar.gz expands to more than fits in "
        "the variant's VolumeSizeInGB=1 (1 GiB); set a larger VolumeSizeInGB"
    ) in described["FailureReason"]
