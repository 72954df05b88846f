"""knowledge_vectors: each indexed text's vector, kept so that a start reads it instead of embedding it again

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07 22:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_vectors",
        sa.Column("embedder", sa.String(200), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("vector", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("embedder", "digest", name=op.f("pk_knowledge_vectors")),
    )


def downgrade() -> None:
    op.drop_table("knowledge_vectors")
