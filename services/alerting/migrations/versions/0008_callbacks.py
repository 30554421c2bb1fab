"""Callbacks (回访) to customers after their case is resolved.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Spelled out rather than taken from the models: this revision must keep meaning what it meant.
    op.create_table(
        "callbacks",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        sa.Column("alert_id", UUID(as_uuid=True), nullable=False, unique=True),
        sa.Column("rule_id", sa.String(100), nullable=False),
        sa.Column("customer_id", sa.String(200), nullable=False),
        sa.Column("tier", sa.String(20)),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("overdue_alert_id", UUID(as_uuid=True)),
        sa.Column("review_alert_id", UUID(as_uuid=True)),
        sa.Column("done_at", sa.DateTime(timezone=True)),
        sa.Column("done_by", sa.String(200)),
        sa.Column("nps", sa.SmallInteger),
        sa.Column("note", sa.Text),
        schema="alerting",
    )
    op.create_index(
        "callbacks_due",
        "callbacks",
        ["due_at"],
        schema="alerting",
        postgresql_where=sa.text("status = 'due'"),
    )
    op.create_index("callbacks_done", "callbacks", ["done_at"], schema="alerting")


def downgrade() -> None:
    op.drop_table("callbacks", schema="alerting")
