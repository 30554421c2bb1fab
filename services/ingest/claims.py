"""The idempotency store: claim (client, external_id) pairs, then mark them published after the ack.

Claims are made a whole group at a time (one statement with arrays, `unnest`), each under the id of
the batch that will publish it; after the broker's ack one row marks the batch published.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import NamedTuple

import asyncpg
from sqlalchemy.exc import SQLAlchemyError

from services.ingest.coalesce import Coalescer
from shared.db.engine import Database


class Claims(NamedTuple):
    """Pairs to claim, column by column (one entry per record; pairs unique)."""

    clients: list[str]
    external_ids: list[str]
    kinds: list[str]
    record_ids: list[str]
    payload_hashes: list[str]


class Stored(NamedTuple):
    record_id: str
    payload_hash: str
    published: bool


Key = tuple[str, str]
"""(client, external_id)"""

_CLAIM = """
    WITH t AS (
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[])
            WITH ORDINALITY AS t(c, e, k, r, h, i)
    ), inserted AS (
        INSERT INTO ingest.records (client_id, external_id, kind, record_id, payload_hash, status, batch_id)
        SELECT c, e, k, r, h, 'pending', $6 FROM t
        ON CONFLICT (client_id, external_id) DO NOTHING
        RETURNING record_id
    )
    SELECT i - 1 FROM t WHERE r NOT IN (SELECT record_id FROM inserted)
"""
_COLUMNS = ("client_id", "external_id", "kind", "record_id", "payload_hash", "status", "batch_id")
_INSERT_ALL = """
    INSERT INTO ingest.records (client_id, external_id, kind, record_id, payload_hash, status, batch_id)
    SELECT c, e, k, r, h, 'pending', $6
    FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[], $5::text[]) AS t(c, e, k, r, h)
"""
COPY_MIN_RECORDS = 100
"""Smaller claims are a plain INSERT: COPY takes two round trips (the server answers the COPY command
before the rows go), which cost more than it saves on a few rows."""
CAREFUL_CLAIMS = 16
"""After a claim found a pair stored before, this many claims go straight to the statement that
tolerates them (a client replaying a backlog must not pay for a failed statement each time)."""
_STORED = """
    SELECT r.client_id, r.external_id, r.record_id, r.payload_hash,
           r.status = 'published' OR EXISTS (
               SELECT FROM ingest.published_batches b WHERE b.batch_id = r.batch_id
           )
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
        self._careful = 0
        """Claims left to make with the conflict-tolerant statement before trying a plain insert."""

    async def claim(self, batch_id: int, claims: Claims) -> list[int]:
        """Insert the claims under `batch_id`, committed on its own (synchronously: claims must survive
        a crash); return the positions of those not inserted, whose pair was stored before or by a
        concurrent transaction meanwhile.

        The common case, every pair new, is tried first without ON CONFLICT: a plain binary COPY
        (a plain INSERT under COPY_MIN_RECORDS). INSERT … ON CONFLICT DO NOTHING costs the database
        more CPU than a plain INSERT (an extra index descent, and a speculative insertion confirmed by a
        WAL record of its own); COPY costs less again and spares this process the array parameters'
        encoding (asyncpg checks every array element against collections.abc). A unique violation
        means some pair was stored before: nothing of the COPY stays, and the claim is made again with
        ON CONFLICT DO NOTHING, which says which pairs were not inserted."""
        async with self._database.driver(transaction=False) as connection:
            if self._careful:
                self._careful -= 1
            else:
                try:
                    if len(claims.record_ids) >= COPY_MIN_RECORDS:
                        rows = zip(*claims, repeat("pending"), repeat(batch_id))
                        await connection.copy_records_to_table(
                            "records", schema_name="ingest", columns=_COLUMNS, records=rows
                        )
                    else:
                        await connection.execute(_INSERT_ALL, *claims, batch_id)
                    return []
                except asyncpg.UniqueViolationError:
                    self._careful = CAREFUL_CLAIMS
            found = await connection.fetch(_CLAIM, *claims, batch_id)
        return [row[0] for row in found]

    async def stored(self, keys: Sequence[Key]) -> dict[Key, Stored]:
        """What is stored for each of these (client, external_id) pairs."""
        async with self._database.driver(transaction=False) as connection:
            rows = await connection.fetch(_STORED, [k[0] for k in keys], [k[1] for k in keys])
        return {(row[0], row[1]): Stored(str(row[2]), row[3], row[4]) for row in rows}

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
