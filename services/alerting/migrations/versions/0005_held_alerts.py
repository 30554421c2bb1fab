"""Alerts a silence holds, found every timer tick to notify them when the silence ends.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0002 creates the tables from the models, which now carry this index: a fresh database has it.
    op.execute(
        "CREATE INDEX IF NOT EXISTS alerts_held ON alerting.alerts (id)"
        " WHERE silenced AND status <> 'resolved'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS alerting.alerts_held")
