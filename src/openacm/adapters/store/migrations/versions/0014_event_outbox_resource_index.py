"""event outbox: the index of a resource's events (the console's certificate history)

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04 18:00:00

The chain is re-linked when the branches merge. The console's certificate detail page reads
the newest events of one certificate of one account (EventOutbox.for_resource); without this
index that read scans the whole outbox.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.create_index(
            "ix_event_outbox_resource",
            ["account_id", "resource_arn", "created_at"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("event_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_event_outbox_resource")
