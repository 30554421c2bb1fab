"""Open alerts by customer (the console's member lookup and the `customer=` filter).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0002 creates the tables from the models, which now carry this index: a fresh database has it.
    op.execute(
        "CREATE INDEX IF NOT EXISTS alerts_open_customer ON alerting.alerts (customer_id)"
        " WHERE status <> 'resolved'"
    )


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS alerting.alerts_open_customer")
