"""Who each schedule had on call when last looked at, for hand-off notices.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Spelled out rather than taken from the models: this revision must keep meaning what it meant.
    op.create_table(
        "handoffs",
        sa.Column("deployment", sa.String(200), primary_key=True),
        sa.Column("schedule", sa.String(200), primary_key=True),
        sa.Column("person", sa.String(200), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        schema="alerting",
    )


def downgrade() -> None:
    op.drop_table("handoffs", schema="alerting")
