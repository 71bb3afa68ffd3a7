"""acme endpoints: the ACME servers of ACM's AcmeEndpoint operations (issue 9)

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-04 15:10:00

0009 is another branch's; the chain is re-linked when the branches merge. This revision only
adds tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_endpoints",
        sa.Column("arn", sa.String(length=200), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("authorization_behavior", sa.String(length=32), nullable=False),
        sa.Column("contact", sa.String(length=16), nullable=False),
        sa.Column("certificate_authority_json", sa.Text(), nullable=False),
        sa.Column("certificate_tags_json", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_acme_endpoints")),
        sa.UniqueConstraint("endpoint_id", name=op.f("uq_acme_endpoints_endpoint_id")),
    )
    with op.batch_alter_table("acme_endpoints", schema=None) as batch_op:
        batch_op.create_index(
            "ix_acme_endpoints_account_id_region_created_at",
            ["account_id", "region", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("acme_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_acme_endpoints_account_id_region_created_at")
    op.drop_table("acme_endpoints")
