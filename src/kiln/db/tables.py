"""The metadata tables. Portable SQL only: SQLite and PostgreSQL run the same statements.

Each resource keeps its validated request as JSON (``spec``), what Kiln learnt while running it as
JSON (``state``), and the columns that lists filter and sort on.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, Float, MetaData, String, Table

metadata = MetaData()

training_jobs = Table(
    "training_jobs",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("secondary_status", String(32), nullable=False),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified_time", Float, nullable=False),
    Column("end_time", Float, nullable=True),
    Column("spec", JSON, nullable=False),
    Column("state", JSON, nullable=False),
)

models = Table(
    "models",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("status", String(32), nullable=False),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified_time", Float, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("state", JSON, nullable=False),
)

endpoint_configs = Table(
    "endpoint_configs",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("status", String(32), nullable=False),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified_time", Float, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("state", JSON, nullable=False),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("name", String(63), primary_key=True),
    Column("arn", String(256), nullable=False),
    Column("status", String(32), nullable=False, index=True),
    Column("creation_time", Float, nullable=False, index=True),
    Column("last_modified_time", Float, nullable=False),
    Column("spec", JSON, nullable=False),
    Column("state", JSON, nullable=False),
)
