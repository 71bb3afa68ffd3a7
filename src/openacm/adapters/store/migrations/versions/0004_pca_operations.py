"""private CA operations: issuance counters, CRLs, audit reports

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 13:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "private_ca_issuance",
        sa.Column("ca_arn", sa.String(length=200), nullable=False),
        sa.Column("ca_id", sa.String(length=64), nullable=False),
        sa.Column("issued_count", sa.Integer(), nullable=False),
        sa.Column("crl_number", sa.Integer(), nullable=False),
        sa.Column("crl_der", sa.LargeBinary(), nullable=True),
        sa.Column("crl_this_update", sa.Float(), nullable=True),
        sa.Column("crl_next_update", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("ca_arn", name=op.f("pk_private_ca_issuance")),
        sa.UniqueConstraint("ca_id", name=op.f("uq_private_ca_issuance_ca_id")),
    )
    op.create_table(
        "private_ca_audit_reports",
        sa.Column("report_id", sa.String(length=64), nullable=False),
        sa.Column("ca_arn", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("response_format", sa.String(length=8), nullable=False),
        sa.Column("s3_bucket_name", sa.String(length=255), nullable=False),
        sa.Column("s3_key", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_private_ca_audit_reports")),
    )
    with op.batch_alter_table("private_ca_audit_reports", schema=None) as batch_op:
        batch_op.create_index("ix_private_ca_audit_reports_ca", ["ca_arn", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("private_ca_audit_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_private_ca_audit_reports_ca")
    op.drop_table("private_ca_audit_reports")
    op.drop_table("private_ca_issuance")
