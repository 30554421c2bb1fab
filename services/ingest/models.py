"""Tables of the ingest service, all in its own `ingest` schema."""

from sqlalchemy import Column, DateTime, MetaData, String, Table, func
from sqlalchemy.dialects.postgresql import UUID as PG_UUID

metadata = MetaData(schema="ingest")

records = Table(
    "records",
    metadata,
    Column("client_id", String(100), primary_key=True),
    Column("external_id", String(200), primary_key=True),
    Column("kind", String(40), nullable=False),
    Column("record_id", PG_UUID(as_uuid=True), nullable=False, unique=True),
    Column("payload_hash", String(64), nullable=False),
    Column("status", String(10), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("published_at", DateTime(timezone=True)),
)
"""One row per (client, external_id): the idempotency record. Holds a hash of the payload, never the
payload itself, so no personal data is stored. `pending` until the broker acknowledged the publish."""
