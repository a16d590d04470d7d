"""Which log store a server runs: ``KILN_LOG_STORE`` (files or database), read into Settings."""

from __future__ import annotations

from sqlalchemy import Engine

from kiln.config import Settings
from kiln.services.logs.database import DatabaseLogStore
from kiln.services.logs.files import FileLogStore


def open_log_store(settings: Settings, engine: Engine) -> FileLogStore | DatabaseLogStore:
    """The store ``settings.log_store`` names; ``engine`` is the metadata database's."""
    if settings.log_store == "database":
        return DatabaseLogStore(engine)
    return FileLogStore(settings.log_groups_dir)
