"""The notifier: leases due deliveries (SKIP LOCKED), sends each in its destination's lane, and logs every
attempt; failures retry with exponential backoff until `max_attempts`, then count as failed.

Lanes keep channels independent: each destination (channel + host) has its own small number of sends in
flight, so a slow or dead receiver only delays its own notifications. Outcomes are written in batches by
one recorder; a delivery stays excluded from new leases until its outcome is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import structlog
from sqlalchemy import Row, text
from sqlalchemy.exc import SQLAlchemyError

from services.alerting.config import AlertingSettings
from services.alerting.delivery.channels import DeliveryError, address, send
from services.alerting.delivery.ssrf import guarded_connector
from services.alerting.metrics import NOTIFICATIONS
from services.alerting.rules import AlertingConfig
from shared.service import Runtime

log = structlog.get_logger(__name__)
LEASE = timedelta(seconds=30)
LEASE_BATCH = 200
MAX_BUSY = 5000
"""Deliveries held in memory at most (sending or waiting in a lane): beyond it, nothing more is leased."""
Outcome = tuple[Row[Any], str | None]


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(5 * 2 ** max(attempts - 1, 0), 600))


async def _attempt(
    row: Row[Any],
    config: AlertingConfig,
    settings: AlertingSettings,
    http: aiohttp.ClientSession,
    now: datetime,
) -> str | None:
    try:
        delivery_id = str(row.id)
        await send(row.channel, row.target, row.payload, config, settings, http, delivery_id, now)
    except DeliveryError as exc:
        return str(exc)
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def lane_of(row: Row[Any], config: AlertingConfig, settings: AlertingSettings) -> str:
    """The destination a delivery goes to: its channel and receiving host."""
    channel: str = row.channel
    if channel == "email":
        return f"email:{settings.smtp_host}:{settings.smtp_port}"
    try:
        return f"{channel}:{urlsplit(address(channel, row.target, config, settings)).netloc}"
    except DeliveryError:
        return channel


_LEASE = text("""
    UPDATE alerting.deliveries SET next_attempt_at = :until
    WHERE id IN (SELECT id FROM alerting.deliveries WHERE status = 'pending' AND next_attempt_at <= :now
                 AND id <> ALL(CAST(:busy AS bigint[]))
                 ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED)
    RETURNING id, alert_id, channel, target, payload, attempts
""")
_SKIP_STALE = text("""
    UPDATE alerting.deliveries d SET status = 'skipped',
        last_error = 'the alert was ' || a.status || ' before the mute window ended'
    FROM alerting.alerts a
    WHERE a.id = d.alert_id AND d.status = 'pending' AND d.muted_until IS NOT NULL
      AND d.next_attempt_at <= :now AND d.attempts = 0 AND a.status <> 'open'
      AND d.transition NOT IN ('acknowledged', 'resolved')
""")
"""A page that waited for the end of a mute window is dropped if its alert was acknowledged or resolved
meanwhile: nobody needs to be woken for it any more."""
_ATTEMPTS = text("""
    INSERT INTO alerting.delivery_attempts (delivery_id, at, channel, target, ok, error)
    SELECT id, :now, channel, target, error IS NULL, error
    FROM unnest(CAST(:ids AS bigint[]), CAST(:channels AS text[]), CAST(:targets AS text[]),
                CAST(:errors AS text[])) AS u(id, channel, target, error)
""")
_OUTCOMES = text("""
    UPDATE alerting.deliveries d SET status = u.status, attempts = u.attempts, last_error = u.error,
        sent_at = CASE WHEN u.error IS NULL THEN CAST(:now AS timestamptz) END, next_attempt_at = u.next_at
    FROM unnest(CAST(:ids AS bigint[]), CAST(:statuses AS text[]), CAST(:attempts AS int[]),
                CAST(:errors AS text[]), CAST(:next_ats AS timestamptz[]))
         AS u(id, status, attempts, error, next_at)
    WHERE d.id = u.id
""")
_NOTES = text("""
    INSERT INTO alerting.timeline (alert_id, kind, at, detail)
    SELECT alert_id, kind, :now, CAST(detail AS jsonb)
    FROM unnest(CAST(:alert_ids AS uuid[]), CAST(:kinds AS text[]), CAST(:details AS text[]))
         AS u(alert_id, kind, detail)
""")


async def record(runtime: Runtime, outcomes: list[Outcome], now: datetime, max_attempts: int) -> None:
    """Stores a set of attempts: the attempt log, each delivery's new state, and a timeline note for
    deliveries that are finished (sent, or failed for good)."""
    rows, errors = [o[0] for o in outcomes], [o[1] for o in outcomes]
    attempts = [row.attempts + 1 for row in rows]
    statuses = [
        "sent" if error is None else ("failed" if n >= max_attempts else "pending")
        for error, n in zip(errors, attempts, strict=True)
    ]
    done = [i for i, status in enumerate(statuses) if status != "pending"]
    async with runtime.database.connection() as conn:
        ids = [row.id for row in rows]
        channels, targets = [row.channel for row in rows], [row.target for row in rows]
        await conn.execute(
            _ATTEMPTS, {"now": now, "ids": ids, "channels": channels, "targets": targets, "errors": errors}
        )
        await conn.execute(
            _OUTCOMES,
            {
                "now": now,
                "ids": ids,
                "statuses": statuses,
                "attempts": attempts,
                "errors": errors,
                "next_ats": [now + backoff(n) for n in attempts],
            },
        )
        if done:
            details = [
                {"channel": channels[i], "target": targets[i], "attempts": attempts[i], "error": errors[i]}
                for i in done
            ]
            await conn.execute(
                _NOTES,
                {
                    "now": now,
                    "alert_ids": [rows[i].alert_id for i in done],
                    "kinds": ["notified" if errors[i] is None else "notification_failed" for i in done],
                    "details": [json.dumps(d, ensure_ascii=False) for d in details],
                },
            )
    for row, error in outcomes:
        NOTIFICATIONS.labels(row.channel, "sent" if error is None else "error").inc()


class Notifier:
    def __init__(
        self,
        runtime: Runtime,
        config: Callable[[], AlertingConfig],
        settings: AlertingSettings,
        clock: Callable[[], datetime],
        wake: asyncio.Event,
        beat: Callable[[], None] = lambda: None,
    ) -> None:
        self.runtime, self.config, self.settings, self.clock, self.wake = (
            runtime,
            config,
            settings,
            clock,
            wake,
        )
        self.beat = beat
        """Called after each completed lease pass (the watchdog's heartbeat)."""
        self.busy: set[int] = set()
        """Leased deliveries whose outcome is not stored yet."""
        self.outcomes: list[Outcome] = []
        self.has_outcomes = asyncio.Event()
        self.lanes: dict[str, asyncio.Semaphore] = {}
        self.tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        # Resolves through the SSRF guard; no connection limits: the lanes bound what is in flight.
        connector = guarded_connector(self.settings.webhook_allow, limit=0, limit_per_host=0)
        timeout = aiohttp.ClientTimeout(total=self.settings.notify_timeout_s)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
            recorder = asyncio.create_task(self._record_forever())
            try:
                while True:
                    self.wake.clear()
                    try:
                        leased = await self.lease_and_send(http)
                        self.beat()
                    except (SQLAlchemyError, OSError) as exc:
                        log.warning("alerting_notifier_failed", error=str(exc))
                        leased = 0
                    if leased < LEASE_BATCH:
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.wake.wait(), self.settings.notify_interval_s)
            finally:
                recorder.cancel()
                await self._drain()

    async def _drain(self, timeout_s: float = 5.0) -> None:
        """On shutdown: lets sends in flight finish (briefly) and stores their outcomes, so a restart does
        not send again what was already delivered. What is still unsent is re-leased after the lease."""
        if self.tasks:
            await asyncio.wait(set(self.tasks), timeout=timeout_s)
        for task in self.tasks:
            task.cancel()
        if self.outcomes:
            batch, self.outcomes = self.outcomes, []
            try:
                await record(self.runtime, batch, self.clock(), self.settings.max_attempts)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("alerting_notifier_record_failed", error=str(exc), outcomes=len(batch))

    async def lease_and_send(self, http: aiohttp.ClientSession) -> int:
        """Leases what is due and starts sending it; the number leased."""
        now = self.clock()
        async with self.runtime.database.connection() as conn:
            limit = min(LEASE_BATCH, MAX_BUSY - len(self.busy))
            if limit <= 0:
                return 0
            await conn.execute(_SKIP_STALE, {"now": now})
            params = {"now": now, "until": now + LEASE, "limit": limit, "busy": sorted(self.busy)}
            rows = (await conn.execute(_LEASE, params)).all()
        config = self.config()
        for row in rows:
            self.busy.add(row.id)
            lane = self.lanes.setdefault(
                lane_of(row, config, self.settings), asyncio.Semaphore(self.settings.notify_concurrency)
            )
            task = asyncio.create_task(self._send(row, lane, config, http))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return len(rows)

    async def _send(
        self, row: Row[Any], lane: asyncio.Semaphore, config: AlertingConfig, http: aiohttp.ClientSession
    ) -> None:
        async with lane:
            error = await _attempt(row, config, self.settings, http, self.clock())
        self.outcomes.append((row, error))
        self.has_outcomes.set()

    async def _record_forever(self) -> None:
        while True:
            await self.has_outcomes.wait()
            await asyncio.sleep(0.02)  # sends finishing together share one write (and one commit)
            self.has_outcomes.clear()
            batch, self.outcomes = self.outcomes, []
            try:
                await record(self.runtime, batch, self.clock(), self.settings.max_attempts)
            except (SQLAlchemyError, OSError) as exc:
                log.warning("alerting_notifier_record_failed", error=str(exc), outcomes=len(batch))
                self.outcomes = batch + self.outcomes  # kept (and still leased) until stored
                await asyncio.sleep(1.0)
                self.has_outcomes.set()
                continue
            self.busy.difference_update(row.id for row, _ in batch)


async def run_notifier(
    runtime: Runtime,
    config: Callable[[], AlertingConfig],
    settings: AlertingSettings,
    clock: Callable[[], datetime] | None = None,
    wake: asyncio.Event | None = None,
    beat: Callable[[], None] = lambda: None,
) -> None:
    """Sends due notifications until cancelled: at once when `wake` is set (a batch committed new ones),
    otherwise every `notify_interval_s` (retries, escalations from the timers)."""
    notifier = Notifier(
        runtime, config, settings, clock or (lambda: datetime.now(UTC)), wake or asyncio.Event(), beat
    )
    await notifier.run()
