"""Callbacks (回访) after a case is resolved: scheduled in the resolving transaction (lifecycle), opened as
an escalating alert when overdue (the timer loop), and closed with the customer's NPS answer (the API),
where a low answer opens a review case.

Overdue callbacks are followed up under the rules that opened their cases (`rule_id` among the loaded
rules): a callback of a rule since removed stays listed and can still be done, but pages nobody.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Row, and_, insert, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.http.schemas import CallbackOut, CallbackState, Level
from services.alerting.lifecycle.escalation import open_timers, resolve
from services.alerting.lifecycle.firing import Firing, fire_or_repeat_many
from services.alerting.lifecycle.silences import alert_labels
from services.alerting.lifecycle.transitions import (
    OVERDUE_RULE,
    REVIEW_RULE,
    Evidence,
    apply_timers,
    group_text,
    hold_reason,
    note,
    publish_callback,
    timers_of,
)
from services.alerting.metrics import CALLBACKS
from services.alerting.models import alerts, audit, callbacks
from services.alerting.rules import AlertingConfig, Condition, PerFeedbackRule

PAGE = 200
Filter = Literal["open", "overdue", "done"]


class NotFound(LookupError):
    """No such callback."""


class AlreadyDone(ValueError):
    """A callback's result is recorded once."""


_OVERDUE = text("""
    SELECT c.*, a.evidence FROM alerting.callbacks c JOIN alerting.alerts a ON a.id = c.alert_id
    WHERE c.status = 'due' AND c.overdue_alert_id IS NULL AND c.due_at <= :now
      AND c.rule_id = ANY(:rules)
    ORDER BY c.due_at LIMIT :limit FOR UPDATE OF c SKIP LOCKED
""")


async def open_overdue(conn: AsyncConnection, now: datetime, config: AlertingConfig, topic: str) -> int:
    """An alert for each callback past due (once): it pages and escalates by the callbacks' policy until
    the callback is done. Returns how many were opened."""
    plan = config.callbacks
    rules = [rule.id for rule in config.rules]
    rows = (await conn.execute(_OVERDUE, {"now": now, "rules": rules, "limit": PAGE})).all()
    for row in rows:
        summary = (
            f"回访 overdue: call back customer {row.customer_id} (due {row.due_at.isoformat()}, "
            f"case {row.alert_id})"
        )
        hours = (now - row.due_at).total_seconds() / 3600
        opened = await _open(conn, OVERDUE_RULE, row, plan.overdue_level, summary, hours, now, topic, config)
        await conn.execute(update(callbacks).where(callbacks.c.id == row.id).values(overdue_alert_id=opened))
        await note(conn, row.alert_id, "callback_overdue", now, None, detail={"alert_id": str(opened)})
        CALLBACKS.labels("overdue").inc()
    return len(rows)


async def record_result(
    conn: AsyncConnection,
    callback_id: uuid.UUID,
    nps: int,
    text_note: str | None,
    actor: str,
    now: datetime,
    topic: str,
    config: AlertingConfig,
) -> Row[Any]:
    """Closes the callback with the customer's answer: resolves its overdue alert, opens a review case
    below `review_below`; audited, noted on the case's timeline. Returns the updated row."""
    query = (
        select(callbacks, alerts.c.evidence)
        .join(alerts, alerts.c.id == callbacks.c.alert_id)
        .where(callbacks.c.id == callback_id)
        .with_for_update(of=callbacks)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound(f"no callback {callback_id}")
    if row.status == "done":
        raise AlreadyDone(f"callback {callback_id} was done at {row.done_at.isoformat()}")
    plan = config.callbacks
    review: uuid.UUID | None = None
    if nps < plan.review_below:
        summary = f"回访 NPS {nps} < {plan.review_below}: review the case of customer {row.customer_id}"
        if text_note:
            summary += f" — {text_note[:200]}"
        review = await _open(conn, REVIEW_RULE, row, plan.review_level, summary, nps, now, topic, config)
        CALLBACKS.labels("review").inc()
    await conn.execute(
        update(callbacks)
        .where(callbacks.c.id == callback_id)
        .values(status="done", done_at=now, done_by=actor, nps=nps, note=text_note, review_alert_id=review)
    )
    if row.overdue_alert_id is not None:
        overdue = (
            await conn.execute(select(alerts).where(alerts.c.id == row.overdue_alert_id).with_for_update())
        ).first()
        if overdue is not None and overdue.status != "resolved":
            timers = resolve(timers_of(overdue))
            await apply_timers(
                conn, overdue, timers, "resolved", now, topic, config, actor=actor, text="callback done"
            )
    detail = {"nps": nps, "callback_id": str(callback_id)}
    await note(conn, row.alert_id, "callback_done", now, None, actor, text_note, detail)
    await conn.execute(
        insert(audit).values(actor=actor, action="callback_done", subject=str(callback_id), note=text_note)
    )
    CALLBACKS.labels("done").inc()
    done = (await conn.execute(select(callbacks).where(callbacks.c.id == callback_id))).one()
    await publish_callback(conn, done, "done", now, topic)
    return done


async def _open(
    conn: AsyncConnection,
    rule_id: str,
    callback: Row[Any],
    level: Level,
    summary: str,
    value: float,
    now: datetime,
    topic: str,
    config: AlertingConfig,
) -> uuid.UUID:
    """Fires the callback's own alert (one per callback and rule) with its case's evidence."""
    plan = config.callbacks
    rule = PerFeedbackRule(id=rule_id, kind="per_feedback", match=Condition(), start_level=level)
    timers = open_timers(rule, config.policies[plan.policy], now, -1)
    group = (("callback_id", str(callback.id)),)
    evidence = [Evidence(**e) for e in callback.evidence[-5:]]
    latest = evidence[-1].__dict__ if evidence else None
    held_by = await hold_reason(conn, config, alert_labels(rule_id, timers.level, dict(group), latest), now)
    firing = Firing(
        rule_id=rule_id,
        group=group,
        timers=timers,
        summary=summary,
        value=value,
        count=1,
        customer_id=callback.customer_id,
        silenced=held_by is not None,
        auto_resolve=None,
        evidence=evidence,
        held_by=held_by,
    )
    await fire_or_repeat_many(conn, [firing], now, topic, config)
    found = select(alerts.c.id).where(
        alerts.c.rule_id == rule_id, alerts.c.group_text == group_text(group), alerts.c.status != "resolved"
    )
    opened: uuid.UUID = (await conn.execute(found)).scalar_one()
    return opened


def state_of(row: Row[Any], now: datetime) -> CallbackState:
    if row.status == "done":
        return "done"
    return "overdue" if row.due_at <= now else "due"


def callback_out(row: Row[Any], now: datetime) -> CallbackOut:
    fields = {name: getattr(row, name) for name in CallbackOut.model_fields if name != "state"}
    return CallbackOut(**fields, state=state_of(row, now))


async def callback_page(
    conn: AsyncConnection,
    which: Filter,
    customer: str | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
    now: datetime,
) -> tuple[list[Row[Any]], bool]:
    """Open (due and overdue) callbacks soonest due first; overdue ones likewise; done ones latest first.
    After the (time, id) position of the previous page; and whether more follow."""
    c = callbacks.c
    query = select(callbacks)
    if customer is not None:
        query = query.where(c.customer_id == customer)
    if which == "done":
        query = query.where(c.status == "done")
        if after is not None:
            query = query.where(or_(c.done_at < after[0], and_(c.done_at == after[0], c.id < after[1])))
        query = query.order_by(c.done_at.desc(), c.id.desc())
    else:
        query = query.where(c.status == "due")
        if which == "overdue":
            query = query.where(c.due_at <= now)
        if after is not None:
            query = query.where(or_(c.due_at > after[0], and_(c.due_at == after[0], c.id > after[1])))
        query = query.order_by(c.due_at, c.id)
    rows = list((await conn.execute(query.limit(limit + 1))).all())
    return rows[:limit], len(rows) > limit


async def callback_row(conn: AsyncConnection, callback_id: uuid.UUID) -> Row[Any]:
    row = (await conn.execute(select(callbacks).where(callbacks.c.id == callback_id))).first()
    if row is None:
        raise NotFound(f"no callback {callback_id}")
    return row
