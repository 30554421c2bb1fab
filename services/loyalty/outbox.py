"""The outbox relay: publishes committed loyalty.changes.v1 rows, then marks them published.

At-least-once: a crash between the publish and the mark re-publishes those rows with the same event
ids, which consumers deduplicate. Rows are taken with SKIP LOCKED, so several replicas can relay.
"""

from __future__ import annotations

import asyncio

import structlog
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from services.loyalty.metrics import OUTBOX_LAG, OUTBOX_PUBLISHED
from shared.contracts.registry import LOYALTY_CHANGES
from shared.kafka.producer import BrokerUnavailable
from shared.service import Runtime

log = structlog.get_logger(__name__)
_TAKE = text("""
    SELECT id, event_id, topic, event_type, key, value FROM loyalty.outbox
    WHERE published_at IS NULL AND topic = :topic ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_MARK = text("UPDATE loyalty.outbox SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))")
_LAG = text(
    "SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM loyalty.outbox "
    "WHERE published_at IS NULL"
)


async def relay_once(runtime: Runtime, limit: int = 1000) -> int:
    """Publish one batch of this deployment's unpublished rows; the number published."""
    topic_name = LOYALTY_CHANGES.name + runtime.settings.kafka.topic_suffix
    async with runtime.database.connection() as conn:
        rows = (await conn.execute(_TAKE, {"limit": limit, "topic": topic_name})).all()
        by_topic: dict[str, list[tuple[bytes, bytes, list[tuple[str, bytes]]]]] = {}
        for _, event_id, topic, event_type, key, value in rows:
            headers = [
                ("event_id", str(event_id).encode()),
                ("event_type", event_type.encode()),
                ("event_version", b"1"),
            ]
            by_topic.setdefault(topic, []).append((key.encode(), bytes(value), headers))
        for topic, records in by_topic.items():
            await runtime.producer.send_raw_many(topic, records)
        if rows:
            await conn.execute(_MARK, {"ids": [row[0] for row in rows]})
        OUTBOX_LAG.set(float((await conn.execute(_LAG, {"topic": topic_name})).scalar_one()))
    OUTBOX_PUBLISHED.inc(len(rows))
    return len(rows)


async def run_relay(runtime: Runtime) -> None:
    """Relay until cancelled; back off while the broker or database is away."""
    delay = 0.2
    while True:
        try:
            published = await relay_once(runtime)
            delay = 0.2
        except (BrokerUnavailable, SQLAlchemyError, OSError) as exc:
            log.warning("loyalty_outbox_relay_failed", error=str(exc), retry_in_s=delay)
            published, delay = 0, min(delay * 2, 10.0)
        if published == 0:
            await asyncio.sleep(delay)
