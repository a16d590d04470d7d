"""Retraining rules, their firings, and the objects each data rule has counted.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retraining_rules",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
    )
    op.create_table(
        "retraining_firings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("rule_name", sa.String(63), nullable=False),
        sa.Column("event_key", sa.String(512), nullable=False),
        sa.Column("trigger_time", sa.Float, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("evidence", sa.JSON, nullable=False),
        sa.Column("plan", sa.JSON, nullable=False),
        sa.Column("actions", sa.JSON, nullable=False),
    )
    op.create_index("ix_retraining_firings_status", "retraining_firings", ["status"])
    op.create_index(
        "ux_retraining_firings_event", "retraining_firings", ["rule_name", "event_key"], unique=True
    )
    op.create_table(
        "retraining_seen_objects",
        sa.Column("rule_name", sa.String(63), primary_key=True),
        sa.Column("key", sa.String(1024), primary_key=True),
        sa.Column("version", sa.String(128), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retraining_seen_objects")
    op.drop_index("ux_retraining_firings_event", "retraining_firings")
    op.drop_index("ix_retraining_firings_status", "retraining_firings")
    op.drop_table("retraining_firings")
    op.drop_table("retraining_rules")
