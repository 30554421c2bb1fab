"""The idempotency store: claim (client, external_id) pairs, then mark them published after the ack.

Claims are made a whole group at a time (one statement with arrays, `unnest`), each under the id of
the batch that will publish it; after the broker's ack one row marks the batch published.
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
    fresh: bool
    """Inserted by this claim (else stored before, under another batch)."""


Key = tuple[str, str]
"""(client, external_id)"""

_CLAIM = """
    INSERT INTO ingest.records (client_id, external_id, kind, record_id, payload_hash, status, batch_id)
    SELECT c, e, k, r, h, 'pending', $6
    FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[]) AS t(c, e, k, r, h)
    ON CONFLICT (client_id, external_id) DO NOTHING
    RETURNING client_id, external_id
"""
_STORED = """
    SELECT r.client_id, r.external_id, r.record_id, r.payload_hash,
           r.status = 'published' OR EXISTS (
               SELECT FROM ingest.published_batches b WHERE b.batch_id = r.batch_id
           ),
           false
    FROM ingest.records r
    JOIN unnest($1::text[], $2::text[]) AS t(c, e) ON r.client_id = t.c AND r.external_id = t.e
"""
_MOVED = """
    UPDATE ingest.records r SET batch_id = t.b
    FROM unnest($1::text[], $2::text[], $3::bigint[]) AS t(c, e, b)
    WHERE r.client_id = t.c AND r.external_id = t.e
"""
STORE_ERRORS = (SQLAlchemyError, OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError)
"""What a store call raises when the database is unavailable or failing."""


class Mark(NamedTuple):
    """A batch the broker acknowledged: its id, its record count, and the records it re-published
    that were claimed under an earlier batch (whose publish failed or is unknown)."""

    batch_id: int
    records: int
    moved: Sequence[Key]


class RecordStore:
    """Guarantees: one row per (client, external_id) whatever the concurrency; a row is never
    overwritten; a claim is durable (synchronously committed) before anything is published."""

    def __init__(self, database: Database) -> None:
        self._database = database
        self._marks: Coalescer[Mark, None] = Coalescer(self._mark_round)

    async def claim(self, batch_id: int, claims: Mapping[str, Sequence[Claim]]) -> dict[Key, Stored]:
        """Insert the new claims (client → claims, external ids unique per client) in one statement,
        under `batch_id`; return what is stored for each (client, external_id)."""
        keys = [(client, c.external_id) for client, items in claims.items() for c in items]
        items = [c for group in claims.values() for c in group]
        # One statement, committed on its own (synchronously: claims must survive a crash).
        async with self._database.driver(transaction=False) as connection:
            rows = await connection.fetch(
                _CLAIM,
                [k[0] for k in keys],
                [k[1] for k in keys],
                [c.kind for c in items],
                [c.record_id for c in items],
                [c.payload_hash for c in items],
                batch_id,
            )
            # Inserted rows are what was sent: only their keys come back (no uuid or hash to decode).
            sent = dict(zip(keys, items, strict=True))
            stored = {}
            for client, external_id in rows:
                claim = sent[(client, external_id)]
                stored[(client, external_id)] = Stored(claim.record_id, claim.payload_hash, False, True)
            if len(stored) < len(keys):
                # Stored before (repeats), or by a concurrent transaction that committed meanwhile:
                # this statement's snapshot sees both.
                missing = [k for k in keys if k not in stored]
                again = await connection.fetch(_STORED, [k[0] for k in missing], [k[1] for k in missing])
                stored.update({(row[0], row[1]): Stored(row[2], row[3], row[4], row[5]) for row in again})
        return stored

    async def mark_published(self, mark: Mark) -> None:
        """Record an acknowledged batch (concurrent calls share one transaction)."""
        await self._marks.submit(mark)

    async def _mark_round(self, marks: Sequence[Mark]) -> list[None]:
        moved = [(key, mark.batch_id) for mark in marks for key in mark.moved]
        # Losing marks in a database crash is harmless (a retry re-publishes under the same ids), so they
        # commit asynchronously. Ids and counts are ints made here, so the common case is one
        # simple-protocol round trip with them inline.
        values = ",".join(f"({int(m.batch_id)},{int(m.records)})" for m in marks)
        insert = "INSERT INTO ingest.published_batches (batch_id, records) VALUES %s ON CONFLICT DO NOTHING"
        insert %= values  # ints formatted by int() above: nothing from outside reaches the statement
        async with self._database.driver(transaction=False) as connection:
            if not moved:
                await connection.execute(f"BEGIN; SET LOCAL synchronous_commit = off; {insert}; COMMIT")
                return [None] * len(marks)
            async with connection.transaction():
                await connection.execute("SET LOCAL synchronous_commit = off")
                await connection.execute(
                    _MOVED, [k[0] for k, _ in moved], [k[1] for k, _ in moved], [b for _, b in moved]
                )
                await connection.execute(insert)
        return [None] * len(marks)
