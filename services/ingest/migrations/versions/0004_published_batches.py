"""ingest.published_batches: one row marks a whole publish batch acknowledged.

Records are claimed with the id of the batch that publishes them; after the broker's ack one row for
the batch is inserted instead of one update per record (updating every record was a large share of
the database's work per accepted record). A record counts as published when its status says so (rows
from before this revision) or its batch is in this table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("records", sa.Column("batch_id", sa.BigInteger()), schema="ingest")
    op.create_table(
        "published_batches",
        sa.Column("batch_id", sa.BigInteger(), primary_key=True),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        schema="ingest",
    )


def downgrade() -> None:
    op.execute(
        "UPDATE ingest.records r SET status = 'published', published_at = b.published_at"
        " FROM ingest.published_batches b WHERE r.batch_id = b.batch_id"
    )
    op.drop_table("published_batches", schema="ingest")
    op.drop_column("records", "batch_id", schema="ingest")
