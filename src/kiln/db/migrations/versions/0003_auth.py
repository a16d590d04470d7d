"""Principals and their credentials (access keys, role sessions, bearer API keys).

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "principals",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("policies", sa.JSON, nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
    )
    op.create_table(
        "credentials",
        sa.Column("key_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("principal", sa.String(64), nullable=False),
        sa.Column("session_name", sa.String(64), nullable=True),
        sa.Column("secret_sealed", sa.String(512), nullable=True),
        sa.Column("secret_hash", sa.String(64), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=True),
        sa.Column("description", sa.String(256), nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
        sa.Column("expiry_time", sa.Float, nullable=True),
        sa.Column("revoked_time", sa.Float, nullable=True),
    )
    op.create_index("ix_credentials_principal", "credentials", ["principal"])


def downgrade() -> None:
    op.drop_table("credentials")
    op.drop_table("principals")
