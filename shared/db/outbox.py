"""Transactional outbox: a service writes events in the same transaction as its state; a relay publishes
committed rows, then marks them published.

At-least-once: a crash between the publish and the mark re-publishes those rows with the same event
ids, which consumers deduplicate. Rows are taken with SKIP LOCKED, so several replicas can relay.
"""

# ruff: noqa: S608 - the schema interpolated into SQL is a constant of the calling service, never input

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import structlog
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Index,
    LargeBinary,
    MetaData,
    Row,
    String,
    Table,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.kafka.producer import BrokerUnavailable, EventProducer

log = structlog.get_logger(__name__)
OUTBOX_LAG = Gauge(
    "outbox_lag_seconds", "Age of the oldest unpublished outbox row (0 when empty).", ["service"]
)
OUTBOX_PUBLISHED = Counter("outbox_published_total", "Outbox rows published.", ["service"])
AfterPublish = Callable[[AsyncConnection, Sequence[Row[Any]]], Awaitable[None]]


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=True),
        Column("event_id", PG_UUID(as_uuid=True), nullable=False, unique=True),
        Column("topic", String(200), nullable=False),
        Column("event_type", String(60), nullable=False),
        Column("key", String(200), nullable=False),
        Column("value", LargeBinary, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
        Column("published_at", DateTime(timezone=True)),
        Index(
            f"{metadata.schema}_outbox_unpublished", "id", postgresql_where=Column("published_at").is_(None)
        ),
    )


class OutboxRelay:
    def __init__(self, service: str, schema: str, after_publish: AfterPublish | None = None) -> None:
        self.service = service
        self.after_publish = after_publish
        self._take = text(f"""
            SELECT id, event_id, topic, event_type, key, value FROM {schema}.outbox
            WHERE published_at IS NULL AND topic = :topic ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
        """)
        self._mark = text(
            f"UPDATE {schema}.outbox SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))"
        )
        self._lag = text(
            f"SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM {schema}.outbox "
            "WHERE published_at IS NULL AND topic = :topic"
        )

    async def relay_once(
        self, conn: AsyncConnection, producer: EventProducer, topic: str, limit: int = 1000
    ) -> int:
        """Publish one batch of `topic`'s unpublished rows; the number published."""
        rows = (await conn.execute(self._take, {"limit": limit, "topic": topic})).all()
        if rows:
            records = [
                (
                    row.key.encode(),
                    bytes(row.value),
                    [
                        ("event_id", str(row.event_id).encode()),
                        ("event_type", row.event_type.encode()),
                        ("event_version", b"1"),
                    ],
                )
                for row in rows
            ]
            await producer.send_raw_many(topic, records)
            await conn.execute(self._mark, {"ids": [row.id for row in rows]})
        OUTBOX_LAG.labels(self.service).set(
            float((await conn.execute(self._lag, {"topic": topic})).scalar_one())
        )
        OUTBOX_PUBLISHED.labels(self.service).inc(len(rows))
        if self.after_publish is not None:
            await self.after_publish(conn, rows)
        return len(rows)

    async def run(self, connect: Callable[[], Any], producer: EventProducer, topic: str) -> None:
        """Relay until cancelled; back off while the broker or database is away. `connect` opens a
        transaction-scoped connection (e.g. `Database.connection`)."""
        delay = 0.2
        while True:
            try:
                async with connect() as conn:
                    published = await self.relay_once(conn, producer, topic)
                delay = 0.2
            except (BrokerUnavailable, SQLAlchemyError, OSError) as exc:
                log.warning("outbox_relay_failed", error=str(exc), retry_in_s=delay)
                published, delay = 0, min(delay * 2, 10.0)
            if published == 0:
                await asyncio.sleep(delay)
