"""The idempotency store: claim (client, external_id) pairs, then mark them published after the ack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import func, tuple_, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.ingest.models import records

Key = tuple[str, str]
"""(client_id, external_id)."""


@dataclass(frozen=True)
class Claim:
    client_id: str
    external_id: str
    kind: str
    record_id: UUID
    payload_hash: str

    @property
    def key(self) -> Key:
        return (self.client_id, self.external_id)


@dataclass(frozen=True)
class Stored:
    record_id: UUID
    payload_hash: str
    published: bool


async def claim(session: AsyncSession, claims: Sequence[Claim]) -> dict[Key, Stored]:
    """Insert the claims that are new; return what is stored for every key (new ones unpublished).

    Guarantees: one row per key whatever the concurrency; an existing row is never overwritten.
    """
    if not claims:
        return {}
    rows = [
        {
            "client_id": c.client_id,
            "external_id": c.external_id,
            "kind": c.kind,
            "record_id": c.record_id,
            "payload_hash": c.payload_hash,
            "status": "pending",
        }
        for c in claims
    ]
    inserted = await session.execute(
        insert(records)
        .values(rows)
        .on_conflict_do_nothing()
        .returning(records.c.client_id, records.c.external_id)
    )
    new = {(row[0], row[1]) for row in inserted}
    stored = {c.key: Stored(c.record_id, c.payload_hash, published=False) for c in claims if c.key in new}
    others = [c.key for c in claims if c.key not in new]
    if others:
        found = await session.execute(
            records.select()
            .with_only_columns(
                records.c.client_id,
                records.c.external_id,
                records.c.record_id,
                records.c.payload_hash,
                records.c.status,
            )
            .where(tuple_(records.c.client_id, records.c.external_id).in_(others))
        )
        for client_id, external_id, record_id, payload_hash, status in found:
            stored[(client_id, external_id)] = Stored(record_id, payload_hash, status == "published")
    return stored


async def mark_published(session: AsyncSession, keys: Sequence[Key]) -> None:
    if keys:
        await session.execute(
            update(records)
            .where(tuple_(records.c.client_id, records.c.external_id).in_(list(keys)))
            .values(status="published", published_at=func.now())
        )
