"""A job whose model cannot be stored keeps it on disk, says where, and for how long."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import LOCAL_BACKEND_ONLY, Kiln, make_settings, script_job, start_kiln, upload_source

# The workspace kept is the server's; on Ray the model stays in its node's (docs/scale-out.md).
pytestmark = [pytest.mark.slow, LOCAL_BACKEND_ONLY]

TRAINS = """
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("trained")
"""


def _block_bucket(kiln: Kiln, bucket: str) -> None:
    """Make ``bucket`` impossible to create: a file stands where its folder would be."""
    (kiln.settings.storage_dir / bucket).write_text("not a bucket")


@pytest.fixture
def kiln_keeping_briefly(tmp_path: Path, database_url: str) -> Iterator[Kiln]:
    """A server that keeps a failed upload's files for 3.6 seconds."""
    settings = make_settings(tmp_path / "home", database_url, KILN_FAILED_UPLOAD_KEEP_HOURS="0.001")
    with start_kiln(settings) as kiln:
        yield kiln


def test_a_model_that_cannot_be_stored_is_kept_and_the_reason_says_where(kiln: Kiln) -> None:
    _block_bucket(kiln, "blocked")
    source = upload_source(kiln, {"train.py": TRAINS})
    kiln.sagemaker.create_training_job(**script_job("unstored", source, output="s3://blocked/x"))
    job = kiln.wait("unstored")
    assert job["TrainingJobStatus"] == "Failed"
    workspace = kiln.settings.workspaces_dir / "unstored"
    reason = job["FailureReason"]
    assert "storing the model at s3://blocked/x/unstored/output/model.tar.gz failed" in reason
    assert f"kept in {workspace}" in reason
    assert "KILN_FAILED_UPLOAD_KEEP_HOURS" in reason
    assert (workspace / "algo-1" / "model" / "model.txt").read_text() == "trained"
    assert not (workspace / "model.tar.gz").exists()  # what can be made again is not kept


def test_a_kept_workspace_is_removed_once_its_time_is_up(kiln_keeping_briefly: Kiln) -> None:
    kiln = kiln_keeping_briefly
    _block_bucket(kiln, "blocked")
    source = upload_source(kiln, {"train.py": TRAINS})
    kiln.sagemaker.create_training_job(**script_job("expiring", source, output="s3://blocked/x"))
    assert kiln.wait("expiring")["TrainingJobStatus"] == "Failed"
    workspace = kiln.settings.workspaces_dir / "expiring"
    assert workspace.is_dir()
    deadline = time.monotonic() + 30  # kept 3.6 s, then the sweeper's next round (every 5 s)
    while workspace.exists():
        assert time.monotonic() < deadline, "the kept workspace was never removed"
        time.sleep(0.1)
