"""The notifier: takes due deliveries (leased with SKIP LOCKED), sends each on its own channel, and logs
every attempt; failures retry with exponential backoff until `max_attempts`, then count as failed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy import Row, insert, select, update
from sqlalchemy.exc import SQLAlchemyError

from services.alerting.channels import DeliveryError, send
from services.alerting.config import AlertingSettings
from services.alerting.lifecycle import note
from services.alerting.metrics import NOTIFICATIONS
from services.alerting.models import deliveries, delivery_attempts
from services.alerting.rules import AlertingConfig
from shared.service import Runtime

log = structlog.get_logger(__name__)
LEASE = timedelta(seconds=60)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 600))


async def _attempt(
    row: Row[Any], config: AlertingConfig, settings: AlertingSettings, http: httpx.AsyncClient
) -> str | None:
    try:
        await send(row.channel, row.target, row.payload, config, settings, http)
    except DeliveryError as exc:
        return str(exc)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


async def deliver_once(
    runtime: Runtime,
    config: AlertingConfig,
    settings: AlertingSettings,
    http: httpx.AsyncClient,
    now: datetime,
) -> int:
    """Sends what is due at `now`; the number of attempts made."""
    async with runtime.database.connection() as conn:
        rows = (
            await conn.execute(
                select(deliveries)
                .where(deliveries.c.status == "pending", deliveries.c.next_attempt_at <= now)
                .order_by(deliveries.c.id)
                .limit(50)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return 0
        await conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_([r.id for r in rows]))
            .values(next_attempt_at=now + LEASE)
        )
    errors = await asyncio.gather(*(_attempt(row, config, settings, http) for row in rows))
    async with runtime.database.connection() as conn:
        for row, error in zip(rows, errors, strict=True):
            attempts = row.attempts + 1
            status = (
                "sent" if error is None else ("failed" if attempts >= settings.max_attempts else "pending")
            )
            await conn.execute(
                insert(delivery_attempts).values(
                    delivery_id=row.id,
                    at=now,
                    channel=row.channel,
                    target=row.target,
                    ok=error is None,
                    error=error,
                )
            )
            await conn.execute(
                update(deliveries)
                .where(deliveries.c.id == row.id)
                .values(
                    status=status,
                    attempts=attempts,
                    last_error=error,
                    sent_at=now if error is None else None,
                    next_attempt_at=now + backoff(attempts),
                )
            )
            if status != "pending":
                await note(
                    conn,
                    row.alert_id,
                    "notified" if error is None else "notification_failed",
                    now,
                    None,
                    detail={
                        "channel": row.channel,
                        "target": row.target,
                        "attempts": attempts,
                        "error": error,
                    },
                )
            NOTIFICATIONS.labels(row.channel, "sent" if error is None else "error").inc()
    return len(rows)


async def run_notifier(
    runtime: Runtime,
    config: Callable[[], AlertingConfig],
    settings: AlertingSettings,
    clock: Callable[[], datetime] | None = None,
) -> None:
    now = clock or (lambda: datetime.now(UTC))
    async with httpx.AsyncClient(timeout=5.0, follow_redirects=False) as http:
        while True:
            try:
                sent = await deliver_once(runtime, config(), settings, http, now())
            except (SQLAlchemyError, OSError) as exc:
                log.warning("alerting_notifier_failed", error=str(exc))
                sent = 0
            if sent == 0:
                await asyncio.sleep(settings.notify_interval_s)
