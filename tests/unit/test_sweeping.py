"""The sweeper's decisions, as tables: what it saw → what it does."""

from __future__ import annotations

import pytest

from kiln.services.sweeping import (
    LOST_RUNNER,
    EndpointAction,
    EndpointDecision,
    EndpointView,
    JobEnding,
    JobView,
    WorkspaceView,
    endpoint_decision,
    job_decision,
    should_remove_workspace,
)

FAILED, STOPPED = "Failed", "Stopped"


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        # A runner carries it on, or none ever began it (queued): nothing to do.
        (JobView("j", "InProgress", is_launched=True, has_runner=True), None),
        (JobView("j", "InProgress", is_launched=False, has_runner=False), None),
        (JobView("j", "Completed", is_launched=True, has_runner=False), None),
        # Launched, no runner: it lost its worker.
        (
            JobView("j", "InProgress", is_launched=True, has_runner=False),
            JobEnding("j", "InProgress", FAILED, LOST_RUNNER),
        ),
        (
            JobView("j", "InProgress", True, False, crash="KeyError: 'x'"),
            JobEnding("j", "InProgress", FAILED, f"{LOST_RUNNER}: KeyError: 'x'"),
        ),
        # Stopping was asked for: it ends as asked.
        (
            JobView("j", "Stopping", is_launched=True, has_runner=False),
            JobEnding("j", "Stopping", STOPPED, None),
        ),
    ],
)
def test_job_decision(job: JobView, expected: JobEnding | None) -> None:
    assert job_decision(job) == expected


WAKE, SETTLE, FAIL = EndpointAction.WAKE, EndpointAction.SETTLE, EndpointAction.FAIL
T = 100.0  # the record's last change; errors at T+1 are fresh, at T-1 stale


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        # A worker carries it on, or nothing is in flight.
        (EndpointView("e", "Creating", T, has_worker=True, has_fleet=False), None),
        (EndpointView("e", "InService", T, has_worker=False, has_fleet=True), None),
        (EndpointView("e", "Failed", T, has_worker=False, has_fleet=False), None),
        # Deleting is always carried on: a worker deletes.
        (
            EndpointView("e", "Deleting", T, False, False, "OSError: x", T + 1),
            EndpointDecision("e", "Deleting", WAKE),
        ),
        # Replicas serve but the record still says Creating: settle it InService.
        (
            EndpointView("e", "Creating", T, False, True, "ServiceUnavailable", T + 1),
            EndpointDecision("e", "Creating", SETTLE),
        ),
        (EndpointView("e", "Creating", T, False, True), EndpointDecision("e", "Creating", SETTLE)),
        # No worker and no error known (not woken yet): wake one.
        (EndpointView("e", "Creating", T, False, False), EndpointDecision("e", "Creating", WAKE)),
        (EndpointView("e", "Updating", T, False, True), EndpointDecision("e", "Updating", WAKE)),
        # The error is older than the record's last change: an earlier request's, ignored.
        (
            EndpointView("e", "Updating", T, False, True, "OSError: old", T - 1),
            EndpointDecision("e", "Updating", WAKE),
        ),
        # The worker died of an error after the last change.
        (
            EndpointView("e", "Creating", T, False, False, "OSError: disk", T + 1),
            EndpointDecision("e", "Creating", FAIL, "Creating the endpoint failed: OSError: disk"),
        ),
        (
            EndpointView("e", "Updating", T, False, True, "OSError: disk", T + 1),
            EndpointDecision("e", "Updating", SETTLE, "Update failed: OSError: disk"),
        ),
        (
            EndpointView("e", "Updating", T, False, False, "OSError: disk", T + 1),
            EndpointDecision("e", "Updating", FAIL, "Updating the endpoint failed: OSError: disk"),
        ),
    ],
)
def test_endpoint_decision(endpoint: EndpointView, expected: EndpointDecision | None) -> None:
    assert endpoint_decision(endpoint) == expected


NOW = 1000.0


@pytest.mark.parametrize(
    ("workspace", "at_start", "removed"),
    [
        (WorkspaceView("w", "InProgress", has_runner=True), False, False),
        (WorkspaceView("w", "Completed", has_runner=True), True, False),  # its runner cleans up
        (WorkspaceView("w", None, has_runner=False), False, True),  # no such job
        (WorkspaceView("w", "Completed", has_runner=False), False, True),
        (WorkspaceView("w", "Failed", False, kept_until=NOW + 1), False, False),  # kept
        (WorkspaceView("w", "Failed", False, kept_until=NOW + 1), True, False),
        (WorkspaceView("w", "Failed", False, kept_until=NOW), False, True),  # its time is up
        # An unfinished job without a runner: a runner may be starting, unless nothing runs yet.
        (WorkspaceView("w", "InProgress", has_runner=False), False, False),
        (WorkspaceView("w", "InProgress", has_runner=False), True, True),
    ],
)
def test_should_remove_workspace(workspace: WorkspaceView, at_start: bool, removed: bool) -> None:
    assert should_remove_workspace(workspace, NOW, at_start=at_start) is removed
