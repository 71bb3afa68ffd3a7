"""email validation

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 14:05:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_validations",
        sa.Column("certificate_arn", sa.String(length=2048), nullable=False),
        sa.Column("domain_name", sa.String(length=253), nullable=False),
        sa.Column("mail_domain", sa.String(length=253), nullable=False),
        sa.Column("first_sent_at", sa.Float(), nullable=True),
        sa.Column("requested_method", sa.String(length=16), nullable=True),
        sa.Column("requested_record_name", sa.String(length=300), nullable=True),
        sa.Column("requested_record_value", sa.String(length=300), nullable=True),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "certificate_arn", "domain_name", name=op.f("pk_email_validations")
        ),
    )
    op.create_table(
        "email_approvals",
        sa.Column("context", sa.String(length=64), nullable=False),
        sa.Column("certificate_arn", sa.String(length=2048), nullable=False),
        sa.Column("domain_name", sa.String(length=253), nullable=False),
        sa.Column("mail_domain", sa.String(length=253), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("requested_at", sa.Float(), nullable=False),
        sa.Column("sent_at", sa.Float(), nullable=True),
        sa.Column("code_sha256", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("used_at", sa.Float(), nullable=True),
        sa.Column("replaced_at", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("context", name=op.f("pk_email_approvals")),
    )
    with op.batch_alter_table("email_approvals", schema=None) as batch_op:
        batch_op.create_index(
            "ix_email_approvals_certificate", ["certificate_arn", "domain_name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("email_approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_email_approvals_certificate")
    op.drop_table("email_approvals")
    op.drop_table("email_validations")
