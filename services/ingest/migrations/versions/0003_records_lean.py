"""ingest.records: room for in-place (HOT) status updates, and no index on record_id.

Every accepted record is inserted as pending and updated to published after the broker's ack. With
full pages that update writes a new tuple and new entries in every index; with free space on the page
it is a heap-only update. Record ids are random UUIDs nothing looks up, so their unique index only
cost a random B-tree insertion per record; without it, inserts and status updates both cost the
database less per row.

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
    op.drop_constraint("records_record_id_key", "records", schema="ingest", type_="unique")
    op.execute("ALTER TABLE ingest.records SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE ingest.records RESET (fillfactor)")
    op.create_unique_constraint("records_record_id_key", "records", ["record_id"], schema="ingest")
