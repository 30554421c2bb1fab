"""Alert lifecycle in the database: fire or repeat, transitions, ack, resolve — each with its timeline
entry, notifications to enqueue and alerts.v1 event in the outbox, inside the caller's transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, insert, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.delivery.pages import page_facts
from services.alerting.lifecycle.escalation import Timers, recipients, step_of
from services.alerting.lifecycle.mute import inhibited, muted_until
from services.alerting.lifecycle.silences import active_silences, alert_labels, open_sources, silenced
from services.alerting.metrics import CALLBACKS, ESCALATIONS
from services.alerting.models import alerts, callbacks, deliveries, member_tiers, outbox, timeline
from services.alerting.rules import AlertingConfig, Callbacks, Policy, Step, Target
from shared.contracts.alerts import AlertChanged, CallbackChanged
from shared.contracts.envelope import Envelope

EVIDENCE_KEPT = 20
STATE_CHANNELS = frozenset({"alertmanager"})
"""Channels that keep state rather than page someone: they also hear of acks (the alert holds there until
its next reminder) and resolutions (it ends there too); a webhook, Slack or e-mail is not sent for either."""
QUIET = ("acknowledged", "resolved")
"""Transitions that page nobody."""
OVERDUE_RULE, REVIEW_RULE = "callback-overdue", "callback-review"
CALLBACK_RULES = frozenset({OVERDUE_RULE, REVIEW_RULE})
"""The alerts callbacks open themselves: resolving one schedules no further callback."""
ONE_CUSTOMER = frozenset({"feedback_id", "customer_id"})


def notification(payload: AlertChanged, transition: str, next_action_at: datetime | None) -> dict[str, Any]:
    """What every channel is sent: the alert, the transition and when the next one is due (escalation,
    reminder or ack timeout; null once resolved), by which a state channel knows how long it holds."""
    return {
        "alert": json.loads(payload.model_dump_json()),
        "transition": transition,
        "next_action_at": None if next_action_at is None else next_action_at.isoformat(),
    }


@dataclass(frozen=True)
class Evidence:
    feedback_id: str
    text: str
    stars: int
    label: str
    model: str
    occurred_at: str
    offset: str = ""
    """Where the scored event sits in Kafka: topic/partition/offset."""
    channel: str = ""
    customer_id: str = ""
    aspects: tuple[dict[str, str], ...] = ()
    """Aspects the feedback mentions, each with its own polarity ({"name", "label"})."""
    business_line: str = ""


def group_text(key: Sequence[tuple[str, str]]) -> str:
    return ",".join(f"{k}={v}" for k, v in key) or "-"


def timers_of(row: Row[Any]) -> Timers:
    return Timers(
        status=row.status,
        level=row.level,
        policy=Policy.model_validate(row.policy),
        timeout_factor=row.timeout_factor,
        next_action=row.next_action,
        next_action_at=row.next_action_at,
        acked_at=row.acked_at,
        reminders=row.reminders,
        resolve_by=row.resolve_by,
    )


def timer_columns(t: Timers) -> dict[str, Any]:
    return {
        "status": t.status,
        "level": t.level,
        "next_action": t.next_action,
        "next_action_at": t.next_action_at,
        "acked_at": t.acked_at,
        "reminders": t.reminders,
        "resolve_by": t.resolve_by,
    }


async def note(
    conn: AsyncConnection,
    alert_id: uuid.UUID,
    kind: str,
    at: datetime,
    level: str | None,
    actor: str | None = None,
    text: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    await conn.execute(
        insert(timeline).values(
            alert_id=alert_id,
            kind=kind,
            at=at,
            level=level,
            actor=actor,
            note=text,
            detail=dict(detail or {}),
        )
    )


def alert_event(row: Row[Any], at: datetime, actor: str | None = None) -> AlertChanged:
    return AlertChanged(
        alert_id=row.id,
        rule_id=row.rule_id,
        group_key=dict(row.group_key),
        level=row.level,
        status=row.status,
        count=row.count,
        summary=row.summary,
        customer_id=row.customer_id,
        feedback_ids=[uuid.UUID(e["feedback_id"]) for e in row.evidence[-10:]],
        actor=actor,
        at=at,
    )


async def announce(
    conn: AsyncConnection,
    row: Row[Any],
    transition: str,
    at: datetime,
    topic: str,
    config: AlertingConfig | None,
    actor: str | None = None,
) -> None:
    """alerts.v1 event via the outbox and, unless a silence holds it now, notifications to the level's
    targets."""
    payload = alert_event(row, at, actor)
    envelope: Envelope[AlertChanged] = Envelope(
        type=f"alert.{transition}", occurred_at=at, source="alerting", key=str(row.id), payload=payload
    )
    await to_outbox(conn, envelope, topic)
    if config is not None:
        await notify_targets(conn, row, transition, at, config, payload)


async def to_outbox(conn: AsyncConnection, envelope: Envelope[Any], topic: str) -> None:
    """Queues the event for the relay, in the caller's transaction."""
    await conn.execute(
        insert(outbox).values(
            event_id=envelope.event_id,
            topic=topic,
            event_type=envelope.type,
            key=envelope.key,
            value=envelope.to_bytes(),
        )
    )


async def hold_reason(
    conn: AsyncConnection, config: AlertingConfig, labels: dict[str, Any], at: datetime
) -> str | None:
    """ "silence" or "inhibition" when one holds an alert of `labels` (with its alert_id) at `at`."""
    if silenced(await active_silences(conn, at), labels):
        return "silence"
    if config.inhibit_rules and inhibited(
        config.inhibit_rules, labels, await open_sources(conn, config.inhibit_rules)
    ):
        return "inhibition"
    return None


def labels_of(row: Row[Any]) -> dict[str, Any]:
    latest = row.evidence[-1] if row.evidence else None
    return {**alert_labels(row.rule_id, row.level, dict(row.group_key), latest), "alert_id": str(row.id)}


def schedule(
    config: AlertingConfig, step: Step, target: Target, at: datetime
) -> tuple[datetime, datetime | None]:
    """(when to send, the end of the mute window it waits for, or None when it is not muted)."""
    until = muted_until(config.mute_windows(step, target), at)
    return (until or at), until


async def notify_targets(
    conn: AsyncConnection,
    row: Row[Any],
    transition: str,
    at: datetime,
    config: AlertingConfig,
    payload: AlertChanged,
) -> None:
    """Enqueues the notifications of a transition to the targets of the alert's level, unless a silence
    or an inhibition holds the alert at `at`: then they are held (a timeline entry says so) and the alert
    is marked, so that the end of the hold notifies it (`release_held`). A target in a mute window is
    paged when the window ends."""
    reason = await hold_reason(conn, config, labels_of(row), at)
    if (reason is not None) != row.silenced:
        await conn.execute(update(alerts).where(alerts.c.id == row.id).values(silenced=reason is not None))
    if reason is not None:
        if transition not in QUIET:
            detail = {"transition": transition, "by": reason}
            await note(conn, row.id, "notification_held", at, row.level, detail=detail)
        return
    policy = Policy.model_validate(row.policy)
    body = notification(payload, transition, row.next_action_at)
    tier = None
    if row.customer_id:
        query = select(member_tiers.c.tier).where(member_tiers.c.customer_id == row.customer_id)
        tier = (await conn.execute(query)).scalar_one_or_none()
    body["page"] = page_facts(
        rule_id=row.rule_id,
        group=dict(row.group_key),
        evidence=row.evidence,
        policy=policy,
        level=row.level,
        next_action=row.next_action,
        transition=transition,
        config=config,
        member_tier=tier,
    )
    step = step_of(policy, row.level)
    for target, who in recipients(step, config.schedules, at):
        send_at, muted = schedule(config, step, target, at)
        if muted is not None and transition not in QUIET:
            detail = {"transition": transition, "target": who, "until": muted.isoformat()}
            await note(conn, row.id, "notification_muted", at, row.level, detail=detail)
        for channel in target.channels:
            if transition in QUIET and channel not in STATE_CHANNELS:
                continue
            await conn.execute(
                insert(deliveries).values(
                    alert_id=row.id,
                    transition=transition,
                    channel=channel,
                    target=who,
                    payload=body,
                    next_attempt_at=send_at,
                    muted_until=muted,
                )
            )


_HELD = text("""
    SELECT * FROM alerting.alerts WHERE silenced AND status <> 'resolved'
    ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED
""")


async def release_held(conn: AsyncConnection, at: datetime, config: AlertingConfig, limit: int = 200) -> int:
    """Alerts a silence or an inhibition held that nothing holds any more: an open one is notified at its
    current level (transition `unsilenced`), an acknowledged one only loses the mark. Returns how many
    were released."""
    released = 0
    for row in (await conn.execute(_HELD, {"limit": limit})).all():
        if await hold_reason(conn, config, labels_of(row), at) is not None:
            continue
        await conn.execute(update(alerts).where(alerts.c.id == row.id).values(silenced=False))
        await note(conn, row.id, "silence_ended", at, row.level)
        if row.status == "open":
            fresh = (await conn.execute(select(alerts).where(alerts.c.id == row.id))).one()
            await notify_targets(conn, fresh, "unsilenced", at, config, alert_event(fresh, at))
        released += 1
    return released


async def apply_timers(
    conn: AsyncConnection,
    row: Row[Any],
    timers: Timers,
    kind: str,
    at: datetime,
    topic: str,
    config: AlertingConfig | None,
    actor: str | None = None,
    text: str | None = None,
    from_level: str | None = None,
) -> Row[Any]:
    """Stores new timers, notes the transition and announces it."""
    extra: dict[str, Any] = {"updated_at": at}
    if kind == "acknowledged":
        extra["acked_by"] = actor
    if kind == "resolved":
        extra["resolved_at"] = at
    if kind == "sla_missed":
        extra["sla_missed_at"] = at
    await conn.execute(update(alerts).where(alerts.c.id == row.id).values(**timer_columns(timers), **extra))
    fresh = (await conn.execute(select(alerts).where(alerts.c.id == row.id))).one()
    detail = {"from": from_level, "to": fresh.level} if kind in ("escalated", "sla_missed") else {}
    await note(conn, row.id, kind, at, fresh.level, actor, text, detail)
    await announce(conn, fresh, kind, at, topic, config, actor)
    if kind == "resolved":
        plan = config.callbacks if config is not None else Callbacks()
        await schedule_callback(conn, fresh, at, plan, topic)
    if kind in ("escalated", "sla_missed") and from_level and from_level != fresh.level:
        ESCALATIONS.labels(from_level, fresh.level).inc()
    return fresh


async def schedule_callback(
    conn: AsyncConnection, row: Row[Any], at: datetime, plan: Callbacks, topic: str
) -> None:
    """A callback (回访) to the customer of a case just resolved: within `vip_after` for the VIP tiers,
    else `after`. Only cases about one customer (grouped by feedback or customer) have somebody to call:
    a line's negative share has not, even when its evidence happens to come from one customer."""
    about_one = ONE_CUSTOMER & dict(row.group_key).keys()
    if not plan.enabled or not row.customer_id or not about_one or row.rule_id in CALLBACK_RULES:
        return
    query = select(member_tiers.c.tier).where(member_tiers.c.customer_id == row.customer_id)
    tier = (await conn.execute(query)).scalar_one_or_none()
    due_at = at + (plan.vip_after if tier in plan.vip_tiers else plan.after)
    callback_id = uuid.uuid4()
    added = await conn.execute(
        pg_insert(callbacks)
        .values(
            id=callback_id,
            alert_id=row.id,
            rule_id=row.rule_id,
            customer_id=row.customer_id,
            tier=tier,
            resolved_at=at,
            due_at=due_at,
            status="due",
        )
        .on_conflict_do_nothing(index_elements=["alert_id"])
    )
    if added.rowcount:
        detail = {"due_at": due_at.isoformat(), "tier": tier}
        await note(conn, row.id, "callback_scheduled", at, row.level, detail=detail)
        scheduled = (await conn.execute(select(callbacks).where(callbacks.c.id == callback_id))).one()
        await publish_callback(conn, scheduled, "scheduled", at, topic)
        CALLBACKS.labels("scheduled").inc()


async def publish_callback(
    conn: AsyncConnection, row: Row[Any], transition: str, at: datetime, topic: str
) -> None:
    """callback.<transition> on alerts.v1 via the outbox, keyed by the case (so after its own events)."""
    payload = CallbackChanged(
        callback_id=row.id,
        alert_id=row.alert_id,
        rule_id=row.rule_id,
        customer_id=row.customer_id,
        tier=row.tier,
        due_at=row.due_at,
        done_at=row.done_at,
        nps=row.nps,
        at=at,
    )
    envelope: Envelope[CallbackChanged] = Envelope(
        type=f"callback.{transition}",
        occurred_at=at,
        source="alerting",
        key=str(row.alert_id),
        payload=payload,
    )
    await to_outbox(conn, envelope, topic)
