"""A database that goes away for seconds: the lease retries, fences its server, and comes back.

PostgreSQL only: the outage is real (the database refuses connections and its sessions are
ended), which SQLite cannot do to an open file.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from conftest import POSTGRES_URL, wait_until
from kiln.db import connect
from kiln.db.leases import JobClaims, LeaseRows
from kiln.services.cluster.heartbeat import LeaseKeeper
from support.needs import require

LEASE = 1.5


@pytest.fixture
def outage() -> Iterator[tuple[Engine, Engine, str]]:
    """A fresh database, an admin engine that can close it, and its name."""
    require("PostgreSQL", POSTGRES_URL is not None, "set KILN_TEST_DATABASE_URL; .ci/run does")
    assert POSTGRES_URL is not None
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"kiln_outage_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = connect(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    try:
        yield admin, engine, name
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _set_reachable(admin: Engine, name: str, is_reachable: bool) -> None:
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {is_reachable}'))
        if not is_reachable:
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
                {"n": name},
            )


def test_a_server_that_cannot_renew_fences_itself_and_recovers_when_the_database_returns(
    outage: tuple[Engine, Engine, str],
) -> None:
    admin, engine, name = outage
    keeper = LeaseKeeper(LeaseRows(engine), JobClaims(engine), "a", LEASE)
    fenced, restored = threading.Event(), threading.Event()
    keeper.on_fenced.append(fenced.set)
    keeper.on_restored.append(restored.set)
    keeper.register()
    keeper.start()
    try:
        assert keeper.is_live()
        _set_reachable(admin, name, False)
        wait_until(fenced.is_set, "fenced", timeout=LEASE * 3)
        assert not keeper.is_live()
        assert not keeper.claim_job("any")  # claims fail soft while the database is away
        _set_reachable(admin, name, True)
        wait_until(restored.is_set, "lease regained", timeout=LEASE * 3)
        wait_until(keeper.is_live, "live again", timeout=LEASE)
    finally:
        _set_reachable(admin, name, True)
        keeper.stop()
