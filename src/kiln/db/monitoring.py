"""Model Monitor's rows: job definitions, monitoring schedules and their executions.

Plain rows in and out (no AWS shapes here). Two rules are the database's, so that no check can
race: one schedule per endpoint and monitoring type, and one execution per schedule generation
and scheduled time (``begin_execution`` is exactly-once even across servers and restarts). A
schedule's *generation* is fixed at creation: a schedule deleted and created again under the
same name starts a new history, while the executions of the old one stay listed (as on AWS).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Engine, Table, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiln.db.listing import ListQuery, list_page
from kiln.db.resources import DuplicateNameError, _available
from kiln.db.tables import monitoring_executions, monitoring_job_definitions, monitoring_schedules

_SCHEDULED = "Scheduled"  # the one ScheduleStatus whose schedules run
_UNFINISHED = ("Pending", "InProgress", "Stopping")


class ScheduleOverlapError(Exception):
    """The endpoint already has a schedule of this monitoring type (its name is the message)."""


class DefinitionInUseError(Exception):
    """A schedule runs this job definition (the schedule's name is the message)."""


@dataclass(frozen=True, slots=True)
class DefinitionRow:
    """One ``Create…JobDefinition`` request as stored."""

    monitoring_type: str
    name: str
    arn: str
    endpoint_name: str
    creation_time: float
    spec: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One monitoring schedule: its request, the job it runs (``spec["Definition"]``), status."""

    name: str
    arn: str
    generation: str
    status: str
    monitoring_type: str
    endpoint_name: str
    job_definition_name: str | None
    creation_time: float
    last_modified_time: float
    failure_reason: str | None
    spec: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExecutionRow:
    """One execution (named by its processing job) of one window of a schedule."""

    name: str
    schedule_name: str
    schedule_generation: str
    scheduled_time: float
    window_start: float
    window_end: float
    status: str
    monitoring_type: str
    endpoint_name: str
    job_definition_name: str | None
    creation_time: float
    last_modified_time: float
    failure_reason: str | None
    report_uri: str | None
    job: Mapping[str, Any]


@dataclass(frozen=True)
class ScheduleFilter:
    """``ListMonitoringSchedules``' own filters."""

    endpoint_name: str | None = None
    job_definition_name: str | None = None
    monitoring_type: str | None = None


@dataclass(frozen=True)
class ExecutionFilter:
    """``ListMonitoringExecutions``' own filters (times in epoch seconds)."""

    schedule_name: str | None = None
    endpoint_name: str | None = None
    job_definition_name: str | None = None
    monitoring_type: str | None = None
    scheduled_after: float | None = None
    scheduled_before: float | None = None


class MonitoringRows:
    """Reads and writes Model Monitor's three tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._write_lock = threading.Lock()

    # -- job definitions -------------------------------------------------------------------

    def add_definition(self, row: DefinitionRow) -> None:
        """Insert; ``DuplicateNameError`` if the type already has a definition of that name."""
        try:
            with _available(), self._engine.begin() as connection:
                connection.execute(insert(monitoring_job_definitions).values(**_values(row)))
        except IntegrityError:
            raise DuplicateNameError(row.name) from None

    def definition(self, monitoring_type: str, name: str) -> DefinitionRow | None:
        """The definition of that type and name, if there is one."""
        c = monitoring_job_definitions.c
        where = (c.monitoring_type == monitoring_type, c.name == name)
        found = self._first(monitoring_job_definitions, where)
        return None if found is None else DefinitionRow(**found)

    def definitions_page(
        self, monitoring_type: str, query: ListQuery, endpoint_name: str | None
    ) -> tuple[list[DefinitionRow], str | None]:
        """One page of one type's definitions (on ``endpoint_name``, if given)."""
        c = monitoring_job_definitions.c
        where = [c.monitoring_type == monitoring_type]
        if endpoint_name:
            where.append(c.endpoint_name == endpoint_name)
        rows, token = self._page(monitoring_job_definitions, query, where)
        return [DefinitionRow(**r) for r in rows], token

    def remove_definition(self, monitoring_type: str, name: str) -> bool:
        """Delete a definition; whether there was one. ``DefinitionInUseError`` while a schedule
        runs it (checked in the same transaction, so a schedule cannot be left without one)."""
        d, s = monitoring_job_definitions.c, monitoring_schedules.c
        with self._write_lock, _available(), self._engine.begin() as connection:
            user = connection.execute(
                select(s.name).where(
                    s.monitoring_type == monitoring_type, s.job_definition_name == name
                )
            ).first()
            if user is not None:
                raise DefinitionInUseError(user[0])
            removed = connection.execute(
                delete(monitoring_job_definitions).where(
                    d.monitoring_type == monitoring_type, d.name == name
                )
            )
        return bool(removed.rowcount)

    # -- schedules -------------------------------------------------------------------------

    def add_schedule(self, row: ScheduleRow) -> None:
        """Insert; ``DuplicateNameError`` for a taken name, ``ScheduleOverlapError`` when the
        endpoint has a schedule of this type already."""
        with self._write_lock:
            try:
                with _available(), self._engine.begin() as connection:
                    connection.execute(insert(monitoring_schedules).values(**_values(row)))
            except IntegrityError:
                raise self._conflict(row) from None

    def schedule(self, name: str) -> ScheduleRow | None:
        """The schedule called ``name``, if there is one."""
        found = self._first(monitoring_schedules, (monitoring_schedules.c.name == name,))
        return None if found is None else ScheduleRow(**found)

    def schedules(self, status: str) -> list[ScheduleRow]:
        """Every schedule in ``status``, oldest first."""
        c = monitoring_schedules.c
        statement = select(monitoring_schedules).where(c.status == status)
        with _available(), self._engine.connect() as connection:
            found = connection.execute(statement.order_by(c.creation_time, c.name)).all()
        return [ScheduleRow(**r._mapping) for r in found]

    def schedules_page(
        self, query: ListQuery, having: ScheduleFilter
    ) -> tuple[list[ScheduleRow], str | None]:
        """One page of schedules."""
        c = monitoring_schedules.c
        where = _equal(
            (c.endpoint_name, having.endpoint_name),
            (c.job_definition_name, having.job_definition_name),
            (c.monitoring_type, having.monitoring_type),
        )
        rows, token = self._page(monitoring_schedules, query, where)
        return [ScheduleRow(**r) for r in rows], token

    def change_schedule(
        self, name: str, change: Callable[[ScheduleRow], ScheduleRow]
    ) -> ScheduleRow | None:
        """Write ``change(row)`` over the stored schedule; None if there is none.
        ``ScheduleOverlapError`` if the change moves it onto another schedule's endpoint and type.
        """
        c = monitoring_schedules.c
        with self._write_lock:
            try:
                with _available(), self._engine.begin() as connection:
                    found = connection.execute(
                        select(monitoring_schedules).where(c.name == name)
                    ).first()
                    if found is None:
                        return None
                    changed = replace(change(ScheduleRow(**found._mapping)), name=name)
                    connection.execute(
                        update(monitoring_schedules)
                        .where(c.name == name)
                        .values(**_values(changed))
                    )
            except IntegrityError:
                raise self._conflict(changed) from None
        return changed

    def remove_schedule(self, name: str) -> bool:
        """Delete a schedule (its executions stay); whether there was one."""
        with self._write_lock, _available(), self._engine.begin() as connection:
            removed = connection.execute(
                delete(monitoring_schedules).where(monitoring_schedules.c.name == name)
            )
        return bool(removed.rowcount)

    # -- executions ------------------------------------------------------------------------

    def begin_execution(
        self,
        schedule_name: str,
        scheduled_time: float,
        window: tuple[float, float],
        processing_job_name: str,
        now: float,
    ) -> bool:
        """Record an execution ``InProgress`` for the schedule's window, exactly once: False when
        the window has one already (here, or by another server), or the schedule is gone or no
        longer ``Scheduled``."""
        s = monitoring_schedules.c
        try:
            with _available(), self._engine.begin() as connection:
                found = connection.execute(
                    select(monitoring_schedules).where(s.name == schedule_name)
                ).first()
                if found is None or found.status != _SCHEDULED:
                    return False
                schedule = ScheduleRow(**found._mapping)
                row = ExecutionRow(
                    name=processing_job_name,
                    schedule_name=schedule.name,
                    schedule_generation=schedule.generation,
                    scheduled_time=scheduled_time,
                    window_start=window[0],
                    window_end=window[1],
                    status="InProgress",
                    monitoring_type=schedule.monitoring_type,
                    endpoint_name=schedule.endpoint_name,
                    job_definition_name=schedule.job_definition_name,
                    creation_time=now,
                    last_modified_time=now,
                    failure_reason=None,
                    report_uri=None,
                    job=dict(schedule.spec.get("Definition", {})),
                )
                connection.execute(insert(monitoring_executions).values(**_values(row)))
        except IntegrityError:
            return False  # the unique window (or job name): someone began it first
        return True

    def finish_execution(
        self,
        schedule_name: str,
        scheduled_time: float,
        status: str,
        failure_reason: str | None,
        report_uri: str | None,
        now: float,
    ) -> bool:
        """Record how the unfinished execution of that window ended; False if there is none."""
        e = monitoring_executions.c
        with _available(), self._engine.begin() as connection:
            changed = connection.execute(
                update(monitoring_executions)
                .where(
                    e.schedule_name == schedule_name,
                    e.scheduled_time == scheduled_time,
                    e.status.in_(_UNFINISHED),
                )
                .values(
                    status=status,
                    failure_reason=None if failure_reason is None else failure_reason[:1024],
                    report_uri=report_uri,
                    last_modified_time=now,
                )
            )
        return bool(changed.rowcount)

    def execution(self, name: str) -> ExecutionRow | None:
        """The execution whose processing job is ``name``."""
        found = self._first(monitoring_executions, (monitoring_executions.c.name == name,))
        return None if found is None else ExecutionRow(**found)

    def last_execution(self, schedule: ScheduleRow) -> ExecutionRow | None:
        """The schedule's execution with the newest scheduled time, if it has any."""
        e = monitoring_executions.c
        statement = (
            select(monitoring_executions)
            .where(e.schedule_generation == schedule.generation)
            .order_by(e.scheduled_time.desc())
            .limit(1)
        )
        with _available(), self._engine.connect() as connection:
            found = connection.execute(statement).first()
        return None if found is None else ExecutionRow(**found._mapping)

    def last_scheduled_time(self, schedule_name: str) -> float | None:
        """The newest scheduled time the current schedule of that name has an execution for."""
        e, s = monitoring_executions.c, monitoring_schedules.c
        statement = (
            select(func.max(e.scheduled_time))
            .join(monitoring_schedules, s.generation == e.schedule_generation)
            .where(s.name == schedule_name)
        )
        with _available(), self._engine.connect() as connection:
            newest = connection.execute(statement).scalar()
        return None if newest is None else float(newest)

    def executions(self, statuses: Collection[str] = _UNFINISHED) -> list[ExecutionRow]:
        """Every execution in one of ``statuses``, oldest first."""
        e = monitoring_executions.c
        statement = select(monitoring_executions).where(e.status.in_(list(statuses)))
        with _available(), self._engine.connect() as connection:
            found = connection.execute(statement.order_by(e.creation_time, e.name)).all()
        return [ExecutionRow(**r._mapping) for r in found]

    def executions_page(
        self, query: ListQuery, having: ExecutionFilter
    ) -> tuple[list[ExecutionRow], str | None]:
        """One page of executions."""
        e = monitoring_executions.c
        where = _equal(
            (e.schedule_name, having.schedule_name),
            (e.endpoint_name, having.endpoint_name),
            (e.job_definition_name, having.job_definition_name),
            (e.monitoring_type, having.monitoring_type),
        )
        if having.scheduled_after is not None:
            where.append(e.scheduled_time > having.scheduled_after)
        if having.scheduled_before is not None:
            where.append(e.scheduled_time < having.scheduled_before)
        rows, token = self._page(monitoring_executions, query, where)
        return [ExecutionRow(**r) for r in rows], token

    # -- helpers ---------------------------------------------------------------------------

    def _conflict(self, row: ScheduleRow) -> Exception:
        """Which unique rule ``row`` broke: its name, or its endpoint and type."""
        c = monitoring_schedules.c
        with _available(), self._engine.connect() as connection:
            holder = connection.execute(
                select(c.name).where(
                    c.endpoint_name == row.endpoint_name,
                    c.monitoring_type == row.monitoring_type,
                    c.name != row.name,
                )
            ).first()
        return DuplicateNameError(row.name) if holder is None else ScheduleOverlapError(holder[0])

    def _first(self, table: Table, where: Sequence[ColumnElement[bool]]) -> dict[str, Any] | None:
        with _available(), self._engine.connect() as connection:
            found = connection.execute(select(table).where(*where)).first()
        return None if found is None else dict(found._mapping)

    def _page(
        self, table: Table, query: ListQuery, where: Sequence[ColumnElement[bool]]
    ) -> tuple[list[dict[str, Any]], str | None]:
        with _available(), self._engine.connect() as connection:
            rows, token = list_page(connection, table, query, where)
        return [dict(r._mapping) for r in rows], token


class TaggedSpecs:
    """One kind of Model Monitor resource as ``TagService`` sees a store (tags in ``spec``)."""

    def __init__(self, engine: Engine, table: Table, **fixed: str) -> None:
        self._engine = engine
        self._table = table
        self._fixed = fixed  # e.g. monitoring_type=DataQuality: one type's definitions
        self._lock = threading.Lock()

    def name_for_arn(self, arn: str) -> str | None:
        """The name of the resource whose ARN is ``arn``."""
        c = self._table.c
        with _available(), self._engine.connect() as connection:
            found = connection.execute(
                select(c.name).where(c.arn == arn, *self._fixed_where())
            ).first()
        return None if found is None else str(found[0])

    def get(self, name: str) -> _Spec | None:
        """The resource's ``spec``."""
        c = self._table.c
        with _available(), self._engine.connect() as connection:
            found = connection.execute(
                select(c.spec).where(c.name == name, *self._fixed_where())
            ).first()
        return None if found is None else _Spec(dict(found[0]))

    def modify(self, name: str, change: Callable[[_Spec], None]) -> _Spec | None:
        """Apply ``change`` to the resource's ``spec`` and write it back."""
        c = self._table.c
        with self._lock, _available(), self._engine.begin() as connection:
            where = (c.name == name, *self._fixed_where())
            found = connection.execute(select(c.spec).where(*where)).first()
            if found is None:
                return None
            record = _Spec(dict(found[0]))
            change(record)
            connection.execute(update(self._table).where(*where).values(spec=record.spec))
        return record

    def _fixed_where(self) -> list[ColumnElement[bool]]:
        return [self._table.c[column] == value for column, value in self._fixed.items()]


@dataclass
class _Spec:
    spec: dict[str, Any]


def _equal(*pairs: tuple[Any, str | None]) -> list[ColumnElement[bool]]:
    """``column == value`` for each pair whose value is given."""
    return [column == value for column, value in pairs if value]


def _values(row: DefinitionRow | ScheduleRow | ExecutionRow) -> dict[str, Any]:
    values = asdict(row)
    for key in ("spec", "job"):
        if key in values:
            values[key] = dict(values[key])
    return values


def monitoring_tagged(engine: Engine) -> dict[str, TaggedSpecs]:
    """``TagService``'s stores for Model Monitor's resources, by their ARNs' resource types."""
    return {
        "monitoring-schedule": TaggedSpecs(engine, monitoring_schedules),
        "data-quality-job-definition": TaggedSpecs(
            engine, monitoring_job_definitions, monitoring_type="DataQuality"
        ),
        "model-quality-job-definition": TaggedSpecs(
            engine, monitoring_job_definitions, monitoring_type="ModelQuality"
        ),
    }
