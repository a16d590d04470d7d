"""The metrics store's 1-minute points.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_points",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("namespace", sa.String(255), nullable=False),
        sa.Column("metric", sa.String(255), nullable=False),
        sa.Column("dimensions", sa.String(8192), nullable=False),
        sa.Column("minute", sa.Integer, nullable=False),
        sa.Column("count", sa.Float, nullable=False),
        sa.Column("total", sa.Float, nullable=False),
        sa.Column("low", sa.Float, nullable=False),
        sa.Column("high", sa.Float, nullable=False),
        sa.Column("unit", sa.String(32), nullable=False),
        sa.Column("buckets", sa.JSON, nullable=False),
    )
    op.create_index("ix_metric_points_minute", "metric_points", ["minute"])
    op.create_index("ix_metric_points_series", "metric_points", ["namespace", "metric", "minute"])


def downgrade() -> None:
    op.drop_table("metric_points")
