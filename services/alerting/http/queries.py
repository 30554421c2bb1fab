"""Alerts and silences in the database, for the HTTP routes: reads, acknowledgement and resolution, and
silences, each audited (SQLAlchemy Core, as the rest of alerting)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Row, and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.http.schemas import AlertOut, DeliveryOut, SilenceCreate, SilenceOut, TimelineEntryOut
from services.alerting.lifecycle.escalation import acknowledge, resolve
from services.alerting.lifecycle.transitions import apply_timers, timers_of
from services.alerting.models import alerts, audit, deliveries, member_tiers, silences, timeline
from services.alerting.rules import AlertingConfig


class NotFound(LookupError):
    """No such alert or active silence (the message names it)."""


class AlreadyResolved(ValueError):
    """A resolved alert takes no further action."""


@dataclass(frozen=True)
class AlertFilter:
    status: Sequence[str] | None = None
    level: str | None = None
    rule: str | None = None
    group: str | None = None
    customer: str | None = None


def alert_out(row: Row[Any]) -> AlertOut:
    fields = {name: getattr(row, name) for name in AlertOut.model_fields if name != "next_escalation_at"}
    escalates = row.next_action_at if row.next_action == "escalate" else None
    return AlertOut(**fields, next_escalation_at=escalates)


async def alert_page(
    conn: AsyncConnection, where: AlertFilter, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> tuple[list[Row[Any]], bool]:
    """Up to `limit` alerts newest first, after the (created_at, id) position; and whether more follow."""
    query = select(alerts)
    if where.status:
        query = query.where(alerts.c.status.in_(where.status))
    for column, value in (
        (alerts.c.level, where.level),
        (alerts.c.rule_id, where.rule),
        (alerts.c.customer_id, where.customer),
    ):
        if value is not None:
            query = query.where(column == value)
    if where.group:
        query = query.where(alerts.c.group_text.contains(where.group))
    if after is not None:
        since, last = after
        query = query.where(
            or_(alerts.c.created_at < since, and_(alerts.c.created_at == since, alerts.c.id < last))
        )
    order = query.order_by(alerts.c.created_at.desc(), alerts.c.id.desc()).limit(limit + 1)
    rows = list((await conn.execute(order)).all())
    return rows[:limit], len(rows) > limit


async def alert_row(conn: AsyncConnection, alert_id: uuid.UUID, lock: bool = False) -> Row[Any]:
    query = select(alerts).where(alerts.c.id == alert_id)
    row = (await conn.execute(query.with_for_update() if lock else query)).first()
    if row is None:
        raise NotFound(f"no alert {alert_id}")
    return row


async def alert_history(
    conn: AsyncConnection, row: Row[Any]
) -> tuple[list[TimelineEntryOut], list[DeliveryOut], str | None]:
    """The alert's timeline, its deliveries and its customer's tier as alerting last heard it."""
    events = await conn.execute(select(timeline).where(timeline.c.alert_id == row.id).order_by(timeline.c.id))
    sent = await conn.execute(
        select(deliveries).where(deliveries.c.alert_id == row.id).order_by(deliveries.c.id)
    )
    tier = None
    if row.customer_id is not None:
        tier = (
            await conn.execute(
                select(member_tiers.c.tier).where(member_tiers.c.customer_id == row.customer_id)
            )
        ).scalar_one_or_none()
    return (
        [TimelineEntryOut.model_validate(e, from_attributes=True) for e in events],
        [DeliveryOut.model_validate(d, from_attributes=True) for d in sent],
        tier,
    )


async def act(
    conn: AsyncConnection,
    alert_id: uuid.UUID,
    kind: Literal["acknowledged", "resolved"],
    actor: str,
    note: str | None,
    now: datetime,
    topic: str,
    config: AlertingConfig,
) -> tuple[Row[Any], Row[Any]]:
    """Acknowledges or resolves (idempotent for a repeated ack), audited; (before, after) rows."""
    row = await alert_row(conn, alert_id, lock=True)
    if row.status == "resolved":
        raise AlreadyResolved(f"alert {alert_id} is already resolved")
    if kind == "acknowledged" and row.status == "acknowledged":
        return row, row
    timers = acknowledge(timers_of(row), now) if kind == "acknowledged" else resolve(timers_of(row))
    fresh = await apply_timers(conn, row, timers, kind, now, topic, config, actor=actor, text=note)
    await conn.execute(insert(audit).values(actor=actor, action=kind, subject=str(alert_id), note=note))
    return row, fresh


async def active_silences(conn: AsyncConnection) -> list[SilenceOut]:
    query = select(silences).where(silences.c.deleted_at.is_(None)).order_by(silences.c.created_at)
    return [SilenceOut.model_validate(r, from_attributes=True) for r in await conn.execute(query)]


async def create_silence(
    conn: AsyncConnection, body: SilenceCreate, starts: datetime, actor: str
) -> uuid.UUID:
    silence_id = uuid.uuid4()
    matchers = [m.model_dump() for m in body.matchers]
    await conn.execute(
        insert(silences).values(
            id=silence_id,
            matchers=matchers,
            starts_at=starts,
            ends_at=body.ends_at,
            created_by=actor,
            comment=body.comment,
        )
    )
    await conn.execute(
        insert(audit).values(
            actor=actor, action="silence_created", subject=str(silence_id), note=body.comment
        )
    )
    return silence_id


async def delete_silence(conn: AsyncConnection, silence_id: uuid.UUID, actor: str) -> None:
    done = await conn.execute(
        update(silences)
        .where(silences.c.id == silence_id, silences.c.deleted_at.is_(None))
        .values(deleted_at=datetime.now(UTC))
    )
    if done.rowcount == 0:
        raise NotFound(f"no active silence {silence_id}")
    await conn.execute(insert(audit).values(actor=actor, action="silence_deleted", subject=str(silence_id)))
