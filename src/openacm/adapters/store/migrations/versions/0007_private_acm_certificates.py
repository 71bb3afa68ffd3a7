"""private certificates requested through ACM; renewal summaries; private CA keys in a token

Revision ID: 0007
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_authority_arn", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("renewal_status_reason", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("renewal_updated_at", sa.Float(), nullable=True))
    with op.batch_alter_table("private_cas", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("key_storage", sa.String(16), nullable=False, server_default="envelope")
        )


def downgrade() -> None:
    with op.batch_alter_table("private_cas", schema=None) as batch_op:
        batch_op.drop_column("key_storage")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_column("renewal_updated_at")
        batch_op.drop_column("renewal_status_reason")
        batch_op.drop_column("certificate_authority_arn")
