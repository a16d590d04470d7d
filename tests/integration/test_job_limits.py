"""Limits: processes, memory and volume, each ending the job cleanly with a reason naming it."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from conftest import (
    LOCAL_BACKEND_ONLY,
    VOLUME_FILLER,
    Kiln,
    deploy,
    make_settings,
    script_job,
    start_kiln,
    tar_bomb,
    upload_model,
    upload_source,
    wait_in_service,
)
from kiln.config import Settings

FORK_BOMB = r"""
import os, sys, time
children = 0
try:
    for _ in range(1500):
        if os.fork() == 0:
            time.sleep(300)
            os._exit(0)
        children += 1
except OSError as e:
    print(f"fork failed after {children} children: {e}", file=sys.stderr, flush=True)
    sys.exit(3)
"""

MEMORY_BOMB = """
hog = []
while True:
    hog.append(b"x" * (16 << 20))
"""

GIB = 1 << 30


def _needs_cgroups() -> None:
    if not (
        os.access("/sys/fs/cgroup/pids", os.W_OK)
        or os.access("/sys/fs/cgroup/cgroup.subtree_control", os.W_OK)
    ):
        pytest.skip("cgroups are not writable here")


def _cgroup(settings: Settings, controller: str, name: str) -> Path:
    return Path("/sys/fs/cgroup", controller, "kiln", settings.run_dir.name, name)


@LOCAL_BACKEND_ONLY  # cgroup pids.max; Ray actors get none
def test_fork_bomb_hits_the_pids_limit_and_the_job_still_ends(
    tmp_path: Path, database_url: str
) -> None:
    _needs_cgroups()
    settings = make_settings(tmp_path / "home", database_url, KILN_PIDS_MAX="40")
    with start_kiln(settings) as kiln:
        source = upload_source(kiln, {"train.py": FORK_BOMB})
        kiln.sagemaker.create_training_job(**script_job("forks-1", source))
        job = kiln.wait("forks-1", timeout=60)
        assert job["TrainingJobStatus"] == "Failed"
        assert "fork failed after" in job["FailureReason"]
        assert "Resource temporarily unavailable" in job["FailureReason"]
        children = int(job["FailureReason"].split("fork failed after ")[1].split()[0])
        assert children < 40
        # Every forked child was killed: the emptied cgroup could be removed.
        assert not _cgroup(settings, "pids", "forks-1-algo-1").exists()


@LOCAL_BACKEND_ONLY  # cgroup memory limits; on Ray only its memory monitor
def test_memory_bomb_fails_with_the_out_of_memory_reason(tmp_path: Path, database_url: str) -> None:
    _needs_cgroups()
    settings = make_settings(tmp_path / "home", database_url, KILN_CAPACITY_MEMORY_MIB="200")
    with start_kiln(settings) as kiln:
        source = upload_source(kiln, {"train.py": MEMORY_BOMB})
        kiln.sagemaker.create_training_job(**script_job("memory-1", source))
        job = kiln.wait("memory-1", timeout=60)
        assert job["TrainingJobStatus"] == "Failed"
        assert job["FailureReason"].startswith(
            "AlgorithmError: out of memory: the job used more than the 200 MiB this machine "
            "gives it (ml.m5.large has 8 GiB, cut to KILN_CAPACITY_MEMORY_MIB)"
        )
        assert "ExitCode 137 (killed by SIGKILL)" in job["FailureReason"]


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


@LOCAL_BACKEND_ONLY  # cgroup memory limits; on Ray only its memory monitor
def test_replica_killed_for_memory_fails_the_endpoint_with_the_reason(
    tmp_path: Path, database_url: str
) -> None:
    _needs_cgroups()
    settings = make_settings(tmp_path / "home", database_url, KILN_CAPACITY_MEMORY_MIB="300")
    with start_kiln(settings) as kiln:
        inference = "def model_fn(model_dir):\n" + "".join(
            f"    {line}\n" for line in MEMORY_BOMB.strip().splitlines()
        )
        model = upload_model(kiln, {"code/inference.py": inference})
        deploy(kiln, "hog-ep", {"AllTraffic": (model, 1, 1.0)}, wait=False)
        described = wait_in_service(kiln, "hog-ep")
        assert described["EndpointStatus"] == "Failed"
        assert described["FailureReason"].startswith(
            "Variant AllTraffic: out of memory: the model server used more than the 300 MiB "
            "this machine gives it (ml.m5.large has 8 GiB"
        )
