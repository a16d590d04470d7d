"""The ``alarms`` table: each alarm's definition (as sent) and its last evaluated state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update

from kiln.db.resources import _available
from kiln.db.tables import alarms


@dataclass(frozen=True, slots=True)
class AlarmRow:
    """One alarm as stored: the ``PutMetricAlarm`` request and its state."""

    name: str
    definition: Mapping[str, Any]
    configuration_updated: float
    state: str
    state_reason: str
    state_reason_data: str | None
    state_updated: float


class AlarmRows:
    """Reads and writes the ``alarms`` table."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def put(self, row: AlarmRow) -> None:
        """Insert ``row``, or replace the definition (and state) of the alarm of that name."""
        values = _values(row)
        with _available(), self._engine.begin() as connection:
            found = connection.execute(
                select(alarms.c.name).where(alarms.c.name == row.name)
            ).first()
            if found is None:
                connection.execute(insert(alarms).values(**values))
            else:
                connection.execute(update(alarms).where(alarms.c.name == row.name).values(**values))

    def set_state(
        self, name: str, state: str, reason: str, reason_data: str | None, at: float
    ) -> bool:
        """Store an alarm's new state; False if it was deleted meanwhile."""
        with _available(), self._engine.begin() as connection:
            return bool(
                connection.execute(
                    update(alarms)
                    .where(alarms.c.name == name)
                    .values(
                        state=state,
                        state_reason=reason,
                        state_reason_data=reason_data,
                        state_updated=at,
                    )
                ).rowcount
            )

    def get(self, name: str) -> AlarmRow | None:
        """The alarm called ``name``, if there is one."""
        with _available(), self._engine.connect() as connection:
            found = connection.execute(select(alarms).where(alarms.c.name == name)).first()
            return None if found is None else _row(found)

    def all(self) -> list[AlarmRow]:
        """Every alarm, by name."""
        with _available(), self._engine.connect() as connection:
            found = connection.execute(select(alarms).order_by(alarms.c.name))
            return [_row(r) for r in found]

    def remove(self, names: Sequence[str]) -> int:
        """Delete the alarms named; how many there were."""
        with _available(), self._engine.begin() as connection:
            return int(connection.execute(delete(alarms).where(alarms.c.name.in_(names))).rowcount)


def _values(row: AlarmRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "definition": dict(row.definition),
        "configuration_updated": row.configuration_updated,
        "state": row.state,
        "state_reason": row.state_reason[:1023],
        "state_reason_data": row.state_reason_data,
        "state_updated": row.state_updated,
    }


def _row(found: Any) -> AlarmRow:
    m = found._mapping
    return AlarmRow(
        m["name"],
        dict(m["definition"]),
        float(m["configuration_updated"]),
        m["state"],
        m["state_reason"],
        m["state_reason_data"],
        float(m["state_updated"]),
    )
