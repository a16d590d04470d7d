"""Stores of SageMaker resources: one generic ``RecordStore`` over a table and a record type.

Rows hold the validated request (``spec``), what Kiln learnt (``state``), a status and times.
``ResourceStore`` serves models, endpoint configs and endpoints; training jobs use the same
store with their own record type (more columns). A database that cannot be used now (its disk
is full, the server is down) raises ``ServiceUnavailableError``: the caller may try again later.
"""

from __future__ import annotations

import copy
import dataclasses
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, Self, TypeVar

from sqlalchemy import Engine, Row, Table, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from kiln.db.listing import ListQuery, list_page
from kiln.errors import ServiceUnavailableError


class DuplicateNameError(Exception):
    """A row with this name exists already."""


class RowRecord:
    """A dataclass whose fields are its table's columns, by the same names."""

    @classmethod
    def from_row(cls, row: Row[Any]) -> Self:
        """Build a record from a row (its JSON values copied: the record is the caller's)."""
        return cls(**copy.deepcopy(dict(row._mapping)))

    def columns(self) -> dict[str, Any]:
        """The record as column values."""
        values: dict[str, Any] = dataclasses.asdict(self)  # type: ignore[call-overload]
        return values


@dataclass
class ResourceRecord(RowRecord):
    """One stored resource."""

    name: str
    arn: str
    status: str
    creation_time: float
    last_modified_time: float
    spec: dict[str, Any]
    state: dict[str, Any] = field(default_factory=dict)


class Record(Protocol):
    """What a store needs of a record type."""

    name: str

    @classmethod
    def from_row(cls: type[R], row: Row[Any]) -> R:
        """Build a record from a row."""

    def columns(self) -> dict[str, Any]:
        """The record as column values."""


R = TypeVar("R", bound=Record)


class RecordStore(Generic[R]):
    """Reads and writes the records of one table; ``modify`` serialises writers in-process.

    The API and the controllers both change records, so every read-modify-write goes through
    ``modify`` under one lock, and a row lock against other servers on the same database: no
    update is lost.
    """

    def __init__(self, engine: Engine, table: Table, record_type: type[R]) -> None:
        self._engine = engine
        self._table = table
        self._record_type = record_type
        self._write_lock = threading.Lock()

    def add(self, record: R) -> None:
        """Insert; ``DuplicateNameError`` if the name is taken."""
        try:
            with _available(), self._engine.begin() as connection:
                connection.execute(insert(self._table).values(**record.columns()))
        except IntegrityError:
            raise DuplicateNameError(record.name) from None

    def get(self, name: str) -> R | None:
        """The record named ``name``, or None."""
        with _available(), self._engine.connect() as connection:
            row = connection.execute(select(self._table).where(self._table.c.name == name)).first()
        return None if row is None else self._record_type.from_row(row)

    def name_for_arn(self, arn: str) -> str | None:
        """The name of the record whose ARN is ``arn``, or None."""
        with _available(), self._engine.connect() as connection:
            row = connection.execute(
                select(self._table.c.name).where(self._table.c.arn == arn)
            ).first()
        return None if row is None else str(row[0])

    def modify(self, name: str, change: Callable[[R], None]) -> R | None:
        """Apply ``change`` to the stored record and write it back; None if there is none."""
        with self._write_lock, _available(), self._engine.begin() as connection:
            # FOR UPDATE: another server's modify of this row waits (SQLite has one writer).
            statement = select(self._table).where(self._table.c.name == name).with_for_update()
            row = connection.execute(statement).first()
            if row is None:
                return None
            record = self._record_type.from_row(row)
            change(record)
            connection.execute(
                update(self._table).where(self._table.c.name == name).values(**record.columns())
            )
        return record

    def remove(self, name: str) -> bool:
        """Delete the record; whether there was one."""
        with self._write_lock, _available(), self._engine.begin() as connection:
            result = connection.execute(delete(self._table).where(self._table.c.name == name))
        return bool(result.rowcount)

    def page(self, query: ListQuery) -> tuple[list[R], str | None]:
        """One page of records and the next page's token."""
        with _available(), self._engine.connect() as connection:
            rows, token = list_page(connection, self._table, query)
        return [self._record_type.from_row(r) for r in rows], token

    def all(self, statuses: Sequence[str] | None = None) -> list[R]:
        """Every record (with one of ``statuses``, if given), oldest first."""
        statement = select(self._table).order_by(self._table.c.creation_time)
        if statuses is not None:
            statement = statement.where(self._table.c.status.in_(statuses))
        with _available(), self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [self._record_type.from_row(r) for r in rows]


@contextmanager
def _available() -> Iterator[None]:
    """Turn "the database cannot be used now" into the error callers can answer and retry."""
    try:
        yield
    except OperationalError as e:
        # e.orig is the driver's own words ("database or disk is full"), without the SQL.
        raise ServiceUnavailableError(f"Kiln's metadata store cannot be used now: {e.orig}") from e


class ResourceStore(RecordStore[ResourceRecord]):
    """Models, endpoint configs or endpoints: the records of one resource table."""

    def __init__(self, engine: Engine, table: Table) -> None:
        super().__init__(engine, table, ResourceRecord)
