"""The training-job store: records in, records out; no SageMaker shapes here."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Row, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiln.db.listing import ListQuery, list_page
from kiln.db.tables import training_jobs
from kiln.errors import ResourceInUseError


@dataclass
class TrainingJobRecord:
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

    @classmethod
    def from_row(cls, row: Row[Any]) -> TrainingJobRecord:
        """Build a record from a ``training_jobs`` row."""
        m = row._mapping
        return cls(
            name=m["name"],
            arn=m["arn"],
            status=m["status"],
            secondary_status=m["secondary_status"],
            creation_time=m["creation_time"],
            last_modified_time=m["last_modified_time"],
            end_time=m["end_time"],
            spec=dict(m["spec"]),
            state=dict(m["state"]),
        )

    def columns(self) -> dict[str, Any]:
        """The record as column values."""
        return {
            "name": self.name,
            "arn": self.arn,
            "status": self.status,
            "secondary_status": self.secondary_status,
            "creation_time": self.creation_time,
            "last_modified_time": self.last_modified_time,
            "end_time": self.end_time,
            "spec": self.spec,
            "state": self.state,
        }


class TrainingJobStore:
    """Reads and writes training-job records.

    Writers change a record only through ``modify``, which serialises read-modify-write cycles
    in this process (the API and the job runners both change jobs), so no update is lost.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_lock = threading.Lock()

    def add(self, record: TrainingJobRecord) -> None:
        """Insert a new record; ``ResourceInUseError`` if the name is taken."""
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(training_jobs).values(**record.columns()))
        except IntegrityError:
            raise ResourceInUseError(
                f"Training job names must be unique within an AWS account and region, "
                f"and a training job with this name already exists ({record.arn})"
            ) from None

    def get(self, name: str) -> TrainingJobRecord | None:
        """The record named ``name``, or None."""
        with self._engine.connect() as connection:
            row = connection.execute(
                select(training_jobs).where(training_jobs.c.name == name)
            ).first()
        return None if row is None else TrainingJobRecord.from_row(row)

    def modify(
        self, name: str, change: Callable[[TrainingJobRecord], None]
    ) -> TrainingJobRecord | None:
        """Apply ``change`` to the stored record and write it back; None if there is none."""
        with self._write_lock, self._engine.begin() as connection:
            row = connection.execute(
                select(training_jobs).where(training_jobs.c.name == name)
            ).first()
            if row is None:
                return None
            record = TrainingJobRecord.from_row(row)
            record.state = copy.deepcopy(record.state)
            change(record)
            connection.execute(
                update(training_jobs).where(training_jobs.c.name == name).values(**record.columns())
            )
        return record

    def page(self, query: ListQuery) -> tuple[list[TrainingJobRecord], str | None]:
        """One page of records and the next page's token."""
        with self._engine.connect() as connection:
            rows, token = list_page(connection, training_jobs, query)
        return [TrainingJobRecord.from_row(r) for r in rows], token

    def with_status(self, statuses: Sequence[str]) -> list[TrainingJobRecord]:
        """Every record whose status is one of ``statuses``, oldest first."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                select(training_jobs)
                .where(training_jobs.c.status.in_(statuses))
                .order_by(training_jobs.c.creation_time)
            ).all()
        return [TrainingJobRecord.from_row(r) for r in rows]
