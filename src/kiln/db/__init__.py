"""Metadata store: SQLAlchemy tables, the engine, Alembic migrations, and the stores."""

from kiln.db.engine import connect
from kiln.db.resources import DuplicateNameError, ResourceRecord, ResourceStore
from kiln.db.training_jobs import TrainingJobRecord, TrainingJobStore

__all__ = [
    "DuplicateNameError",
    "ResourceRecord",
    "ResourceStore",
    "TrainingJobRecord",
    "TrainingJobStore",
    "connect",
]
