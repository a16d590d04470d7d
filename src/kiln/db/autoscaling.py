"""Application Auto Scaling's rows: scalable targets, scaling policies, scaling activities.

Plain rows in and out (no AWS shapes here). A target's policies go with it: deleting a target
deletes them in the same transaction. Activities are kept newest first per resource.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiln.db.resources import _available
from kiln.db.tables import scalable_targets, scaling_activities, scaling_policies
from kiln.errors import ConflictError


@dataclass(frozen=True, slots=True)
class TargetRow:
    """One registered scalable target."""

    resource_id: str
    arn: str
    min_capacity: int
    max_capacity: int
    role_arn: str
    suspended: Mapping[str, bool]
    creation_time: float


@dataclass(frozen=True, slots=True)
class PolicyRow:
    """One scaling policy: its type and configuration as the request gave them."""

    resource_id: str
    name: str
    arn: str
    policy_type: str
    configuration: Mapping[str, Any]
    alarms: tuple[tuple[str, str], ...]
    """(name, ARN) of the alarms answered for it."""
    creation_time: float


@dataclass(frozen=True, slots=True)
class ActivityRow:
    """One scaling activity: set ``desired`` instances, why, and how it went."""

    activity_id: str
    resource_id: str
    description: str
    cause: str
    status_code: str
    status_message: str | None
    start_time: float
    end_time: float | None
    desired: int


class ScalingRows:
    """The ``scalable_targets``, ``scaling_policies`` and ``scaling_activities`` tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    # -- targets ---------------------------------------------------------------------------

    def put_target(self, row: TargetRow) -> None:
        """Insert or replace the target ``row.resource_id``."""
        values = asdict(row)
        values["suspended"] = dict(row.suspended)
        table = scalable_targets
        try:
            with _available(), self._engine.begin() as connection:
                found = connection.execute(
                    select(table.c.resource_id).where(table.c.resource_id == row.resource_id)
                ).first()
                if found is None:
                    connection.execute(insert(table).values(**values))
                else:
                    connection.execute(
                        update(table).where(table.c.resource_id == row.resource_id).values(**values)
                    )
        except IntegrityError:
            raise ConflictError(
                f"Another request registered {row.resource_id} at the same time; try again"
            ) from None

    def targets(self, resource_ids: Collection[str] | None = None) -> list[TargetRow]:
        """Every target (or those named), ordered by resource id."""
        table = scalable_targets
        statement = select(table).order_by(table.c.resource_id)
        if resource_ids is not None:
            statement = statement.where(table.c.resource_id.in_(list(resource_ids)))
        with _available(), self._engine.connect() as connection:
            return [_target(dict(row._mapping)) for row in connection.execute(statement)]

    def delete_target(self, resource_id: str) -> bool:
        """Delete a target and its policies; whether it existed."""
        with _available(), self._engine.begin() as connection:
            connection.execute(
                delete(scaling_policies).where(scaling_policies.c.resource_id == resource_id)
            )
            gone = connection.execute(
                delete(scalable_targets).where(scalable_targets.c.resource_id == resource_id)
            )
        return bool(gone.rowcount)

    # -- policies --------------------------------------------------------------------------

    def put_policy(self, row: PolicyRow) -> bool:
        """Insert or replace the policy (resource id, name); False if its target is gone."""
        values = asdict(row)
        values["configuration"] = dict(row.configuration)
        values["alarms"] = [list(alarm) for alarm in row.alarms]
        table = scaling_policies
        key = (table.c.resource_id == row.resource_id) & (table.c.name == row.name)
        try:
            with _available(), self._engine.begin() as connection:
                target = scalable_targets.c.resource_id == row.resource_id
                if connection.execute(select(scalable_targets.c.arn).where(target)).first() is None:
                    return False
                if connection.execute(select(table.c.name).where(key)).first() is None:
                    connection.execute(insert(table).values(**values))
                else:
                    connection.execute(update(table).where(key).values(**values))
            return True
        except IntegrityError:
            raise ConflictError(
                f"Another request wrote policy {row.name!r} at the same time; try again"
            ) from None

    def policies(
        self, resource_id: str | None = None, names: Collection[str] | None = None
    ) -> list[PolicyRow]:
        """Policies, optionally of one resource and by name, ordered by resource and name."""
        table = scaling_policies
        statement = select(table).order_by(table.c.resource_id, table.c.name)
        if resource_id is not None:
            statement = statement.where(table.c.resource_id == resource_id)
        if names is not None:
            statement = statement.where(table.c.name.in_(list(names)))
        with _available(), self._engine.connect() as connection:
            return [_policy(dict(row._mapping)) for row in connection.execute(statement)]

    def delete_policy(self, resource_id: str, name: str) -> bool:
        """Delete one policy; whether it existed."""
        table = scaling_policies
        with _available(), self._engine.begin() as connection:
            gone = connection.execute(
                delete(table).where((table.c.resource_id == resource_id) & (table.c.name == name))
            )
        return bool(gone.rowcount)

    # -- activities ------------------------------------------------------------------------

    def add_activity(self, row: ActivityRow) -> None:
        """Record a scaling activity."""
        with _available(), self._engine.begin() as connection:
            connection.execute(insert(scaling_activities).values(**asdict(row)))

    def finish_activity(self, activity_id: str, status: str, message: str, at: float) -> None:
        """Mark an activity ended with ``status``."""
        table = scaling_activities
        with _available(), self._engine.begin() as connection:
            connection.execute(
                update(table)
                .where(table.c.activity_id == activity_id)
                .values(status_code=status, status_message=message, end_time=at)
            )

    def activities(
        self, resource_id: str | None, *, offset: int, limit: int, status: str | None = None
    ) -> list[ActivityRow]:
        """Activities newest first, optionally of one resource or in one status."""
        table = scaling_activities
        statement = select(table).order_by(table.c.start_time.desc(), table.c.activity_id)
        if resource_id is not None:
            statement = statement.where(table.c.resource_id == resource_id)
        if status is not None:
            statement = statement.where(table.c.status_code == status)
        statement = statement.offset(offset).limit(limit)
        with _available(), self._engine.connect() as connection:
            return [ActivityRow(**row._mapping) for row in connection.execute(statement)]


def _target(row: Mapping[str, Any]) -> TargetRow:
    return TargetRow(**{**row, "suspended": dict(row["suspended"])})


def _policy(row: Mapping[str, Any]) -> PolicyRow:
    alarms = tuple((str(name), str(arn)) for name, arn in row["alarms"])
    return PolicyRow(**{**row, "configuration": dict(row["configuration"]), "alarms": alarms})
