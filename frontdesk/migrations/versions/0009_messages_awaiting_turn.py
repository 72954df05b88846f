"""messages.awaiting_turn: a shopper message whose turn (answer, offer, email check, handoff) is not yet committed

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 03:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("awaiting_turn", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index(
        "ix_messages_awaiting_turn",
        "messages",
        ["awaiting_turn"],
        unique=False,
        sqlite_where=sa.text("awaiting_turn"),
        postgresql_where=sa.text("awaiting_turn"),
    )


def downgrade() -> None:
    op.drop_index("ix_messages_awaiting_turn", table_name="messages")
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("awaiting_turn")
