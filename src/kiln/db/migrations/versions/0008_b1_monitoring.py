"""Model Monitor: job definitions, monitoring schedules and their executions.

Revision ID: 0008_b1
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_b1"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_job_definitions",
        sa.Column("monitoring_type", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=False),
        sa.Column("creation_time", sa.Float, nullable=False),
        sa.Column("spec", sa.JSON, nullable=False),
    )
    op.create_index(
        "ix_monitoring_job_definitions_endpoint_name",
        "monitoring_job_definitions",
        ["endpoint_name"],
    )
    op.create_index(
        "ix_monitoring_job_definitions_creation_time",
        "monitoring_job_definitions",
        ["creation_time"],
    )
    op.create_table(
        "monitoring_schedules",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("arn", sa.String(256), nullable=False),
        sa.Column("generation", sa.String(32), nullable=False, unique=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("monitoring_type", sa.String(32), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=False),
        sa.Column("job_definition_name", sa.String(63), nullable=True),
        sa.Column("creation_time", sa.Float, nullable=False),
        sa.Column("last_modified_time", sa.Float, nullable=False),
        sa.Column("failure_reason", sa.String(1024), nullable=True),
        sa.Column("spec", sa.JSON, nullable=False),
        sa.UniqueConstraint(
            "endpoint_name", "monitoring_type", name="uq_monitoring_schedules_endpoint_type"
        ),
    )
    op.create_index("ix_monitoring_schedules_status", "monitoring_schedules", ["status"])
    op.create_index(
        "ix_monitoring_schedules_creation_time", "monitoring_schedules", ["creation_time"]
    )
    op.create_table(
        "monitoring_executions",
        sa.Column("name", sa.String(63), primary_key=True),
        sa.Column("schedule_name", sa.String(63), nullable=False),
        sa.Column("schedule_generation", sa.String(32), nullable=False),
        sa.Column("scheduled_time", sa.Float, nullable=False),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("window_end", sa.Float, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("monitoring_type", sa.String(32), nullable=False),
        sa.Column("endpoint_name", sa.String(63), nullable=False),
        sa.Column("job_definition_name", sa.String(63), nullable=True),
        sa.Column("creation_time", sa.Float, nullable=False),
        sa.Column("last_modified_time", sa.Float, nullable=False),
        sa.Column("failure_reason", sa.String(1024), nullable=True),
        sa.Column("report_uri", sa.String(1024), nullable=True),
        sa.Column("job", sa.JSON, nullable=False),
        sa.UniqueConstraint(
            "schedule_generation", "scheduled_time", name="uq_monitoring_executions_window"
        ),
    )
    op.create_index(
        "ix_monitoring_executions_schedule_name", "monitoring_executions", ["schedule_name"]
    )
    op.create_index("ix_monitoring_executions_status", "monitoring_executions", ["status"])
    op.create_index(
        "ix_monitoring_executions_endpoint_name", "monitoring_executions", ["endpoint_name"]
    )
    op.create_index(
        "ix_monitoring_executions_creation_time", "monitoring_executions", ["creation_time"]
    )


def downgrade() -> None:
    op.drop_table("monitoring_executions")
    op.drop_table("monitoring_schedules")
    op.drop_table("monitoring_job_definitions")
