"""The idempotency store: claim (client, external_id) pairs, then mark them published after the ack.

Statements take whole batches as arrays (`unnest`, `= ANY`) and concurrent requests share one
transaction per round (group commit), so throughput is not capped by one WAL flush per request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple
from uuid import UUID

import asyncpg
from sqlalchemy.exc import SQLAlchemyError

from shared.db.coalesce import Coalescer
from shared.db.engine import Database


class Claim(NamedTuple):
    external_id: str
    kind: str
    record_id: UUID
    payload_hash: str


class Stored(NamedTuple):
    record_id: UUID
    payload_hash: str
    published: bool


Key = tuple[str, str]
"""(client, external_id)"""

_CLAIM = """
    INSERT INTO ingest.records (client_id, external_id, kind, record_id, payload_hash, status)
    SELECT c, e, k, r, h, 'pending'
    FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[]) AS t(c, e, k, r, h)
    ON CONFLICT (client_id, external_id) DO NOTHING
    RETURNING client_id, external_id, record_id, payload_hash, false
"""
_STORED = """
    SELECT r.client_id, r.external_id, r.record_id, r.payload_hash, r.status = 'published'
    FROM ingest.records r
    JOIN unnest($1::text[], $2::text[]) AS t(c, e) ON r.client_id = t.c AND r.external_id = t.e
"""
_PUBLISHED = """
    UPDATE ingest.records r SET status = 'published', published_at = now()
    FROM unnest($1::text[], $2::text[]) AS t(c, e)
    WHERE r.client_id = t.c AND r.external_id = t.e AND r.status = 'pending'
"""
STORE_ERRORS = (SQLAlchemyError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a store call raises when the database is unavailable or failing."""


class RecordStore:
    """Guarantees: one row per (client, external_id) whatever the concurrency; a row is never
    overwritten; a claim is durable (synchronously committed) before anything is published."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._published: Coalescer[Sequence[Key], None] = Coalescer(self._publish_round)

    async def claim(self, claims: Mapping[str, Sequence[Claim]]) -> dict[Key, Stored]:
        """Insert the new claims (client → claims, external ids unique per client) in one statement;
        return what is stored for each (client, external_id), new ones unpublished."""
        keys = [(client, c.external_id) for client, items in claims.items() for c in items]
        items = [c for group in claims.values() for c in group]
        async with self._database.driver() as connection:
            rows = await connection.fetch(
                _CLAIM,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [c.kind for c in items],
                [c.record_id for c in items],
                [c.payload_hash for c in items],
            )
            stored = {(c, e): Stored(r, h, p) for c, e, r, h, p in rows}
            missing = [k for k in keys if k not in stored]
            if missing:
                # Stored before (repeats), or by a concurrent transaction that committed meanwhile:
                # this statement's snapshot sees both.
                again = await connection.fetch(_STORED, [k[0] for k in missing], [k[1] for k in missing])
                stored.update({(c, e): Stored(r, h, p) for c, e, r, h, p in again})
        return stored

    async def mark_published(self, keys: Sequence[Key]) -> None:
        """Record that these were acknowledged by the broker (concurrent calls share one statement)."""
        if keys:
            await self._published.submit(keys)

    async def _publish_round(self, requests: Sequence[Sequence[Key]]) -> list[None]:
        keys = {key for keys in requests for key in keys}
        async with self._database.driver() as connection:
            # Losing this update in a database crash is harmless: a retry re-publishes the same ids.
            await connection.execute("SET LOCAL synchronous_commit = off")
            await connection.execute(_PUBLISHED, [k[0] for k in keys], [k[1] for k in keys])
        return [None] * len(requests)
