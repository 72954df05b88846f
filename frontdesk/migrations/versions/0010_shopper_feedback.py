"""conversations.rated_unhelpful and feedback_changed: the shopper's 👎 on AI answers, and whether it moved the outcome

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("rated_unhelpful", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("feedback_changed", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("feedback_changed")
        batch.drop_column("rated_unhelpful")
