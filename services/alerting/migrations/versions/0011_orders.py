"""Purchases remembered for a while, so that a refund counts for the business line of its order.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Spelled out rather than taken from the models: this revision must keep meaning what it meant.
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(200), primary_key=True),
        sa.Column("business_line", sa.String(100), nullable=False),
        sa.Column("channel", sa.String(30), nullable=False),
        sa.Column("store_id", sa.String(100), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        schema="alerting",
    )
    op.create_index("orders_placed_at", "orders", ["placed_at"], schema="alerting")


def downgrade() -> None:
    op.drop_table("orders", schema="alerting")
