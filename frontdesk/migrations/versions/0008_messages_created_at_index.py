"""an index on messages.created_at, for the knowledge-gaps report's date range

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 08:40:00
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f("ix_messages_created_at"), "messages", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_messages_created_at"), table_name="messages")
