"""acme issuer: the http-01 key authorizations openacm serves at the RedirectTo path

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-04 17:00:00

Linked after 0010 in its branch; the chain is re-linked when the branches merge. This revision
only adds a table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "acme_http_answers",
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("token", sa.String(length=128), nullable=False),
        sa.Column("key_authorization", sa.String(length=512), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("label", "token", name=op.f("pk_acme_http_answers")),
    )


def downgrade() -> None:
    op.drop_table("acme_http_answers")
