"""Members, lots, ledger, orders, rewards, tier history, redemptions and the outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from services.loyalty.models import (
    ledger,
    lots,
    members,
    orders,
    outbox,
    redemptions,
    rewards,
    tier_history,
)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (members, lots, ledger, orders, rewards, tier_history, redemptions, outbox)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)
    op.execute("CREATE INDEX lots_open ON loyalty.lots (customer_id, expires_at) WHERE remaining > 0")


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
