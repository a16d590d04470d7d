"""The database engine: created once, migrated to the newest schema before first use."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event


def connect(url: str) -> Engine:
    """An engine for ``url`` whose schema Alembic has brought up to date."""
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _tune_sqlite)
    migrate(engine)
    return engine


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration the database lacks."""
    config = Config()
    config.set_main_option("script_location", "kiln.db:migrations")
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def _tune_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the API) run beside the one writer (a controller) without blocking.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
