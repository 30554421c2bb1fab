"""Effects exactly once: a handler claims each event id inside the transaction that applies its effect."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar
from uuid import UUID

from sqlalchemy import Column, DateTime, MetaData, String, Table, func, select, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession


def processed_events_table(metadata: MetaData) -> Table:
    """The table each consuming service keeps in its own schema (metadata.schema)."""
    return Table(
        "processed_events",
        metadata,
        Column("consumer_group", String(200), primary_key=True),
        Column("event_id", PG_UUID(as_uuid=True), primary_key=True),
        Column("event_type", String(100), nullable=False),
        Column("processed_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    )


async def claim_events(
    session: AsyncSession | AsyncConnection, table: Table, group: str, events: Iterable[tuple[UUID, str]]
) -> set[UUID]:
    """Record (event_id, type) pairs as processed by `group`; return the ids not seen before.

    Run it in the same transaction as the effect: if that rolls back, the claim does too.
    """
    unique = dict(events)
    if not unique:
        return set()
    # One array-bound statement whatever the batch size (a multi-row VALUES would be compiled per batch).
    statement = text(f"""
        INSERT INTO {table.fullname} (consumer_group, event_id, event_type)
        SELECT :group, e, t FROM unnest(CAST(:ids AS uuid[]), CAST(:types AS text[])) AS u(e, t)
        ON CONFLICT DO NOTHING RETURNING event_id
    """)  # noqa: S608 - the table name comes from code, never from input
    result = await session.execute(
        statement, {"group": group, "ids": list(unique), "types": list(unique.values())}
    )
    return set(result.scalars())


async def was_processed(session: AsyncSession, table: Table, group: str, event_id: UUID) -> bool:
    found = await session.execute(
        select(table.c.event_id).where(table.c.consumer_group == group, table.c.event_id == event_id)
    )
    return found.first() is not None


EventT = TypeVar("EventT")


def fresh_events(
    events: Sequence[EventT], fresh_ids: set[UUID], event_id: Callable[[EventT], UUID]
) -> list[EventT]:
    """The events whose id was just claimed, each id once (a batch may hold the same event twice)."""
    seen: set[UUID] = set()
    out = []
    for event in events:
        key = event_id(event)
        if key in fresh_ids and key not in seen:
            seen.add(key)
            out.append(event)
    return out
