"""The rows several servers coordinate through: leases, job claims, endpoint owners.

Every change that decides who owns something is one conditional ``UPDATE`` (or an ``INSERT``
that a primary key refuses twice), so on PostgreSQL and SQLite alike exactly one server wins.
A database that cannot be used now raises ``ServiceUnavailableError``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, delete, exists, insert, or_, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from kiln.db.tables import endpoint_owners, endpoints, server_leases, training_jobs
from kiln.errors import ServiceUnavailableError
from kiln.services.cluster.endpoint_plan import OwnerRow
from kiln.services.cluster.leases import Lease


class LeaseRows:
    """``server_leases``: register, renew, read and forget leases."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def renew(self, server_id: str, host: str, pid: int, now: float, lease_seconds: float) -> None:
        """Extend this server's lease to ``now + lease_seconds`` (creating it if it is gone)."""
        values = {"host": host, "pid": pid, "renewed_at": now, "expires_at": now + lease_seconds}
        table = server_leases
        with _available(), self._engine.begin() as connection:
            found = connection.execute(
                update(table).where(table.c.server_id == server_id).values(**values)
            )
            if found.rowcount == 0:
                connection.execute(
                    insert(table).values(server_id=server_id, started_at=now, **values)
                )

    def leases(self) -> list[Lease]:
        """Every lease stored."""
        table = server_leases
        with _available(), self._engine.connect() as connection:
            rows = connection.execute(select(table.c.server_id, table.c.expires_at)).all()
        return [Lease(str(r[0]), float(r[1])) for r in rows]

    def remove(self, server_id: str) -> None:
        """Give this server's lease up (a clean stop: its work is handed over at once)."""
        with _available(), self._engine.begin() as connection:
            connection.execute(delete(server_leases).where(server_leases.c.server_id == server_id))

    def forget_expired(self, before: float) -> None:
        """Drop leases that ran out before ``before`` (long dead servers)."""
        with _available(), self._engine.begin() as connection:
            connection.execute(delete(server_leases).where(server_leases.c.expires_at < before))


class JobClaims:
    """The owner column of ``training_jobs``."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def claim(self, name: str, me: str, now: float) -> bool:
        """Make ``me`` the job's owner if it has none, or one whose lease ran out, and ``me``'s
        own lease runs; whether it did (exactly one server wins)."""
        live = select(server_leases.c.server_id).where(server_leases.c.expires_at >= now)
        jobs = training_jobs
        statement = (
            update(jobs)
            .where(
                jobs.c.name == name,
                or_(jobs.c.owner.is_(None), jobs.c.owner == me, jobs.c.owner.not_in(live)),
                exists(live.where(server_leases.c.server_id == me)),
            )
            .values(owner=me)
        )
        with _available(), self._engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)


class EndpointOwnerRows:
    """``endpoint_owners``: who drives each endpoint, its generation and its published route."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def rows(self) -> list[OwnerRow]:
        """Every owner row (without its route)."""
        t = endpoint_owners
        with _available(), self._engine.connect() as connection:
            rows = connection.execute(
                select(t.c.endpoint, t.c.owner, t.c.generation, t.c.route_version)
            ).all()
        return [OwnerRow(str(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]

    def endpoints(self) -> dict[str, float]:
        """Every endpoint record: name → last modified time."""
        with _available(), self._engine.connect() as connection:
            rows = connection.execute(
                select(endpoints.c.name, endpoints.c.last_modified_time)
            ).all()
        return {str(r[0]): float(r[1]) for r in rows}

    def route(self, endpoint: str) -> tuple[int, dict[str, Any] | None] | None:
        """The published route of ``endpoint`` and its version; None if it has no row."""
        t = endpoint_owners
        with _available(), self._engine.connect() as connection:
            row = connection.execute(
                select(t.c.route_version, t.c.route).where(t.c.endpoint == endpoint)
            ).first()
        return None if row is None else (int(row[0]), row[1])

    def claim(self, endpoint: str, me: str) -> bool:
        """Insert an owner row naming ``me``; False if the endpoint has one already."""
        try:
            with _available(), self._engine.begin() as connection:
                connection.execute(
                    insert(endpoint_owners).values(
                        endpoint=endpoint, owner=me, generation=1, route=None, route_version=0
                    )
                )
        except IntegrityError:
            return False
        return True

    def take(self, endpoint: str, dead: str, me: str) -> bool:
        """Move ``endpoint`` from ``dead`` to ``me``; False if another server was first."""
        t = endpoint_owners
        statement = (
            update(t)
            .where(t.c.endpoint == endpoint, t.c.owner == dead)
            .values(owner=me, generation=t.c.generation + 1)
        )
        with _available(), self._engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)

    def bump(self, endpoint: str) -> OwnerRow | None:
        """Note an API change of ``endpoint`` for its owner; the row after, None if none."""
        t = endpoint_owners
        with _available(), self._engine.begin() as connection:
            connection.execute(
                update(t).where(t.c.endpoint == endpoint).values(generation=t.c.generation + 1)
            )
            row = connection.execute(
                select(t.c.endpoint, t.c.owner, t.c.generation, t.c.route_version).where(
                    t.c.endpoint == endpoint
                )
            ).first()
        return None if row is None else OwnerRow(str(row[0]), str(row[1]), int(row[2]), int(row[3]))

    def publish_route(self, endpoint: str, me: str, route: dict[str, Any] | None) -> bool:
        """Store ``route`` if ``me`` still owns ``endpoint``; whether it did."""
        t = endpoint_owners
        statement = (
            update(t)
            .where(t.c.endpoint == endpoint, t.c.owner == me)
            .values(route=route, route_version=t.c.route_version + 1)
        )
        with _available(), self._engine.begin() as connection:
            return bool(connection.execute(statement).rowcount)

    def forget(self, endpoint: str) -> None:
        """Drop the owner row of a deleted endpoint."""
        with _available(), self._engine.begin() as connection:
            connection.execute(
                delete(endpoint_owners).where(endpoint_owners.c.endpoint == endpoint)
            )


@contextmanager
def _available() -> Iterator[None]:
    """Turn any database failure into the error the callers retry."""
    try:
        yield
    except IntegrityError:
        raise
    except SQLAlchemyError as e:
        reason = getattr(e, "orig", None) or e
        raise ServiceUnavailableError(f"Kiln's metadata store cannot be used now: {reason}") from e
