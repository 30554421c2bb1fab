"""Durable timers: escalations, reminders, ack timeouts, auto-resolve and overdue callbacks, driven by due
times in Postgres.

Each due alert is taken with SKIP LOCKED and every transition due up to `now` is applied, one at a
time from its own due time, in the same transaction that records it: a restart at any moment neither
skips nor repeats a step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from services.alerting.evaluation.sales import forget_orders
from services.alerting.evaluation.state import AlertingState
from services.alerting.lifecycle.callbacks import open_overdue
from services.alerting.lifecycle.escalation import due, resolve
from services.alerting.lifecycle.handoffs import announce_handoffs
from services.alerting.lifecycle.transitions import apply_timers, release_held, timers_of
from services.alerting.metrics import OPEN_ALERTS
from services.alerting.models import alerts
from shared.contracts.registry import ALERTS
from shared.service import Runtime

log = structlog.get_logger(__name__)
_AUTO_RESOLVE = text("""
    SELECT id FROM alerting.alerts WHERE status <> 'resolved' AND clear_since IS NOT NULL
    AND auto_resolve_s IS NOT NULL AND clear_since + auto_resolve_s * interval '1 second' <= :now
    FOR UPDATE SKIP LOCKED LIMIT 200
""")


PAGE = 200
MAX_PAGES = 50


async def tick(runtime: Runtime, state: AlertingState, now: datetime) -> int:
    """Applies everything due at `now`, a page of alerts per transaction; the number of transitions."""
    applied = 0
    for _ in range(MAX_PAGES):  # bounded: the next tick carries on
        done, due_alerts = await _tick_page(runtime, state, now)
        applied += done
        if due_alerts < PAGE:
            break
    return applied


async def _tick_page(runtime: Runtime, state: AlertingState, now: datetime) -> tuple[int, int]:
    """(transitions applied, alerts taken) for the next page of due alerts."""
    topic = ALERTS.name + runtime.settings.kafka.topic_suffix
    config = state.config()
    applied = 0
    async with runtime.database.connection() as conn:
        rows = (
            await conn.execute(
                select(alerts)
                .where(
                    or_(alerts.c.next_action_at <= now, alerts.c.resolve_by <= now),
                    alerts.c.status != "resolved",
                )
                .order_by(func.least(alerts.c.next_action_at, alerts.c.resolve_by))
                .limit(PAGE)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            timers = timers_of(row)
            while (transition := due(timers, now)) is not None:
                row = await apply_timers(
                    conn,
                    row,
                    transition.timers,
                    transition.kind,
                    transition.at,
                    topic,
                    config,
                    from_level=transition.from_level,
                )
                timers = transition.timers
                applied += 1
        if config is not None:
            applied += await release_held(conn, now, config)
            applied += await open_overdue(conn, now, config, topic)
            applied += await announce_handoffs(conn, now, config, state.deployment)
            if state.commerce is not None and state.commerce.remembers_orders:
                await forget_orders(conn, now)
        for (alert_id,) in (await conn.execute(_AUTO_RESOLVE, {"now": now})).all():
            row = (await conn.execute(select(alerts).where(alerts.c.id == alert_id))).one()
            key = tuple(sorted(row.group_key.items()))
            if state.firing_now(row.rule_id, key):
                continue
            await apply_timers(
                conn,
                row,
                resolve(timers_of(row)),
                "resolved",
                now,
                topic,
                config,
                actor="auto-resolve",
                text=f"condition clear since {row.clear_since.isoformat()}",
            )
            applied += 1
        counts: dict[str, int] = dict(
            (
                await conn.execute(
                    select(alerts.c.level, func.count())
                    .where(alerts.c.status != "resolved")
                    .group_by(alerts.c.level)
                )
            ).all()
        )
    for level in ("L1", "L2", "L3", "L4"):
        OPEN_ALERTS.labels(level).set(counts.get(level, 0))
    return applied, len(rows)


async def run_timers(
    runtime: Runtime,
    state: AlertingState,
    interval_s: float,
    clock: Callable[[], datetime] | None = None,
    beat: Callable[[], None] = lambda: None,
) -> None:
    """Ticks until cancelled; keeps going while the database is away. `beat` after each completed tick
    (the watchdog's heartbeat)."""
    now = clock or (lambda: datetime.now(UTC))
    while True:
        try:
            await tick(runtime, state, now())
            beat()
        except (SQLAlchemyError, OSError) as exc:
            log.warning("alerting_timers_failed", error=str(exc))
        await asyncio.sleep(interval_s)
