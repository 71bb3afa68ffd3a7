"""private certificates requested through ACM; managed renewal; private CA keys in a token

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from openacm.domain.issuance import renewal_start

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.add_column(sa.Column("certificate_authority_arn", sa.String(200), nullable=True))
        batch_op.add_column(sa.Column("renewal_status_reason", sa.String(64), nullable=True))
        batch_op.add_column(sa.Column("renewal_updated_at", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("renewal_due_at", sa.Float(), nullable=True))
        batch_op.create_index("ix_certificates_renewal_due", ["renewal_due_at"], unique=False)
    _backfill_renewal_due_at()
    op.create_table(
        "dev_clock",
        sa.Column("clock_id", sa.Integer(), nullable=False),
        sa.Column("offset_seconds", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("clock_id"),
    )
    with op.batch_alter_table("private_cas", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("key_storage", sa.String(16), nullable=False, server_default="envelope")
        )


def _backfill_renewal_due_at() -> None:
    """Certificates issued before managed renewal existed get their renewal time (the rule
    of domain/renewal.py, here with the dates alone: no certificate renewed by email yet)."""
    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT arn, not_before, not_after, validation_method FROM certificates "
            "WHERE type IN ('AMAZON_ISSUED', 'PRIVATE') AND not_before IS NOT NULL "
            "AND not_after IS NOT NULL"
        )
    ).all()
    for arn, not_before, not_after, method in rows:
        lead = timedelta(days=45 if method == "EMAIL" else 60)
        due = renewal_start(
            datetime.fromtimestamp(not_before, UTC), datetime.fromtimestamp(not_after, UTC), lead
        )
        conn.execute(
            sa.text("UPDATE certificates SET renewal_due_at = :due WHERE arn = :arn"),
            {"due": due.timestamp(), "arn": arn},
        )


def downgrade() -> None:
    op.drop_table("dev_clock")
    with op.batch_alter_table("private_cas", schema=None) as batch_op:
        batch_op.drop_column("key_storage")
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_renewal_due")
        batch_op.drop_column("renewal_due_at")
        batch_op.drop_column("renewal_updated_at")
        batch_op.drop_column("renewal_status_reason")
        batch_op.drop_column("certificate_authority_arn")
