"""Hand-off notices: when the person on call for a schedule changes, the incoming person is told, once, by
the channels the policies page that schedule through (not Alertmanager, which keeps alerts, not people).

The timer loop compares who is on call now with who was when it last looked (per deployment: its
consumer group); the first look announces nothing, so a new deployment pages nobody for the shift already
running. A loop that was down across a hand-off announces it late, once.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.lifecycle.escalation import next_handoff, on_call
from services.alerting.lifecycle.transitions import STATE_CHANNELS
from services.alerting.models import deliveries, handoffs
from services.alerting.rules import AlertingConfig, Rotation

RULE = "on-call-handoff"


def channels_of(config: AlertingConfig, schedule: str) -> list[str]:
    """The channels any policy step pages `schedule` by, in the order first named."""
    found: list[str] = []
    for policy in config.policies.values():
        for step in policy.steps:
            for target in step.targets:
                if target.kind == "schedule" and target.name == schedule:
                    found += [c for c in target.channels if c not in found and c not in STATE_CHANNELS]
    return found


def _level(config: AlertingConfig, schedule: str) -> str:
    """The lowest level that pages the schedule (what its notice is shown as)."""
    for policy in config.policies.values():
        for step in policy.steps:
            if any(t.kind == "schedule" and t.name == schedule for t in step.targets):
                return step.level
    return "L1"


def notice(
    config: AlertingConfig, name: str, rotation: Rotation, person: str, at: datetime
) -> dict[str, Any]:
    until, following = next_handoff(rotation, at)
    local = until.astimezone(ZoneInfo(rotation.time_zone)).strftime("%Y-%m-%d %H:%M")
    summary = f"{person}: on call for {name} until {local} ({rotation.time_zone}), then {following}"
    return {
        "alert": {
            "alert_id": str(uuid.uuid4()),
            "rule_id": RULE,
            "group_key": {"schedule": name},
            "level": _level(config, name),
            "status": "open",
            "count": 1,
            "summary": summary,
            "customer_id": None,
            "feedback_ids": [],
            "actor": None,
            "at": at.isoformat(),
        },
        "transition": "handoff",
        "next_action_at": until.isoformat(),
        "page": {
            "rule": f"值班交接 On-call hand-off: {name}",
            "next_action": "handoff",
            "next_level": following,
        },
    }


async def announce_handoffs(
    conn: AsyncConnection, now: datetime, config: AlertingConfig, deployment: str
) -> int:
    """Notices for the schedules whose person on call changed since the last look; how many were sent."""
    announced = 0
    for name, rotation in config.schedules.items():
        person = on_call(rotation, now)
        key = (handoffs.c.deployment == deployment) & (handoffs.c.schedule == name)
        row = (await conn.execute(select(handoffs).where(key).with_for_update())).first()
        if row is None:
            first = pg_insert(handoffs).values(deployment=deployment, schedule=name, person=person, since=now)
            await conn.execute(first.on_conflict_do_nothing())
            continue
        if row.person == person:
            continue
        await conn.execute(update(handoffs).where(key).values(person=person, since=now))
        channels = channels_of(config, name)
        if not rotation.notify_handoff or not channels:
            continue
        payload = notice(config, name, rotation, person, now)
        alert_id = uuid.UUID(payload["alert"]["alert_id"])
        for channel in channels:
            await conn.execute(
                insert(deliveries).values(
                    alert_id=alert_id,
                    transition="handoff",
                    channel=channel,
                    target=person,
                    payload=payload,
                    next_attempt_at=now,
                )
            )
        announced += 1
    return announced
