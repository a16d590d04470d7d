"""The restart rule for one job record: resume, stop, fail, or fail keeping the trained model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kiln.db import TrainingJobRecord
from kiln.services.training.kept_workspaces import KeptWorkspace
from kiln.services.training.scheduler import RESTART_FAILURE, _recovered

KEPT = KeptWorkspace(Path("/home/k/workspaces/job"), 4_000_000_000.0)


def _record(status: str, secondary: str, **spec: Any) -> TrainingJobRecord:
    return TrainingJobRecord("job", "arn", status, secondary, 0.0, 0.0, dict(spec), {})


@pytest.mark.parametrize(
    ("status", "secondary", "spec", "kept", "expected", "reason_has"),
    [
        ("InProgress", "Training", {}, None, "Failed", RESTART_FAILURE),
        ("InProgress", "Uploading", {}, KEPT, "Failed", "kept in /home/k/workspaces/job"),
        ("InProgress", "Training", {}, KEPT, "Failed", RESTART_FAILURE),
        ("InProgress", "Training", {"CheckpointConfig": {"S3Uri": "s3://c/p"}}, None,
         "InProgress", None),
        ("Stopping", "Stopping", {}, None, "Stopped", None),
    ],
)  # fmt: skip
def test_restart_rule_table(
    status: str,
    secondary: str,
    spec: dict[str, Any],
    kept: KeptWorkspace | None,
    expected: str,
    reason_has: str | None,
) -> None:
    record = _record(status, secondary, **spec)
    _recovered(kept, record)
    assert record.status == expected
    reason = record.state.get("FailureReason")
    assert (reason_has is None and reason is None) or (reason_has or "") in (reason or "")
    assert (KeptWorkspace.of(record.state) is not None) == (secondary == "Uploading" and bool(kept))
