"""The sweeper's decisions: work that no worker of this server carries on, and what ends it.

Pure functions from what the sweeper observed to what it should do; ``sweeper.Sweeper`` runs
them every few seconds and the scheduler and endpoint controller apply them.

Training jobs: a job that is ``InProgress`` or ``Stopping`` and was launched (a runner began
it) but that no runner of this server runs any more has lost its worker (the runner crashed, or
gave up recording the end at shutdown). It ends ``Failed`` with what the runner died of, or
``Stopped`` if it was stopping. A job not yet launched is queued: the scheduler starts it.

Endpoints: one that is ``Creating``, ``Updating`` or ``Deleting`` with no worker thread is
finished by what is known: replicas serving (a fleet) settle it ``InService``; a worker that died
of an error after the record's last change fails it with that error (an update rolls back to the
old replicas, as a failed update does); otherwise its worker is woken to carry on.

Workspaces: a folder under ``workspaces/`` is removed once no runner uses it and its job is over
(or gone), unless the job keeps it after a failed upload; at start, before any runner, the
folders of unfinished jobs go too (a launch re-creates them).

To be race-free the callers observe "has a worker" both before and after reading the records
(a worker that starts or ends meanwhile counts as live), and apply a decision only if the
record still has the status it was made on.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

_TERMINAL_JOB = ("Completed", "Failed", "Stopped")
_ENDPOINT_IN_FLIGHT = ("Creating", "Updating", "Deleting")

LOST_RUNNER = (
    "InternalServerError: Kiln's runner for this job ended without recording how the job ended "
    "(see the server log)"
)
LOST_WORKER = "Kiln's worker for this endpoint stopped (see the server log)"


@dataclass(frozen=True)
class JobView:
    """What the sweeper saw of an unfinished training job."""

    name: str
    status: str
    is_launched: bool
    has_runner: bool
    crash: str | None = None


@dataclass(frozen=True)
class JobEnding:
    """End ``name``, still in ``status``, as ``secondary`` (Failed, Stopped) for ``reason``."""

    name: str
    status: str
    secondary: str
    reason: str | None


def job_decision(job: JobView) -> JobEnding | None:
    """How to end a job that lost its runner; None if it has one or was never launched."""
    if job.has_runner or not job.is_launched or job.status not in ("InProgress", "Stopping"):
        return None
    if job.status == "Stopping":
        return JobEnding(job.name, job.status, "Stopped", None)
    reason = LOST_RUNNER if job.crash is None else f"{LOST_RUNNER}: {job.crash}"
    return JobEnding(job.name, job.status, "Failed", reason)


class EndpointAction(Enum):
    """What ends an endpoint's unfinished change."""

    SETTLE = "settle"  # InService on the replicas that serve; a failed update says so
    FAIL = "fail"  # Failed, with the reason
    WAKE = "wake"  # start a worker: it carries the change on


@dataclass(frozen=True)
class EndpointView:
    """What the sweeper saw of an endpoint (times in epoch seconds)."""

    name: str
    status: str
    last_modified: float
    has_worker: bool
    has_fleet: bool
    error: str | None = None
    error_at: float = 0.0


@dataclass(frozen=True)
class EndpointDecision:
    """Apply ``action`` to ``name`` if it is still in ``status``; ``reason`` for FailureReason."""

    name: str
    status: str
    action: EndpointAction
    reason: str | None = None


def endpoint_decision(endpoint: EndpointView) -> EndpointDecision | None:
    """How to finish an endpoint change no worker carries on; None if nothing is to be done."""
    if endpoint.has_worker or endpoint.status not in _ENDPOINT_IN_FLIGHT:
        return None
    name, status = endpoint.name, endpoint.status
    if status == "Deleting":
        return EndpointDecision(name, status, EndpointAction.WAKE)
    if status == "Creating" and endpoint.has_fleet:
        return EndpointDecision(name, status, EndpointAction.SETTLE)
    # An error older than the record's last change belongs to an earlier request.
    if endpoint.error is None or endpoint.error_at < endpoint.last_modified:
        return EndpointDecision(name, status, EndpointAction.WAKE)
    if endpoint.has_fleet:  # an update: the replicas from before it still serve
        return EndpointDecision(
            name, status, EndpointAction.SETTLE, f"Update failed: {endpoint.error}"
        )
    what = "Creating" if status == "Creating" else "Updating"
    return EndpointDecision(
        name, status, EndpointAction.FAIL, f"{what} the endpoint failed: {endpoint.error}"
    )


@dataclass(frozen=True)
class WorkspaceView:
    """A job workspace folder and what is known of its job (None: no such job)."""

    name: str
    job_status: str | None
    has_runner: bool
    kept_until: float | None = None


def should_remove_workspace(workspace: WorkspaceView, now: float, *, at_start: bool) -> bool:
    """Whether a job workspace folder is left over (see the module docstring)."""
    if workspace.has_runner:
        return False
    if workspace.kept_until is not None and now < workspace.kept_until:
        return False
    if workspace.job_status is None or workspace.job_status in _TERMINAL_JOB:
        return True
    return at_start  # an unfinished job's runner may be about to start: only at start is it not
