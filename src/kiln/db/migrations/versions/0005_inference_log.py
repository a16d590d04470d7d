"""The inference log (predictions by InferenceId) and the ground truth fed back for them.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inferences",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("endpoint", sa.String(63), nullable=False),
        sa.Column("inference_id", sa.String(64), nullable=False),
        sa.Column("variant", sa.String(63), nullable=False),
        sa.Column("is_shadow", sa.Boolean, nullable=False),
        sa.Column("prediction", sa.JSON(none_as_null=True), nullable=True),
        sa.Column("arrived_at", sa.Float, nullable=False),
    )
    op.create_index("ix_inferences_arrived_at", "inferences", ["arrived_at"])
    op.create_index(
        "ix_inferences_endpoint_inference_id", "inferences", ["endpoint", "inference_id"]
    )
    op.create_table(
        "ground_truth",
        sa.Column("endpoint", sa.String(63), primary_key=True),
        sa.Column("inference_id", sa.String(64), primary_key=True),
        sa.Column("label", sa.JSON, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    op.create_index("ix_ground_truth_received_at", "ground_truth", ["received_at"])


def downgrade() -> None:
    op.drop_table("ground_truth")
    op.drop_table("inferences")
