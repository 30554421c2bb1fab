"""Pages that wait for the end of a mute window.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0002 creates the tables from the models, which now carry this column: a fresh database has it.
    op.execute("ALTER TABLE alerting.deliveries ADD COLUMN IF NOT EXISTS muted_until timestamptz")


def downgrade() -> None:
    op.drop_column("deliveries", "muted_until", schema="alerting")
