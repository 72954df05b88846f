"""conversations.csat_score and csat_at: the shopper's one-tap rating (1-5) of the team after a close

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 04:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("csat_score", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("csat_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("csat_at")
        batch.drop_column("csat_score")
