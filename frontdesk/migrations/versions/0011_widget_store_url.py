"""widget_settings.store_url: the store's own site, which relative links of the knowledge (products) are read against

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 03:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("widget_settings") as batch:
        batch.add_column(sa.Column("store_url", sa.String(length=2000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("widget_settings") as batch:
        batch.drop_column("store_url")
