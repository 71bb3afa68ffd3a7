"""access control: IAM users and roles, their policies, STS sessions (issue 11)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 17:05:00

This revision only adds tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "iam_principals",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("principal_id", sa.String(length=32), nullable=False),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("trust_policy", sa.Text(), nullable=True),
        sa.Column("max_session_seconds", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "kind", "name", name=op.f("pk_iam_principals")),
    )
    op.create_table(
        "iam_policies",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("policy_id", sa.String(length=32), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "name", name=op.f("pk_iam_policies")),
    )
    op.create_table(
        "iam_principal_policies",
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("principal_name", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.String(length=2048), nullable=False),
        sa.Column("document", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint(
            "account_id", "kind", "principal_name", "policy",
            name=op.f("pk_iam_principal_policies"),
        ),
    )  # fmt: skip
    op.create_table(
        "sts_sessions",
        sa.Column("access_key_id", sa.String(length=128), nullable=False),
        sa.Column("account_id", sa.String(length=12), nullable=False),
        sa.Column("role_name", sa.String(length=64), nullable=False),
        sa.Column("session_name", sa.String(length=64), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("session_policy", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("access_key_id", name=op.f("pk_sts_sessions")),
    )
    with op.batch_alter_table("sts_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_sts_sessions_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sts_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_sts_sessions_expires_at")
    op.drop_table("sts_sessions")
    op.drop_table("iam_principal_policies")
    op.drop_table("iam_policies")
    op.drop_table("iam_principals")
