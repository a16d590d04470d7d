"""Application Auto Scaling: scalable targets, scaling policies and scaling activities.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scalable_targets",
        sa.Column("resource_id", sa.String(512), primary_key=True),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("min_capacity", sa.Integer, nullable=False),
        sa.Column("max_capacity", sa.Integer, nullable=False),
        sa.Column("role_arn", sa.String(1600), nullable=False),
        sa.Column("suspended", sa.JSON, nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
    )
    op.create_table(
        "scaling_policies",
        sa.Column("resource_id", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(256), primary_key=True),
        sa.Column("arn", sa.String(1600), nullable=False),
        sa.Column("policy_type", sa.String(32), nullable=False),
        sa.Column("configuration", sa.JSON, nullable=False),
        sa.Column("alarms", sa.JSON, nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
    )
    op.create_table(
        "scaling_activities",
        sa.Column("activity_id", sa.String(64), primary_key=True),
        sa.Column("resource_id", sa.String(512), nullable=False),
        sa.Column("description", sa.String(1024), nullable=False),
        sa.Column("cause", sa.String(1024), nullable=False),
        sa.Column("status_code", sa.String(32), nullable=False),
        sa.Column("status_message", sa.String(1024), nullable=True),
        sa.Column("start_time", sa.Float, nullable=False),
        sa.Column("end_time", sa.Float, nullable=True),
        sa.Column("desired", sa.Integer, nullable=False),
    )
    op.create_index(
        "ix_scaling_activities_resource_start", "scaling_activities", ["resource_id", "start_time"]
    )


def downgrade() -> None:
    op.drop_table("scaling_activities")
    op.drop_table("scaling_policies")
    op.drop_table("scalable_targets")
