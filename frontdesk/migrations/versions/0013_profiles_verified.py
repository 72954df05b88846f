"""profiles.verified: a typed email gets a profile of its own, apart from a verified customer's

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.add_column(sa.Column("verified", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch.drop_constraint("uq_profiles_email", type_="unique")
        batch.create_unique_constraint("uq_profiles_email_verified", ["email", "verified"])
    # What is known to be verified: a phone (it texted), or a profile a signed-in web chat joined. The rest were made
    # from typed emails.
    op.execute(
        "UPDATE profiles SET verified = true WHERE phone IS NOT NULL"
        " OR id IN (SELECT profile_id FROM conversations WHERE signed_in = true AND profile_id IS NOT NULL)"
    )


def downgrade() -> None:
    with op.batch_alter_table("profiles") as batch:
        batch.drop_constraint("uq_profiles_email_verified", type_="unique")
        batch.create_unique_constraint("uq_profiles_email", ["email"])
        batch.drop_column("verified")
