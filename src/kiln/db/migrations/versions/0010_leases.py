"""Several servers on one database: server leases, endpoint owners, the owner of each job.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "server_leases",
        sa.Column("server_id", sa.String(64), primary_key=True),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("renewed_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_index("ix_server_leases_expires_at", "server_leases", ["expires_at"])
    op.create_table(
        "endpoint_owners",
        sa.Column("endpoint", sa.String(63), primary_key=True),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("route", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("route_version", sa.Integer, nullable=False),
    )
    op.create_index("ix_endpoint_owners_owner", "endpoint_owners", ["owner"])
    # batch: SQLite cannot ALTER TABLE ADD an indexed column otherwise.
    with op.batch_alter_table("training_jobs") as batch:
        batch.add_column(sa.Column("owner", sa.String(64), nullable=True))
        batch.create_index("ix_training_jobs_owner", ["owner"])


def downgrade() -> None:
    with op.batch_alter_table("training_jobs") as batch:
        batch.drop_index("ix_training_jobs_owner")
        batch.drop_column("owner")
    op.drop_table("endpoint_owners")
    op.drop_table("server_leases")
