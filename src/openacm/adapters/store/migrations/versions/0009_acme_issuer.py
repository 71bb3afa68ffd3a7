"""acme issuer: the ACME account of each upstream directory, the DNS-01 answers served

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 15:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_accounts",
        sa.Column("directory_url", sa.String(length=1024), nullable=False),
        sa.Column("key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("account_url", sa.String(length=1024), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("directory_url", name=op.f("pk_acme_accounts")),
    )
    op.create_table(
        "acme_dns_answers",
        sa.Column("owner", sa.String(length=300), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("owner", "value", name=op.f("pk_acme_dns_answers")),
    )


def downgrade() -> None:
    op.drop_table("acme_dns_answers")
    op.drop_table("acme_accounts")
