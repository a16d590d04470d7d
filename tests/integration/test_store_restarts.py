"""The embedded store killed (SIGKILL to the real rclone) in the middle of a job's transfers.

Each test waits until the transfer is under way — a download's partial file in the workspace,
a multipart upload's parts in the store's folder — then kills rclone; the supervisor restarts
it and the transfer is made again, whole, until it succeeds.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Kiln, model_files, script_job, upload_source

pytestmark = pytest.mark.slow


def _kill_store_when(kiln: Kiln, is_under_way: Callable[[], bool], what: str) -> None:
    supervisor = kiln.thread.kiln.s3_server
    assert supervisor is not None
    deadline = time.monotonic() + 120
    while not is_under_way():
        assert time.monotonic() < deadline, f"{what} was never seen under way"
        time.sleep(0.005)
    assert supervisor.pid is not None
    os.kill(supervisor.pid, signal.SIGKILL)


COUNTS_ITS_INPUT = """
import os
size = os.path.getsize(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "big.bin"))
open(os.path.join(os.environ["SM_MODEL_DIR"], "size.txt"), "w").write(str(size))
"""


def test_job_downloading_when_the_store_is_killed_completes(kiln: Kiln, tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with open(big, "wb") as f:
        f.truncate(512 * 1024 * 1024)  # sparse: no disk used here, 512 MiB read and sent
    kiln.thread.kiln.objects.ensure_bucket("data")
    kiln.s3.upload_file(str(big), "data", "train/big.bin")
    source = upload_source(kiln, {"train.py": COUNTS_ITS_INPUT})
    request = script_job("store-dl", source, channels={"train": "s3://data/train/"})
    kiln.sagemaker.create_training_job(**request)
    backend, host = kiln.thread.kiln.backend, kiln.settings.workspaces_dir / "store-dl" / "algo-1"
    if backend.stages_remotely:  # on a Ray node, staged there by its host agent
        host = backend.container_path(host)
    channel = host / "input" / "data" / "train"

    def is_downloading() -> bool:
        parts = list(channel.glob(".big.bin.part*")) if channel.is_dir() else []
        return any(p.stat().st_size > 0 for p in parts if p.exists())

    _kill_store_when(kiln, is_downloading, "the channel's download")
    job = kiln.wait("store-dl", timeout=240)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model = model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert model["size.txt"] == str(512 * 1024 * 1024).encode()
    assert kiln.thread.kiln.s3_server.restarts == 1  # type: ignore[union-attr]
    kiln.s3.delete_object(Bucket="data", Key="train/big.bin")


# Random bytes, so that model.tar.gz stays large enough (~100 MiB) to go up in several parts.
TRAINS_A_LARGE_MODEL = """
import hashlib, os
data = os.urandom(100 * 1024 * 1024)
model = os.environ["SM_MODEL_DIR"]
open(os.path.join(model, "weights.bin"), "wb").write(data)
open(os.path.join(model, "weights.sha256"), "w").write(hashlib.sha256(data).hexdigest())
"""


def test_job_uploading_when_the_store_is_killed_completes_with_its_model(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": TRAINS_A_LARGE_MODEL})
    kiln.sagemaker.create_training_job(**script_job("store-up", source, output="s3://out/jobs"))
    storage = kiln.settings.storage_dir / "out"

    def is_uploading() -> bool:
        return any(storage.rglob(".rclone_temp_multipart_*")) if storage.is_dir() else False

    _kill_store_when(kiln, is_uploading, "the model's multipart upload")
    job = kiln.wait("store-up", timeout=240)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model = model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert hashlib.sha256(model["weights.bin"]).hexdigest() == model["weights.sha256"].decode()
    assert not list(storage.rglob(".rclone_temp_multipart_*"))  # the lost upload's parts too
