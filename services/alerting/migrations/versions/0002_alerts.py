"""Alerts, timeline, deliveries, attempts, window cells, engine state, member tiers, silences, audit, outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

from services.alerting.models import (
    alerts,
    audit,
    deliveries,
    delivery_attempts,
    engine_state,
    member_tiers,
    outbox,
    silences,
    timeline,
    window_cells,
)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    alerts,
    timeline,
    deliveries,
    delivery_attempts,
    engine_state,
    window_cells,
    member_tiers,
    silences,
    audit,
    outbox,
)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
