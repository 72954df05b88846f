"""knowledge entries

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_entries",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("ref", sa.String(200), nullable=True),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("alternates", sa.JSON(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("url", sa.String(2000), nullable=True),
        sa.Column("price", sa.Numeric(12, 2), nullable=True),
        sa.Column("availability", sa.String(32), nullable=True),
        sa.Column("source", sa.String(500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_knowledge_entries")),
        sa.UniqueConstraint("ref", name=op.f("uq_knowledge_entries_ref")),
    )
    op.create_index(op.f("ix_knowledge_entries_kind"), "knowledge_entries", ["kind"])


def downgrade() -> None:
    op.drop_index(op.f("ix_knowledge_entries_kind"), table_name="knowledge_entries")
    op.drop_table("knowledge_entries")
