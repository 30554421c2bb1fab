"""Silences: label matchers over a time range, as in Alertmanager. A silence holds notifications only
while it is active, and applies at every notification decision (fire, escalate, remind) to alerts open
before it too; escalation timers keep running under it. When it ends, an open alert it held is notified at
its current level (lifecycle.release_held); the alert's timeline says what was held and when.

Matcher semantics (Alertmanager's equality matcher; there are no regex or negative matchers here): a
matcher `{name, value}` holds when the alert's label `name` equals `value` exactly, and a label the alert
does not have counts as the empty string, so `value: ""` holds for every alert lacking that label. A
silence holds when all of its matchers hold. An alert's labels are `rule` (its rule id), `level` (L1–L4)
and its group dimensions (e.g. `business_line`). As Alertmanager does, a silence whose every matcher
matches the empty string is refused: it would silence every alert lacking those labels, nearly all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.lifecycle.mute import InhibitRule
from services.alerting.models import alerts, silences
from shared.contracts.bounds import ID_LENGTH, LABEL_LENGTH

MATCHES_EVERYTHING = (
    "at least one matcher must have a non-empty value: matchers that all match the empty string "
    "would silence every alert lacking those labels"
)


class Matcher(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(
        min_length=1,
        max_length=LABEL_LENGTH,
        description="rule, level, or a group dimension such as business_line",
    )
    value: str = Field(
        max_length=ID_LENGTH, description="the label's exact value; empty holds for alerts without the label"
    )


def not_matching_everything(matchers: list[Matcher]) -> list[Matcher]:
    """`matchers` if one of them needs a label to be present (validator of a silence's matchers)."""
    if all(m.value == "" for m in matchers):
        raise ValueError(MATCHES_EVERYTHING)
    return matchers


def matches(matchers: Sequence[Mapping[str, Any]], labels: Mapping[str, Any]) -> bool:
    return all(str(labels.get(m["name"], "")) == m["value"] for m in matchers)


async def open_sources(conn: AsyncConnection, rules: Sequence[InhibitRule]) -> list[dict[str, Any]]:
    """The labels (and alert_id) of open alerts of the rules that inhibition rules take as sources."""
    rule_ids = sorted({rule.source["rule"] for rule in rules})
    if not rule_ids:
        return []
    rows = await conn.execute(
        select(alerts.c.id, alerts.c.rule_id, alerts.c.level, alerts.c.group_key, alerts.c.evidence).where(
            alerts.c.status != "resolved", alerts.c.rule_id.in_(rule_ids)
        )
    )
    return [
        {
            **alert_labels(r.rule_id, r.level, dict(r.group_key), r.evidence[-1] if r.evidence else None),
            "alert_id": str(r.id),
        }
        for r in rows
    ]


async def active_silences(conn: AsyncConnection, now: datetime) -> list[list[dict[str, Any]]]:
    rows = await conn.execute(
        select(silences.c.matchers).where(
            silences.c.deleted_at.is_(None), silences.c.starts_at <= now, silences.c.ends_at > now
        )
    )
    return [list(r.matchers) for r in rows]


EVIDENCE_LABELS = ("business_line", "channel")


def alert_labels(
    rule_id: str, level: str, group: Mapping[str, Any], latest: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The labels silences and inhibition rules match: the rule id, the level, the group's dimensions
    and, where the group lacks them, the business line and channel of the latest evidence (so that a
    per-feedback alert can be silenced or inhibited by line)."""
    labels: dict[str, Any] = {"rule": rule_id, "level": level}
    labels |= {k: latest[k] for k in EVIDENCE_LABELS if latest and latest.get(k)}
    return labels | dict(group)


def silenced(active: Sequence[Sequence[Mapping[str, Any]]], labels: Mapping[str, Any]) -> bool:
    return any(matches(matchers, labels) for matchers in active)
