"""Points columns become bigint: a purchase of the largest amount the contracts accept earns more points than
a 32-bit integer holds, and the consumer failed on it forever (asyncpg's OverflowError).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCHEMA = "loyalty"
POINTS_COLUMNS = {
    "members": ("balance",),
    "lots": ("points", "remaining"),
    "ledger": ("points", "balance_after"),
    "orders": ("points_earned", "points_clawed_back"),
    "redemptions": ("points",),
}
"""0002 creates tables from the current models, so on a new database these are bigint already and the
change below costs nothing; on one created before, each table is rewritten once."""


def upgrade() -> None:
    for table, columns in POINTS_COLUMNS.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.BigInteger(), existing_nullable=False, schema=SCHEMA)


def downgrade() -> None:
    """Fails (numeric out of range) while any value exceeds 32 bits: nothing is silently cut."""
    for table, columns in POINTS_COLUMNS.items():
        for column in columns:
            op.alter_column(table, column, type_=sa.Integer(), existing_nullable=False, schema=SCHEMA)
