"""acme endpoints: external account bindings and domain validations (issue 9)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 17:00:00

The chain is re-linked when the branches merge. Adds two tables, the binding an ACME
account was registered with, and the index of an account's orders list.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("acme_orders", schema=None) as batch_op:
        batch_op.create_index(
            "ix_acme_orders_account_id_created_at", ["account_id", "created_at"], unique=False
        )
    with op.batch_alter_table("acme_client_accounts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("external_account_binding_arn", sa.String(length=200), nullable=True)
        )
    op.create_table(
        "acme_external_account_bindings",
        sa.Column("arn", sa.String(length=200), nullable=False),
        sa.Column("binding_id", sa.String(length=64), nullable=False),
        sa.Column("endpoint_arn", sa.String(length=200), nullable=False),
        sa.Column("role_arn", sa.String(length=2048), nullable=False),
        sa.Column("mac_key_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=True),
        sa.Column("revoked_at", sa.Float(), nullable=True),
        sa.Column("last_used_at", sa.Float(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_acme_external_account_bindings")),
        sa.UniqueConstraint(
            "binding_id", name=op.f("uq_acme_external_account_bindings_binding_id")
        ),
    )
    with op.batch_alter_table("acme_external_account_bindings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_acme_external_account_bindings_endpoint_arn_created_at",
            ["endpoint_arn", "created_at"],
            unique=False,
        )
    op.create_table(
        "acme_domain_validations",
        sa.Column("arn", sa.String(length=200), nullable=False),
        sa.Column("endpoint_arn", sa.String(length=200), nullable=False),
        sa.Column("domain_name", sa.String(length=253), nullable=False),
        sa.Column("scope_json", sa.Text(), nullable=False),
        sa.Column("hosted_zone_id", sa.String(length=32), nullable=True),
        sa.Column("record_name", sa.String(length=300), nullable=False),
        sa.Column("record_value", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure_reason", sa.String(length=32), nullable=True),
        sa.Column("failure_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("arn", name=op.f("pk_acme_domain_validations")),
        sa.UniqueConstraint(
            "endpoint_arn",
            "domain_name",
            name=op.f("uq_acme_domain_validations_endpoint_arn_domain_name"),
        ),
    )


def downgrade() -> None:
    op.drop_table("acme_domain_validations")
    op.drop_table("acme_external_account_bindings")
    with op.batch_alter_table("acme_client_accounts", schema=None) as batch_op:
        batch_op.drop_column("external_account_binding_arn")
    with op.batch_alter_table("acme_orders", schema=None) as batch_op:
        batch_op.drop_index("ix_acme_orders_account_id_created_at")
