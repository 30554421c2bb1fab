"""Firing alerts for a whole consumed batch in a handful of set-based statements.

Per batch: one locking read of the open alerts the batch's signals touch, one update for the repeats, one
insert each for the new alerts, their timeline entries, their alerts.v1 events (outbox) and their
notifications. All of it runs in the consumer's transaction, so it commits with the event claims and the
window cells — or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.delivery.pages import page_facts
from services.alerting.lifecycle.escalation import Timers, recipients, step_of
from services.alerting.lifecycle.transitions import (
    EVIDENCE_KEPT,
    Evidence,
    group_text,
    note,
    notification,
    schedule,
)
from services.alerting.metrics import ALERTS_FIRED
from services.alerting.rules import AlertingConfig
from shared.contracts.alerts import AlertChanged
from shared.contracts.envelope import Envelope

_TIERS = text("SELECT customer_id, tier FROM alerting.member_tiers WHERE customer_id = ANY(:ids)")


async def _tiers(conn: AsyncConnection, customers: set[str]) -> dict[str, str]:
    """The member tier of each customer that has one, in one query for a batch of alerts."""
    if not customers:
        return {}
    rows = await conn.execute(_TIERS, {"ids": sorted(customers)})
    return {row.customer_id: row.tier for row in rows}


@dataclass
class Firing:
    """A firing signal's effect on its (rule, group) alert."""

    rule_id: str
    group: tuple[tuple[str, str], ...]
    timers: Timers
    summary: str
    value: float
    count: int
    customer_id: str | None
    silenced: bool
    auto_resolve: timedelta | None
    evidence: list[Evidence] = field(default_factory=list)
    held_by: str | None = None
    """What holds its pages: "silence" or "inhibition" (then `silenced` is true)."""

    @property
    def key(self) -> tuple[str, str]:
        return self.rule_id, group_text(self.group)


_OPEN = text("""
    SELECT a.id, a.rule_id, a.group_text, a.count, a.evidence FROM alerting.alerts a
    JOIN unnest(CAST(:rules AS text[]), CAST(:groups AS text[])) AS k(r, g)
      ON a.rule_id = k.r AND a.group_text = k.g
    WHERE a.status <> 'resolved' ORDER BY a.id FOR UPDATE OF a
""")
_REPEAT = text("""
    UPDATE alerting.alerts a SET count = a.count + u.added, value = u.value,
        evidence = CAST(u.evidence AS jsonb), clear_since = NULL, updated_at = :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:added AS int[]), CAST(:values AS float8[]),
                CAST(:evidence AS text[])) AS u(id, added, value, evidence)
    WHERE a.id = u.id
""")
_INSERT = text("""
    INSERT INTO alerting.alerts (id, rule_id, group_text, group_key, status, level, count, value, summary,
        policy, timeout_factor, next_action, next_action_at, reminders, silenced, customer_id, evidence,
        auto_resolve_s, resolve_by, created_at, updated_at)
    SELECT id, rule, grp, CAST(gkey AS jsonb), 'open', level, cnt, val, summary, CAST(policy AS jsonb),
        factor, action, action_at, 0, silenced, customer, CAST(evidence AS jsonb), auto_s, target, :now, :now
    FROM unnest(CAST(:ids AS uuid[]), CAST(:rules AS text[]), CAST(:groups AS text[]),
                CAST(:gkeys AS text[]), CAST(:levels AS text[]), CAST(:counts AS int[]),
                CAST(:values AS float8[]), CAST(:summaries AS text[]), CAST(:policies AS text[]),
                CAST(:factors AS float8[]), CAST(:actions AS text[]), CAST(:action_ats AS timestamptz[]),
                CAST(:silenced AS bool[]), CAST(:customers AS text[]), CAST(:evidence AS text[]),
                CAST(:auto_s AS float8[]), CAST(:targets AS timestamptz[]))
         AS u(id, rule, grp, gkey, level, cnt, val, summary, policy, factor, action, action_at, silenced,
              customer, evidence, auto_s, target)
""")
_TIMELINE = text("""
    INSERT INTO alerting.timeline (alert_id, kind, at, level, detail)
    SELECT id, 'fired', :now, level, CAST(detail AS jsonb)
    FROM unnest(CAST(:ids AS uuid[]), CAST(:levels AS text[]), CAST(:details AS text[]))
         AS u(id, level, detail)
""")
_OUTBOX = text("""
    INSERT INTO alerting.outbox (event_id, topic, event_type, key, value)
    SELECT id, :topic, 'alert.fired', k, v
    FROM unnest(CAST(:ids AS uuid[]), CAST(:keys AS text[]), CAST(:values AS bytea[])) AS u(id, k, v)
""")
_DELIVERIES = text("""
    INSERT INTO alerting.deliveries (alert_id, transition, channel, target, payload, next_attempt_at,
                                     muted_until)
    SELECT id, 'fired', channel, target, CAST(payload AS jsonb), next_at, muted
    FROM unnest(CAST(:ids AS uuid[]), CAST(:channels AS text[]), CAST(:targets AS text[]),
                CAST(:payloads AS text[]), CAST(:next_ats AS timestamptz[]), CAST(:muted AS timestamptz[]))
         AS u(id, channel, target, payload, next_at, muted)
""")


def _merge(firings: Sequence[Firing]) -> list[Firing]:
    """One firing per (rule, group): counts add up, evidence accumulates, the latest value wins."""
    merged: dict[tuple[str, str], Firing] = {}
    for firing in firings:
        earlier = merged.get(firing.key)
        if earlier is None:
            merged[firing.key] = firing
        else:
            earlier.count += firing.count
            earlier.value = firing.value
            earlier.evidence = earlier.evidence + firing.evidence
    return list(merged.values())


async def fire_or_repeat_many(
    conn: AsyncConnection, firings: Sequence[Firing], now: datetime, topic: str, config: AlertingConfig
) -> int:
    """One open alert per (rule, group): repeats add to its count and evidence, the rest fire (timeline,
    alerts.v1 event, notifications unless silenced). Returns how many alerts fired."""
    if not firings:
        return 0
    todo = _merge(firings)
    keys = [f.key for f in todo]
    found = {
        (r.rule_id, r.group_text): r
        for r in await conn.execute(_OPEN, {"rules": [k[0] for k in keys], "groups": [k[1] for k in keys]})
    }
    repeats = [(found[f.key], f) for f in todo if f.key in found]
    if repeats:
        await conn.execute(
            _REPEAT,
            {
                "now": now,
                "ids": [row.id for row, _ in repeats],
                "added": [max(f.count, 1) for _, f in repeats],
                "values": [f.value for _, f in repeats],
                "evidence": [
                    json.dumps((list(row.evidence) + [e.__dict__ for e in f.evidence])[-EVIDENCE_KEPT:])
                    for row, f in repeats
                ],
            },
        )
    new = [f for f in todo if f.key not in found]
    if new:
        await _fire(conn, new, now, topic, config)
    return len(new)


async def _fire(
    conn: AsyncConnection, new: list[Firing], now: datetime, topic: str, config: AlertingConfig
) -> None:
    ids = [uuid.uuid4() for _ in new]
    await conn.execute(
        _INSERT,
        {
            "now": now,
            "ids": ids,
            "rules": [f.rule_id for f in new],
            "groups": [group_text(f.group) for f in new],
            "gkeys": [json.dumps(dict(f.group), ensure_ascii=False) for f in new],
            "levels": [f.timers.level for f in new],
            "counts": [max(f.count, 1) for f in new],
            "values": [f.value for f in new],
            "summaries": [f.summary for f in new],
            "policies": [f.timers.policy.model_dump_json() for f in new],
            "factors": [f.timers.timeout_factor for f in new],
            "actions": [f.timers.next_action for f in new],
            "action_ats": [f.timers.next_action_at for f in new],
            "silenced": [f.silenced for f in new],
            "customers": [f.customer_id for f in new],
            "evidence": [json.dumps([e.__dict__ for e in f.evidence][-EVIDENCE_KEPT:]) for f in new],
            "auto_s": [f.auto_resolve.total_seconds() if f.auto_resolve else None for f in new],
            "targets": [f.timers.resolve_by for f in new],
        },
    )
    await conn.execute(
        _TIMELINE,
        {
            "now": now,
            "ids": ids,
            "levels": [f.timers.level for f in new],
            "details": [json.dumps({"value": f.value, "silenced": f.silenced}) for f in new],
        },
    )
    for alert_id, f in zip(ids, new, strict=True):
        if f.silenced:
            detail = {"transition": "fired", "by": f.held_by or "silence"}
            await note(conn, alert_id, "notification_held", now, f.timers.level, detail=detail)
    events, deliveries = [], []
    tiers = await _tiers(conn, {f.customer_id for f in new if f.customer_id and not f.silenced})
    for alert_id, f in zip(ids, new, strict=True):
        payload = AlertChanged(
            alert_id=alert_id,
            rule_id=f.rule_id,
            group_key=dict(f.group),
            level=f.timers.level,
            status="open",
            count=max(f.count, 1),
            summary=f.summary,
            customer_id=f.customer_id,
            feedback_ids=[uuid.UUID(e.feedback_id) for e in f.evidence[-10:]],
            at=now,
        )
        envelope: Envelope[AlertChanged] = Envelope(
            type="alert.fired", occurred_at=now, source="alerting", key=str(alert_id), payload=payload
        )
        events.append((envelope.event_id, envelope.key, envelope.to_bytes()))
        ALERTS_FIRED.labels(f.rule_id, f.timers.level).inc()
        if f.silenced:
            continue
        document = notification(payload, "fired", f.timers.next_action_at)
        document["page"] = page_facts(
            rule_id=f.rule_id,
            group=dict(f.group),
            evidence=[e.__dict__ for e in f.evidence],
            policy=f.timers.policy,
            level=f.timers.level,
            next_action=f.timers.next_action,
            transition="fired",
            config=config,
            member_tier=tiers.get(f.customer_id or ""),
        )
        body = json.dumps(document, ensure_ascii=False)
        step = step_of(f.timers.policy, f.timers.level)
        for target, who in recipients(step, config.schedules, now):
            send_at, muted = schedule(config, step, target, now)
            if muted is not None:
                detail = {"transition": "fired", "target": who, "until": muted.isoformat()}
                await note(conn, alert_id, "notification_muted", now, f.timers.level, detail=detail)
            deliveries += [(alert_id, channel, who, body, send_at, muted) for channel in target.channels]
    await conn.execute(
        _OUTBOX,
        {
            "topic": topic,
            "ids": [e[0] for e in events],
            "keys": [e[1] for e in events],
            "values": [e[2] for e in events],
        },
    )
    if deliveries:
        await conn.execute(
            _DELIVERIES,
            {
                "now": now,
                "ids": [d[0] for d in deliveries],
                "channels": [d[1] for d in deliveries],
                "targets": [d[2] for d in deliveries],
                "payloads": [d[3] for d in deliveries],
                "next_ats": [d[4] for d in deliveries],
                "muted": [d[5] for d in deliveries],
            },
        )
