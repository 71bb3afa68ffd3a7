"""indexes for the console: a resource's events, a scope's certificates by NotAfter

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 18:00:00

The chain is re-linked when the branches merge. The console's certificate detail page reads
the newest events of one certificate of one account (EventOutbox.for_resource); without this
index that read scans the whole outbox. The dashboard's NotAfter ranges (certificates
expiring soon, the year's expiries by month) read the certificates of one account and
region by NotAfter.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_outbox_resource",
            ["account_id", "resource_arn", "created_at"],
            unique=False,
        )
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.create_index(
            "ix_certificates_scope_not_after",
            ["account_id", "region", "not_after"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("certificates", schema=None) as batch_op:
        batch_op.drop_index("ix_certificates_scope_not_after")
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_event_outbox_resource")
