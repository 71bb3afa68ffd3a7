"""certificate associations, and the index /metrics counts certificates with

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "certificate_associations",
        sa.Column("certificate_arn", sa.String(length=2048), nullable=False),
        sa.Column("resource_arn", sa.String(length=2048), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("region", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "certificate_arn", "resource_arn", name=op.f("pk_certificate_associations")
        ),
    )
    with op.batch_alter_table("certificate_associations", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificate_associations_scope_resource",
            ["account_id", "region", "resource_arn", "certificate_arn"],
            unique=False,
        )
    # A plain CREATE INDEX: batch mode could copy the certificates table on SQLite.
    op.create_index("ix_certificates_type_status", "certificates", ["type", "status", "not_after"])


def downgrade() -> None:
    op.drop_index("ix_certificates_type_status", table_name="certificates")
    with op.batch_alter_table("certificate_associations", schema=None) as batch_op:
        batch_op.drop_index("ix_certificate_associations_scope_resource")
    op.drop_table("certificate_associations")
