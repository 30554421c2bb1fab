"""Resolution targets: when an alert must be resolved by, and when it missed that.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # 0002 creates the tables from the models, which now carry these columns: a fresh database has them.
    op.execute("ALTER TABLE alerting.alerts ADD COLUMN IF NOT EXISTS resolve_by timestamptz")
    op.execute("ALTER TABLE alerting.alerts ADD COLUMN IF NOT EXISTS sla_missed_at timestamptz")
    op.execute(
        "CREATE INDEX IF NOT EXISTS alerts_resolve_by ON alerting.alerts (resolve_by)"
        " WHERE status <> 'resolved'"
    )


def downgrade() -> None:
    op.drop_index("alerts_resolve_by", table_name="alerts", schema="alerting")
    op.drop_column("alerts", "sla_missed_at", schema="alerting")
    op.drop_column("alerts", "resolve_by", schema="alerting")
