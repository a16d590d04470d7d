"""Training-job states and their transitions (CONTRACTS.md §3.2).

``TrainingJobStatus``:
    InProgress  accepted; waiting for capacity, preparing, running or uploading
    Stopping    StopTrainingJob received; the script has its grace period
    Completed   the script exited 0 and its artifacts are stored
    Failed      the script, its inputs or Kiln failed; FailureReason says which
    Stopped     stopped by request or by MaxRuntimeInSeconds

``SecondaryStatus`` (the finer step, recorded with timestamps in SecondaryStatusTransitions):
    Starting → Pending (waiting for capacity) → Downloading → Training → Uploading → Completed;
    Failed; Stopping → Stopped | MaxRuntimeExceeded; Restarting / Interrupted around restarts.
"""

from __future__ import annotations

import time
from typing import Any

from kiln.db import TrainingJobRecord

TERMINAL = ("Completed", "Failed", "Stopped")

_PRIMARY = {
    "Starting": "InProgress",
    "Pending": "InProgress",
    "Downloading": "InProgress",
    "Training": "InProgress",
    "Uploading": "InProgress",
    "Interrupted": "InProgress",
    "Restarting": "InProgress",
    "Stopping": "Stopping",
    "Completed": "Completed",
    "Failed": "Failed",
    "Stopped": "Stopped",
    "MaxRuntimeExceeded": "Stopped",
}

MESSAGES = {
    "Starting": "Launching requested ML instances",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "Training job stopped",
    "MaxRuntimeExceeded": "Training job stopped: it ran past StoppingCondition.MaxRuntimeInSeconds",
}


def transition(
    record: TrainingJobRecord, secondary: str, message: str | None = None, now: float | None = None
) -> None:
    """Move ``record`` to ``secondary`` (and the primary status it implies), with a timestamp."""
    now = time.time() if now is None else now
    transitions: list[dict[str, Any]] = record.state.setdefault("SecondaryStatusTransitions", [])
    if transitions and "EndTime" not in transitions[-1]:
        transitions[-1]["EndTime"] = now
    transitions.append(
        {
            "Status": secondary,
            "StartTime": now,
            "StatusMessage": message or MESSAGES.get(secondary, ""),
        }
    )
    record.secondary_status = secondary
    record.status = _PRIMARY[secondary]
    record.last_modified_time = now
    if record.status in TERMINAL:
        transitions[-1]["EndTime"] = now
        record.end_time = now


def is_terminal(record: TrainingJobRecord) -> bool:
    """Whether the job has finished for good."""
    return record.status in TERMINAL
