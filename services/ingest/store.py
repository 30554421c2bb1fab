"""The idempotency store: claim (client, external_id) pairs, then mark them published after the ack.

Statements take whole batches as arrays (`unnest`, `= ANY`) and concurrent requests share one
transaction per round (group commit), so throughput is not capped by one WAL flush per request.
"""

from __future__ import annotations

from collections.abc import Sequence
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


ClaimRequest = tuple[str, Sequence[Claim]]
"""(client, claims) from one request."""

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
        self._claims: Coalescer[ClaimRequest, dict[str, Stored]] = Coalescer(self._claim_round)
        self._published: Coalescer[ClaimRequest, None] = Coalescer(self._publish_round)

    async def claim(self, client: str, claims: Sequence[Claim]) -> dict[str, Stored]:
        """Insert the new claims; return what is stored for each external id (new ones unpublished)."""
        return await self._claims.submit((client, claims)) if claims else {}

    async def mark_published(self, client: str, claims: Sequence[Claim]) -> None:
        if claims:
            await self._published.submit((client, claims))

    async def _claim_round(self, requests: Sequence[ClaimRequest]) -> list[dict[str, Stored]]:
        unique: dict[tuple[str, str], Claim] = {}
        for client, claims in requests:
            for c in claims:
                unique.setdefault((client, c.external_id), c)
        keys = list(unique)
        claims = list(unique.values())
        async with self._database.driver() as connection:
            rows = await connection.fetch(
                _CLAIM,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [c.kind for c in claims],
                [c.record_id for c in claims],
                [c.payload_hash for c in claims],
            )
            stored = {(c, e): Stored(r, h, p) for c, e, r, h, p in rows}
            missing = [k for k in keys if k not in stored]
            if missing:
                # Stored before (repeats), or by a concurrent transaction that committed meanwhile:
                # this statement's snapshot sees both.
                again = await connection.fetch(_STORED, [k[0] for k in missing], [k[1] for k in missing])
                stored.update({(c, e): Stored(r, h, p) for c, e, r, h, p in again})
        return [
            {c.external_id: stored[(client, c.external_id)] for c in claims} for client, claims in requests
        ]

    async def _publish_round(self, requests: Sequence[ClaimRequest]) -> list[None]:
        keys = {(client, c.external_id) for client, claims in requests for c in claims}
        async with self._database.driver() as connection:
            # Losing this update in a database crash is harmless: a retry re-publishes the same ids.
            await connection.execute("SET LOCAL synchronous_commit = off")
            await connection.execute(_PUBLISHED, [k[0] for k in keys], [k[1] for k in keys])
        return [None] * len(requests)
