"""The log store shared by every server on one database: groups, streams, events.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "log_groups",
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "log_streams",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_name", sa.String(512), nullable=False),
        sa.Column("name", sa.String(512), nullable=False),
        sa.Column("creation_time", sa.BigInteger, nullable=False),
        sa.Column("first_event_timestamp", sa.BigInteger, nullable=True),
        sa.Column("last_event_timestamp", sa.BigInteger, nullable=True),
        sa.Column("last_ingestion_time", sa.BigInteger, nullable=True),
        sa.Column("stored_bytes", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("group_name", "name", name="uq_log_streams_group_name"),
    )
    op.create_table(
        "log_events",
        sa.Column("stream_id", sa.Integer, primary_key=True),
        sa.Column("start_byte", sa.BigInteger, primary_key=True),
        sa.Column("end_byte", sa.BigInteger, nullable=False),
        sa.Column("timestamp", sa.BigInteger, nullable=False),
        sa.Column("ingestion_time", sa.BigInteger, nullable=False),
        sa.Column("message", sa.Text, nullable=False),
    )
    op.create_index(
        "ix_log_events_stream_time", "log_events", ["stream_id", "timestamp", "start_byte"]
    )


def downgrade() -> None:
    op.drop_index("ix_log_events_stream_time", "log_events")
    op.drop_table("log_events")
    op.drop_table("log_streams")
    op.drop_table("log_groups")
