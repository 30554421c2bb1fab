"""Callbacks (回访) on the alert facts and their counts in the alert rollup.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COUNTS = ("callbacks", "callbacks_done", "callbacks_on_time", "callback_promoters", "callback_detractors")


def upgrade() -> None:
    # Spelled out rather than taken from the models: this revision must keep meaning what it meant.
    op.add_column("alerts", sa.Column("callback_due_at", sa.DateTime(timezone=True)), schema="insights")
    op.add_column("alerts", sa.Column("callback_done_at", sa.DateTime(timezone=True)), schema="insights")
    op.add_column("alerts", sa.Column("callback_nps", sa.SmallInteger()), schema="insights")
    for name in COUNTS:
        column = sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
        op.add_column("alert_cells", column, schema="insights")


def downgrade() -> None:
    for name in COUNTS:
        op.drop_column("alert_cells", name, schema="insights")
    for name in ("callback_due_at", "callback_done_at", "callback_nps"):
        op.drop_column("alerts", name, schema="insights")
