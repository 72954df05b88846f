"""knowledge_labels: shopper questions whose right move the team or the shopper told, for the store's threshold

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 19:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.Column("entry_id", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("first_was_right", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"], ["messages.id"], name=op.f("fk_knowledge_labels_message_id_messages"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["knowledge_entries.id"],
            name=op.f("fk_knowledge_labels_entry_id_knowledge_entries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_labels")),
        sa.UniqueConstraint("message_id", name=op.f("uq_knowledge_labels_message_id")),
    )
    op.create_index(op.f("ix_knowledge_labels_created_at"), "knowledge_labels", ["created_at"])


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_labels_created_at"), table_name="knowledge_labels")
    op.drop_table("knowledge_labels")
