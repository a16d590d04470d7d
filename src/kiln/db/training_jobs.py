"""The training-job store: records in, records out; no SageMaker shapes here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from kiln.db.resources import DuplicateNameError, RecordStore, RowRecord
from kiln.db.tables import training_jobs
from kiln.errors import ResourceInUseError


@dataclass
class TrainingJobRecord(RowRecord):
    """One training job as stored: its request (``spec``) and what happened (``state``)."""

    name: str
    arn: str
    status: str
    secondary_status: str
    creation_time: float
    last_modified_time: float
    spec: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)
    end_time: float | None = None
    owner: str | None = None
    """The server that claimed the job to run it (``server_leases``); None while queued."""


class TrainingJobStore(RecordStore[TrainingJobRecord]):
    """The training-job records."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, training_jobs, TrainingJobRecord)

    def add(self, record: TrainingJobRecord) -> None:
        """Insert a new record; ``ResourceInUseError`` if the name is taken."""
        try:
            super().add(record)
        except DuplicateNameError:
            raise ResourceInUseError(
                "Training job names must be unique within an AWS account and region, "
                f"and a training job with this name already exists ({record.arn})"
            ) from None

    def with_status(self, statuses: Sequence[str]) -> list[TrainingJobRecord]:
        """Every record whose status is one of ``statuses``, oldest first."""
        return self.all(statuses)
