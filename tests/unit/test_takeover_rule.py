"""The restart rule for a job whose server's lease ran out, applied by another server."""

from __future__ import annotations

from typing import Any

import pytest

from kiln.db import TrainingJobRecord
from kiln.services.training.scheduler import _pending, _taken_over, takeover_failure

CHECKPOINTS = {"CheckpointConfig": {"S3Uri": "s3://c/p"}}


def _record(status: str, owner: str | None, launched: bool, **spec: Any) -> TrainingJobRecord:
    state = {"kiln": {"launched": launched}}
    return TrainingJobRecord("job", "arn", status, "Training", 0.0, 0.0, spec, state, owner=owner)


@pytest.mark.parametrize(
    ("status", "owner", "launched", "spec", "status_after", "owner_after", "is_taken"),
    [
        ("InProgress", "dead", True, {}, "Failed", None, True),
        ("InProgress", "dead", True, CHECKPOINTS, "InProgress", None, True),  # Restarting
        ("Stopping", "dead", True, {}, "Stopped", None, True),
        ("InProgress", "dead", False, {}, "InProgress", None, True),  # claimed, queued again
        ("InProgress", "other", True, {}, "InProgress", "other", False),  # another took it
        ("Completed", "dead", True, {}, "Completed", "dead", False),  # it ended meanwhile
    ],
)  # fmt: skip
def test_takeover_rule_table(
    status: str,
    owner: str,
    launched: bool,
    spec: dict[str, Any],
    status_after: str,
    owner_after: str | None,
    is_taken: bool,
) -> None:
    record, taken = _record(status, owner, launched, **spec), []
    _taken_over("dead", taken, record)
    assert (record.status, record.owner, bool(taken)) == (status_after, owner_after, is_taken)


def test_a_job_taken_over_without_checkpoints_fails_naming_the_dead_server() -> None:
    record = _record("InProgress", "kiln-a-1234", True)
    _taken_over("kiln-a-1234", [], record)
    assert record.state["FailureReason"] == takeover_failure("kiln-a-1234")
    assert "kiln-a-1234" in record.state["FailureReason"]


def test_a_job_taken_over_with_checkpoints_restarts_naming_the_dead_server() -> None:
    record = _record("InProgress", "kiln-a-1234", True, **CHECKPOINTS)
    _taken_over("kiln-a-1234", [], record)
    assert record.secondary_status == "Restarting"
    assert record.state["kiln"] == {"restarts": 1}
    assert "kiln-a-1234" in record.state["SecondaryStatusTransitions"][-1]["StatusMessage"]


@pytest.mark.parametrize(
    ("owner", "launched", "expected"),
    [(None, False, "Pending"), ("me", False, "Pending"), ("b", False, "Starting"),
     ("me", True, "Starting")],
)  # fmt: skip
def test_only_a_queued_job_no_other_server_holds_waits_for_capacity_here(
    owner: str | None, launched: bool, expected: str
) -> None:
    record = _record("InProgress", owner, launched)
    record.secondary_status = "Starting"
    _pending("me", "Waiting for capacity", record)
    assert record.secondary_status == expected
