"""The outbox relay: publishes committed loyalty.changes.v1 rows, then marks them published.

At-least-once: a crash between the publish and the mark re-publishes those rows with the same event
ids, which consumers deduplicate. Rows are taken with SKIP LOCKED, so several replicas can relay.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Row, text
from sqlalchemy.exc import SQLAlchemyError

from services.loyalty.metrics import MEMBERS_BY_TIER, OUTBOX_LAG, OUTBOX_PUBLISHED, POINTS
from shared.contracts.registry import LOYALTY_CHANGES
from shared.kafka.producer import BrokerUnavailable
from shared.service import Runtime

log = structlog.get_logger(__name__)
_tiers_refreshed = [0.0]
_TAKE = text("""
    SELECT id, event_id, topic, event_type, key, value FROM loyalty.outbox
    WHERE published_at IS NULL AND topic = :topic ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
""")
_MARK = text("UPDATE loyalty.outbox SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))")
_TIERS = text("SELECT tier, count(*) FROM loyalty.members GROUP BY tier")
POINT_KINDS = {
    "points_earned": "issued",
    "points_redeemed": "redeemed",
    "points_expired": "expired",
    "points_clawed_back": "clawed_back",
}
TIER_REFRESH_S = 15.0
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
        if time.monotonic() - _tiers_refreshed[0] > TIER_REFRESH_S:
            for tier, count in (await conn.execute(_TIERS)).all():
                MEMBERS_BY_TIER.labels(tier).set(count)
            _tiers_refreshed[0] = time.monotonic()
    OUTBOX_PUBLISHED.inc(len(rows))
    count_points(rows)
    return len(rows)


def count_points(rows: Sequence[Row[Any]]) -> None:
    """Points issued / redeemed / expired / clawed back, from the changes just published."""
    for row in rows:
        kind = POINT_KINDS.get(row.event_type)
        if kind is not None:
            POINTS.labels(kind).inc(abs(int(json.loads(bytes(row.value))["payload"]["points"])))


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
