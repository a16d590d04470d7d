"""A job whose model cannot be stored keeps it on disk, says where, and for how long."""

from __future__ import annotations

import pytest

from conftest import Kiln, script_job, upload_source

pytestmark = pytest.mark.slow

TRAINS = """
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("trained")
"""


def _block_bucket(kiln: Kiln, bucket: str) -> None:
    """Make ``bucket`` impossible to create: a file stands where its folder would be."""
    (kiln.settings.storage_dir / bucket).write_text("not a bucket")


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
