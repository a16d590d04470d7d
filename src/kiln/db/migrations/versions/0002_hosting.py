"""Models, endpoint configs and endpoints.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = ("models", "endpoint_configs", "endpoints")


def upgrade() -> None:
    for table in _TABLES:
        op.create_table(
            table,
            sa.Column("name", sa.String(63), primary_key=True),
            sa.Column("arn", sa.String(256), nullable=False),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("creation_time", sa.Float, nullable=False),
            sa.Column("last_modified_time", sa.Float, nullable=False),
            sa.Column("spec", sa.JSON, nullable=False),
            sa.Column("state", sa.JSON, nullable=False),
        )
        op.create_index(f"ix_{table}_creation_time", table, ["creation_time"])
    op.create_index("ix_endpoints_status", "endpoints", ["status"])


def downgrade() -> None:
    for table in reversed(_TABLES):
        op.drop_table(table)
