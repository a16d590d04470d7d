"""A store for SageMaker resources that share one row shape: models, endpoint configs, endpoints.

Rows hold the validated request (``spec``), what Kiln learnt (``state``), a status and times.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, Row, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiln.db.listing import ListQuery, list_page


class DuplicateNameError(Exception):
    """A row with this name exists already."""


@dataclass
class ResourceRecord:
    """One stored resource."""

    name: str
    arn: str
    status: str
    creation_time: float
    last_modified_time: float
    spec: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: Row[Any]) -> ResourceRecord:
        """Build a record from a row."""
        m = row._mapping
        return cls(
            name=m["name"],
            arn=m["arn"],
            status=m["status"],
            creation_time=m["creation_time"],
            last_modified_time=m["last_modified_time"],
            spec=dict(m["spec"]),
            state=copy.deepcopy(dict(m["state"])),
        )

    def columns(self) -> dict[str, Any]:
        """The record as column values."""
        return {
            "name": self.name,
            "arn": self.arn,
            "status": self.status,
            "creation_time": self.creation_time,
            "last_modified_time": self.last_modified_time,
            "spec": self.spec,
            "state": self.state,
        }


class ResourceStore:
    """Reads and writes the records of one table; ``modify`` serialises writers in-process."""

    def __init__(self, engine: Engine, table: Table) -> None:
        self._engine = engine
        self._table = table
        self._write_lock = threading.Lock()

    def add(self, record: ResourceRecord) -> None:
        """Insert; ``DuplicateNameError`` if the name is taken."""
        try:
            with self._engine.begin() as connection:
                connection.execute(insert(self._table).values(**record.columns()))
        except IntegrityError:
            raise DuplicateNameError(record.name) from None

    def get(self, name: str) -> ResourceRecord | None:
        """The record named ``name``, or None."""
        with self._engine.connect() as connection:
            row = connection.execute(select(self._table).where(self._table.c.name == name)).first()
        return None if row is None else ResourceRecord.from_row(row)

    def modify(self, name: str, change: Callable[[ResourceRecord], None]) -> ResourceRecord | None:
        """Apply ``change`` to the stored record and write it back; None if there is none."""
        with self._write_lock, self._engine.begin() as connection:
            row = connection.execute(select(self._table).where(self._table.c.name == name)).first()
            if row is None:
                return None
            record = ResourceRecord.from_row(row)
            change(record)
            connection.execute(
                update(self._table).where(self._table.c.name == name).values(**record.columns())
            )
        return record

    def remove(self, name: str) -> bool:
        """Delete the record; whether there was one."""
        with self._write_lock, self._engine.begin() as connection:
            result = connection.execute(delete(self._table).where(self._table.c.name == name))
        return bool(result.rowcount)

    def page(self, query: ListQuery) -> tuple[list[ResourceRecord], str | None]:
        """One page of records and the next page's token."""
        with self._engine.connect() as connection:
            rows, token = list_page(connection, self._table, query)
        return [ResourceRecord.from_row(r) for r in rows], token

    def all(self, statuses: Sequence[str] | None = None) -> list[ResourceRecord]:
        """Every record (with one of ``statuses``, if given), oldest first."""
        statement = select(self._table).order_by(self._table.c.creation_time)
        if statuses is not None:
            statement = statement.where(self._table.c.status.in_(statuses))
        with self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [ResourceRecord.from_row(r) for r in rows]
