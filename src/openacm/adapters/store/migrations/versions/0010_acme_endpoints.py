"""acme endpoints: the ACME servers of ACM's AcmeEndpoint operations (issue 9)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 15:10:00

0009 is another branch's; the chain is re-linked when the branches merge. This revision only
adds tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
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

    op.create_table(
        "acme_nonces",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_acme_nonces")),
    )
    with op.batch_alter_table("acme_nonces", schema=None) as batch_op:
        batch_op.create_index("ix_acme_nonces_expires_at", ["expires_at"], unique=False)
    op.create_table(
        "acme_client_accounts",
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("thumbprint", sa.String(length=64), nullable=False),
        sa.Column("jwk_json", sa.Text(), nullable=False),
        sa.Column("contact_json", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_acme_client_accounts")),
        sa.UniqueConstraint(
            "endpoint_id", "thumbprint", name=op.f("uq_acme_client_accounts_endpoint_id_thumbprint")
        ),
    )
    op.create_table(
        "acme_orders",
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("identifiers_json", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("certificate_arn", sa.String(length=2048), nullable=True),
        sa.Column("error_json", sa.Text(), nullable=True),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_acme_orders")),
    )
    op.create_table(
        "acme_authorizations",
        sa.Column("authz_id", sa.String(length=36), nullable=False),
        sa.Column("order_id", sa.String(length=36), nullable=False),
        sa.Column("endpoint_id", sa.String(length=64), nullable=False),
        sa.Column("account_id", sa.String(length=36), nullable=False),
        sa.Column("identifier", sa.String(length=253), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("challenge_type", sa.String(length=16), nullable=False),
        sa.Column("challenge_token", sa.String(length=64), nullable=False),
        sa.Column("challenge_status", sa.String(length=16), nullable=False),
        sa.Column("challenge_validated_at", sa.Float(), nullable=True),
        sa.Column("challenge_error_json", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("authz_id", name=op.f("pk_acme_authorizations")),
    )
    with op.batch_alter_table("acme_authorizations", schema=None) as batch_op:
        batch_op.create_index("ix_acme_authorizations_order_id", ["order_id"], unique=False)


def downgrade() -> None:
    for table in ("acme_authorizations", "acme_orders", "acme_client_accounts"):
        op.drop_table(table)
    with op.batch_alter_table("acme_nonces", schema=None) as batch_op:
        batch_op.drop_index("ix_acme_nonces_expires_at")
    op.drop_table("acme_nonces")
    with op.batch_alter_table("acme_endpoints", schema=None) as batch_op:
        batch_op.drop_index("ix_acme_endpoints_account_id_region_created_at")
    op.drop_table("acme_endpoints")
