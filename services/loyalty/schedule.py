"""Scheduled work: expire lots, remind 30/15/3 days before expiry, evaluate tier downgrades.

Each step is idempotent for a given clock: expiry changes nothing twice, reminders and warnings carry
event ids derived from (member, lot/date), which the outbox stores once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.loyalty.apply import Change, MemberState, change_id, expire_due, set_tier
from services.loyalty.repository import load, save
from services.loyalty.rules import LoyaltyRules
from services.loyalty.tiers import evaluate_downgrade, qualifying_spend
from shared.db.engine import Database

log = structlog.get_logger(__name__)
CHUNK = 500
_DUE_TO_EXPIRE = text("""
    SELECT DISTINCT customer_id FROM loyalty.lots WHERE remaining > 0 AND expires_at <= :now
    ORDER BY customer_id LIMIT :limit
""")
_REMINDERS = text("""
    SELECT DISTINCT customer_id FROM loyalty.lots
    WHERE remaining > 0
      AND (expires_at AT TIME ZONE 'UTC')::date - CAST(:today AS date) = ANY(CAST(:days AS int[]))
""")
_ABOVE_BRONZE = text("SELECT customer_id FROM loyalty.members WHERE tier <> 'bronze' ORDER BY customer_id")


@dataclass
class ScheduleReport:
    expired_members: int = 0
    reminders: int = 0
    warnings: int = 0
    downgrades: int = 0


async def run_schedule(
    database: Database, rules: LoyaltyRules, now: datetime, topic: str, evaluate_tiers: bool
) -> ScheduleReport:
    report = ScheduleReport()
    while True:  # expire in chunks until nothing is due
        async with database.connection() as conn:
            ids = [r[0] for r in await conn.execute(_DUE_TO_EXPIRE, {"now": now, "limit": CHUNK})]
            if not ids:
                break
            await _for_members(conn, ids, now, topic, lambda state: expire_due(state, now))
            report.expired_members += len(ids)
    async with database.connection() as conn:
        today = now.date()
        ids = [
            r[0] for r in await conn.execute(_REMINDERS, {"today": today, "days": rules.expiry_reminder_days})
        ]

        def remind(state: MemberState) -> None:
            for expires_on, points, days_left in state.account.reminders(today, rules.expiry_reminder_days):
                state.changes.append(
                    Change(
                        change_id(f"reminder:{expires_on}:{days_left}", "expiry_reminder", state.customer_id),
                        "expiry_reminder",
                        now,
                        {
                            "customer_id": state.customer_id,
                            "points": points,
                            "expires_on": expires_on,
                            "days_left": days_left,
                            "at": now,
                        },
                    )
                )
                report.reminders += 1

        if ids:
            await _for_members(conn, ids, now, topic, remind)
    if evaluate_tiers:
        async with database.connection() as conn:
            ids = [r[0] for r in await conn.execute(_ABOVE_BRONZE)]

            def evaluate(state: MemberState) -> None:
                decision = evaluate_downgrade(
                    state.tier, qualifying_spend(state.spend, now), state.warned_at, now, rules
                )
                spend = str(qualifying_spend(state.spend, now))
                if decision.action == "warn" and decision.to_tier:
                    state.warned_at = now
                    state.changes.append(
                        Change(
                            change_id(f"warning:{now.date()}", "tier_downgrade_warning", state.customer_id),
                            "tier_downgrade_warning",
                            now,
                            {
                                "customer_id": state.customer_id,
                                "from_tier": state.tier,
                                "to_tier": decision.to_tier,
                                "qualifying_spend": spend,
                                "effective_at": now + timedelta(days=rules.downgrade.warning_days),
                            },
                        )
                    )
                    report.warnings += 1
                elif decision.action == "downgrade" and decision.to_tier:
                    set_tier(
                        state,
                        decision.to_tier,
                        "scheduled downgrade",
                        now,
                        qualifying_spend(state.spend, now),
                    )
                    report.downgrades += 1
                elif decision.action == "clear_warning":
                    state.warned_at = None

            for start in range(0, len(ids), CHUNK):
                await _for_members(conn, ids[start : start + CHUNK], now, topic, evaluate)
    return report


async def _for_members(
    conn: AsyncConnection, ids: list[str], now: datetime, topic: str, step: Callable[[MemberState], None]
) -> None:
    states = await load(conn, ids, [], now - timedelta(days=366))
    for state in states.values():
        step(state)
    await save(conn, list(states.values()), topic)


async def run_periodically(
    database: Database, rules: Callable[[], LoyaltyRules], topic: str, interval_s: float
) -> None:
    """The background schedule: every interval; tiers are evaluated on the first day of each month."""
    while True:
        now = datetime.now(UTC)
        try:
            report = await run_schedule(database, rules(), now, topic, evaluate_tiers=now.day == 1)
            log.info("loyalty_schedule_ran", **report.__dict__)
        except Exception as exc:  # the schedule retries next time; the service stays up
            log.error("loyalty_schedule_failed", error=repr(exc))
        await asyncio.sleep(interval_s)
