"""Loyalty's outbox relay (shared.db.outbox) plus the metrics it derives from what it publishes."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.metrics import MEMBERS_BY_TIER, POINTS
from shared.contracts.registry import LOYALTY_CHANGES
from shared.db.outbox import OutboxRelay
from shared.service import Runtime

_TIERS = text("SELECT tier, count(*) FROM loyalty.members GROUP BY tier")
POINT_KINDS = {
    "points_earned": "issued",
    "points_redeemed": "redeemed",
    "points_expired": "expired",
    "points_clawed_back": "clawed_back",
}
TIER_REFRESH_S = 15.0
_tiers_refreshed = [0.0]


def count_points(rows: Sequence[Row[Any]]) -> None:
    """Points issued / redeemed / expired / clawed back, from the changes just published."""
    for row in rows:
        kind = POINT_KINDS.get(row.event_type)
        if kind is not None:
            POINTS.labels(kind).inc(abs(int(json.loads(bytes(row.value))["payload"]["points"])))


async def after_publish(conn: AsyncConnection, rows: Sequence[Row[Any]]) -> None:
    count_points(rows)
    if time.monotonic() - _tiers_refreshed[0] > TIER_REFRESH_S:
        for tier, count in (await conn.execute(_TIERS)).all():
            MEMBERS_BY_TIER.labels(tier).set(count)
        _tiers_refreshed[0] = time.monotonic()


RELAY = OutboxRelay("loyalty", "loyalty", after_publish)


async def relay_once(runtime: Runtime, limit: int = 1000) -> int:
    async with runtime.database.connection() as conn:
        return await RELAY.relay_once(conn, runtime.producer, _topic(runtime), limit)


async def run_relay(runtime: Runtime) -> None:
    await RELAY.run(runtime.database.connection, runtime.producer, _topic(runtime))


def _topic(runtime: Runtime) -> str:
    return LOYALTY_CHANGES.name + runtime.settings.kafka.topic_suffix
