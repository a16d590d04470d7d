"""CloudWatch metric alarms: definitions and their last evaluated state.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarms",
        sa.Column("name", sa.String(255), primary_key=True),
        sa.Column("definition", sa.JSON, nullable=False),
        sa.Column("configuration_updated", sa.Float, nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("state_reason", sa.String(1023), nullable=False),
        sa.Column("state_reason_data", sa.String(4000), nullable=True),
        sa.Column("state_updated", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("alarms")
