"""The idempotency store: claim (client, external_id) pairs, then mark them published after the ack.

Statements take whole batches as arrays (`unnest`, `= ANY`) and concurrent requests share one
transaction per round (group commit), so throughput is not capped by one WAL flush per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import text

from shared.db.coalesce import Coalescer
from shared.db.engine import Database


@dataclass(frozen=True)
class Claim:
    external_id: str
    kind: str
    record_id: UUID
    payload_hash: str


@dataclass(frozen=True)
class Stored:
    record_id: UUID
    payload_hash: str
    published: bool


ClaimRequest = tuple[str, Sequence[Claim]]
"""(client, claims) from one request."""

_CLAIM = text("""
    WITH input AS (
        SELECT * FROM unnest(CAST(:clients AS text[]), CAST(:external_ids AS text[]), CAST(:kinds AS text[]),
                             CAST(:record_ids AS uuid[]), CAST(:hashes AS text[])) AS t(c, e, k, r, h)
    ), inserted AS (
        INSERT INTO ingest.records (client_id, external_id, kind, record_id, payload_hash, status)
        SELECT c, e, k, r, h, 'pending' FROM input
        ON CONFLICT (client_id, external_id) DO NOTHING
        RETURNING client_id, external_id, record_id, payload_hash
    )
    SELECT client_id, external_id, record_id, payload_hash, false FROM inserted
    UNION ALL
    -- The statement's snapshot predates `inserted`, so this finds only rows that existed before.
    SELECT r.client_id, r.external_id, r.record_id, r.payload_hash, r.status = 'published'
    FROM ingest.records r JOIN input ON r.client_id = input.c AND r.external_id = input.e
""")
_STORED = text("""
    SELECT r.client_id, r.external_id, r.record_id, r.payload_hash, r.status = 'published'
    FROM ingest.records r
    JOIN unnest(CAST(:clients AS text[]), CAST(:external_ids AS text[])) AS t(c, e)
      ON r.client_id = t.c AND r.external_id = t.e
""")
_PUBLISHED = text("""
    UPDATE ingest.records r SET status = 'published', published_at = now()
    FROM unnest(CAST(:clients AS text[]), CAST(:external_ids AS text[])) AS t(c, e)
    WHERE r.client_id = t.c AND r.external_id = t.e AND r.status = 'pending'
""")


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
        async with self._database.connection() as connection:
            rows = await connection.execute(
                _CLAIM,
                {
                    "clients": [k[0] for k in keys],
                    "external_ids": [k[1] for k in keys],
                    "kinds": [c.kind for c in unique.values()],
                    "record_ids": [c.record_id for c in unique.values()],
                    "hashes": [c.payload_hash for c in unique.values()],
                },
            )
            stored = {(c, e): Stored(r, h, p) for c, e, r, h, p in rows}
            missing = [k for k in keys if k not in stored]
            if missing:
                # Inserted by a concurrent transaction that committed after the statement began.
                again = await connection.execute(
                    _STORED, {"clients": [k[0] for k in missing], "external_ids": [k[1] for k in missing]}
                )
                stored.update({(c, e): Stored(r, h, p) for c, e, r, h, p in again})
        return [
            {c.external_id: stored[(client, c.external_id)] for c in claims} for client, claims in requests
        ]

    async def _publish_round(self, requests: Sequence[ClaimRequest]) -> list[None]:
        keys = {(client, c.external_id) for client, claims in requests for c in claims}
        async with self._database.connection() as connection:
            # Losing this update in a database crash is harmless: a retry re-publishes the same ids.
            await connection.execute(text("SET LOCAL synchronous_commit = off"))
            await connection.execute(
                _PUBLISHED, {"clients": [k[0] for k in keys], "external_ids": [k[1] for k in keys]}
            )
        return [None] * len(requests)
