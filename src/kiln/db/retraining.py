"""The retraining tables: rules, their firings, and the objects each data rule has counted."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from kiln.db.resources import _available
from kiln.db.tables import retraining_firings, retraining_rules, retraining_seen_objects

# Keys per statement: SQLite allows a few thousand bound parameters at most.
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One rule as stored: its API definition."""

    name: str
    kind: str
    definition: Mapping[str, Any]
    creation_time: float


@dataclass(frozen=True, slots=True)
class FiringRow:
    """One firing: what fired it, what it was to do (``plan``) and what its actions did."""

    id: int
    rule_name: str
    event_key: str
    trigger_time: float
    status: str
    evidence: Mapping[str, Any]
    plan: Mapping[str, Any]
    actions: Mapping[str, Any]


class RuleTakenError(Exception):
    """A rule of that name exists."""


class RetrainingRows:
    """Reads and writes the retraining tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add_rule(self, row: RuleRow, seen: Mapping[str, str]) -> None:
        """Insert a rule and the objects it starts from; ``RuleTakenError`` if the name is."""
        try:
            with _available(), self._engine.begin() as connection:
                connection.execute(insert(retraining_rules).values(**_rule_values(row)))
                _mark_seen(connection, row.name, seen)
        except IntegrityError:
            raise RuleTakenError(row.name) from None

    def rule(self, name: str) -> RuleRow | None:
        """The rule called ``name``, if there is one."""
        with _available(), self._engine.connect() as connection:
            found = connection.execute(
                select(retraining_rules).where(retraining_rules.c.name == name)
            ).first()
        return None if found is None else RuleRow(**found._mapping)

    def rules(self, kind: str | None = None) -> list[RuleRow]:
        """Every rule (of ``kind``), by name."""
        query = select(retraining_rules).order_by(retraining_rules.c.name)
        if kind is not None:
            query = query.where(retraining_rules.c.kind == kind)
        with _available(), self._engine.connect() as connection:
            return [RuleRow(**r._mapping) for r in connection.execute(query)]

    def remove_rule(self, name: str) -> bool:
        """Delete a rule with its firings and seen objects; False if there was none."""
        with _available(), self._engine.begin() as connection:
            for table in (retraining_firings, retraining_seen_objects):
                connection.execute(delete(table).where(table.c.rule_name == name))
            removed = connection.execute(
                delete(retraining_rules).where(retraining_rules.c.name == name)
            )
            return bool(removed.rowcount)

    def seen(self, rule: str) -> dict[str, str]:
        """The objects a data rule has counted: key → version."""
        table = retraining_seen_objects
        with _available(), self._engine.connect() as connection:
            found = connection.execute(
                select(table.c.key, table.c.version).where(table.c.rule_name == rule)
            )
            return {key: version for key, version in found}

    def add_firing(self, row: FiringRow, seen: Mapping[str, str] | None = None) -> int | None:
        """Record a firing (and, in the same transaction, the objects it counted); its id, or
        None if this event fired this rule already."""
        values = _firing_values(row)
        try:
            with _available(), self._engine.begin() as connection:
                if not _rule_exists(connection, row.rule_name):
                    return None
                result = connection.execute(insert(retraining_firings).values(**values))
                if seen:
                    _mark_seen(connection, row.rule_name, seen)
                key = result.inserted_primary_key
                return None if key is None else int(key[0])
        except IntegrityError:
            return None

    def set_firing(self, firing_id: int, status: str, actions: Mapping[str, Any]) -> None:
        """Store a firing's status and what its actions did so far."""
        with _available(), self._engine.begin() as connection:
            connection.execute(
                update(retraining_firings)
                .where(retraining_firings.c.id == firing_id)
                .values(status=status, actions=dict(actions))
            )

    def firing(self, firing_id: int) -> FiringRow | None:
        """The firing with ``firing_id``, if it is still there."""
        with _available(), self._engine.connect() as connection:
            found = connection.execute(
                select(retraining_firings).where(retraining_firings.c.id == firing_id)
            ).first()
        return None if found is None else FiringRow(**found._mapping)

    def firings(self, rule: str) -> list[FiringRow]:
        """A rule's firings, newest first."""
        table = retraining_firings
        query = select(table).where(table.c.rule_name == rule).order_by(table.c.id.desc())
        with _available(), self._engine.connect() as connection:
            return [FiringRow(**r._mapping) for r in connection.execute(query)]

    def firings_with_status(self, status: str) -> list[FiringRow]:
        """Every firing in ``status``, oldest first (a restart resumes them)."""
        table = retraining_firings
        query = select(table).where(table.c.status == status).order_by(table.c.id)
        with _available(), self._engine.connect() as connection:
            return [FiringRow(**r._mapping) for r in connection.execute(query)]


def _rule_exists(connection: Connection, name: str) -> bool:
    found = connection.execute(
        select(retraining_rules.c.name).where(retraining_rules.c.name == name)
    ).first()
    return found is not None


def _mark_seen(connection: Connection, rule: str, seen: Mapping[str, str]) -> None:
    if not seen:
        return
    table = retraining_seen_objects
    keys = list(seen)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        connection.execute(
            delete(table).where(table.c.rule_name == rule).where(table.c.key.in_(chunk))
        )
        connection.execute(insert(table), [_seen_row(rule, key, seen[key]) for key in chunk])


def _seen_row(rule: str, key: str, version: str) -> dict[str, str]:
    return {"rule_name": rule, "key": key, "version": version}


def _rule_values(row: RuleRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "kind": row.kind,
        "definition": dict(row.definition),
        "creation_time": row.creation_time,
    }


def _firing_values(row: FiringRow) -> dict[str, Any]:
    return {
        "rule_name": row.rule_name,
        "event_key": row.event_key[:512],
        "trigger_time": row.trigger_time,
        "status": row.status,
        "evidence": dict(row.evidence),
        "plan": dict(row.plan),
        "actions": dict(row.actions),
    }
