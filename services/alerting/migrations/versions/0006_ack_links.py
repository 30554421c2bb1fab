"""Ack links that have been used: a page's link acknowledges once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Spelled out rather than taken from the models: this revision must keep meaning what it meant.
    op.create_table(
        "ack_links",
        sa.Column("token_digest", sa.String(64), primary_key=True),
        sa.Column("alert_id", UUID(as_uuid=True), nullable=False),
        sa.Column("recipient", sa.String(200), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_table("ack_links", schema="alerting")
