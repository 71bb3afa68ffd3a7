"""acme issuer: http-01 answers served at the RedirectTo path; ACME Renewal Information

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 17:00:00

Linked after 0010 in its branch; the chain is re-linked when the branches merge. This revision
only adds tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_http_answers",
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("key_authorization", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("label", "token", name=op.f("pk_acme_http_answers")),
    )
    op.create_table(
        "acme_renewal_info",
        sa.Column("arn", sa.String(length=2048), nullable=False),
        sa.Column("issuer_id", sa.String(length=64), nullable=False),
        sa.Column("next_check_at", sa.Float(), nullable=False),
        sa.Column("renew_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_acme_renewal_info")),
    )
    op.create_index(
        "ix_acme_renewal_info_next_check_at", "acme_renewal_info", ["next_check_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_acme_renewal_info_next_check_at", table_name="acme_renewal_info")
    op.drop_table("acme_renewal_info")
    op.drop_table("acme_http_answers")
