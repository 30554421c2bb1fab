"""Writing the facts and keeping their cells current, inside the consumer's transaction.

Guarantees: after a batch commits, every cell holds exactly the counts of the facts stored then. A fact
that changes (a re-scored feedback, an alert acknowledged or resolved) has its old counts taken out of its
cells and its new ones added in the same transaction, so a record counts once however often it arrives,
and a late one lands in the day it belongs to. A re-scored verdict is never replaced by a redelivered
original one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.insights.alertfacts import AlertTargets, advance
from services.insights.cells import ALERTS, FEEDBACK
from services.insights.kpis import local_day
from services.insights.models import alerts, feedback, member_tiers
from shared.contracts.alerts import AlertChanged, CallbackChanged
from shared.contracts.feedback import FeedbackScored
from shared.contracts.loyalty import TierChanged

BY_IDS = "f.{key} = ANY(:ids)"
RECURRENCE = text("""
    UPDATE insights.feedback AS f SET recurrent_aspects = ARRAY(
        SELECT DISTINCT a FROM insights.feedback AS p, unnest(p.negative_aspects) AS a
        WHERE p.customer_id = f.customer_id AND p.feedback_id <> f.feedback_id
          AND p.occurred_at < f.occurred_at AND p.occurred_at >= f.occurred_at - make_interval(days => :days)
          AND a = ANY(f.negative_aspects) ORDER BY a)
    WHERE f.feedback_id = ANY(:ids) AND cardinality(f.negative_aspects) > 0
""")
LINK_ALERTS = text("""
    UPDATE insights.feedback AS f SET alert_id = a.alert_id FROM insights.alerts AS a
    WHERE f.feedback_id = ANY(:ids) AND f.alert_id IS NULL AND a.feedback_ids @> ARRAY[f.feedback_id]
""")


def rescored(scored: FeedbackScored) -> bool:
    return "rescored" in scored.flags


def replaces(new: FeedbackScored, old_rescored: bool) -> bool:
    return rescored(new) or not old_rescored


@dataclass(frozen=True)
class FeedbackWrite:
    first_seen: list[FeedbackScored]
    """Feedback counted for the first time (Prometheus counts these, not replacements)."""
    tiers: dict[str, str]


async def record_feedback(
    conn: AsyncConnection, batch: Sequence[FeedbackScored], time_zone: str, recurrence_days: int
) -> FeedbackWrite:
    latest: dict[UUID, FeedbackScored] = {}
    for scored in batch:
        prior = latest.get(scored.feedback_id)
        if prior is None or replaces(scored, rescored(prior)):
            latest[scored.feedback_id] = scored
    ids = list(latest)
    found = await conn.execute(
        select(feedback.c.feedback_id, feedback.c.rescored)
        .where(feedback.c.feedback_id.in_(ids))
        .with_for_update()
    )
    existing = dict(found.all())
    accepted = [
        s for s in latest.values() if s.feedback_id not in existing or replaces(s, existing[s.feedback_id])
    ]
    if not accepted:
        return FeedbackWrite([], {})
    replaced = [s.feedback_id for s in accepted if s.feedback_id in existing]
    if replaced:
        await conn.execute(FEEDBACK.delta(BY_IDS.format(key="feedback_id")), {"sign": -1, "ids": replaced})
    tiers = await tiers_of(conn, {s.customer_id for s in accepted})
    rows = [_feedback_row(s, tiers.get(s.customer_id, ""), time_zone) for s in accepted]
    statement = insert(feedback)
    kept = {"feedback_id", "alert_id", "recorded_at"}
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[feedback.c.feedback_id],
            set_={c.name: statement.excluded[c.name] for c in feedback.columns if c.name not in kept},
        ),
        rows,
    )
    accepted_ids = [s.feedback_id for s in accepted]
    await conn.execute(RECURRENCE, {"ids": accepted_ids, "days": recurrence_days})
    await conn.execute(LINK_ALERTS, {"ids": accepted_ids})
    await conn.execute(FEEDBACK.delta(BY_IDS.format(key="feedback_id")), {"sign": 1, "ids": accepted_ids})
    return FeedbackWrite([s for s in accepted if s.feedback_id not in existing], tiers)


def _feedback_row(scored: FeedbackScored, tier: str, time_zone: str) -> dict[str, Any]:
    from zoneinfo import ZoneInfo

    return {
        "feedback_id": scored.feedback_id,
        "customer_id": scored.customer_id,
        "occurred_at": scored.occurred_at,
        "day": local_day(scored.occurred_at, ZoneInfo(time_zone)),
        "business_line": scored.business_line or "",
        "channel": scored.channel,
        "region": scored.region or "",
        "store_id": scored.store_id or "",
        "tier": tier,
        "aspects": [a.name for a in scored.aspects],
        "aspect_labels": [a.label for a in scored.aspects],
        "negative_aspects": sorted({a.name for a in scored.aspects if a.label == "negative"}),
        "recurrent_aspects": [],
        "label": scored.label,
        "stars": scored.stars,
        "rated_stars": scored.rated_stars,
        "csat": scored.csat,
        "nps": scored.nps,
        "ces": scored.ces,
        "text": scored.text,
        "model_version": f"{scored.model.id}:{scored.model.version}",
        "rescored": rescored(scored),
    }


async def tiers_of(conn: AsyncConnection, customers: set[str]) -> dict[str, str]:
    found = await conn.execute(
        select(member_tiers.c.customer_id, member_tiers.c.tier).where(
            member_tiers.c.customer_id.in_(customers)
        )
    )
    return dict(found.all())


async def record_tiers(conn: AsyncConnection, changes: Sequence[TierChanged]) -> None:
    """The latest tier per member (by effective time, so an older change arriving late loses)."""
    latest: dict[str, TierChanged] = {}
    for change in changes:
        if change.customer_id not in latest or change.effective_at >= latest[change.customer_id].effective_at:
            latest[change.customer_id] = change
    rows = [
        {"customer_id": c.customer_id, "tier": c.to_tier, "updated_at": c.effective_at}
        for c in latest.values()
    ]
    statement = insert(member_tiers)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[member_tiers.c.customer_id],
            set_={"tier": statement.excluded.tier, "updated_at": statement.excluded.updated_at},
            where=member_tiers.c.updated_at <= statement.excluded.updated_at,
        ),
        rows,
    )


async def record_alerts(
    conn: AsyncConnection, batch: Sequence[tuple[str, AlertChanged | CallbackChanged]], targets: AlertTargets
) -> list[dict[str, Any]]:
    """Applies alert transitions and callback events in order; returns the (old, new) rows that changed,
    for metrics."""
    ids = list(dict.fromkeys(a.alert_id for _, a in batch))
    found = await conn.execute(select(alerts).where(alerts.c.alert_id.in_(ids)).with_for_update())
    existing: dict[UUID, Mapping[str, Any]] = {row["alert_id"]: dict(row) for row in found.mappings()}
    evidence = await _evidence(
        conn, [a.feedback_ids[0] for _, a in batch if isinstance(a, AlertChanged) and a.feedback_ids]
    )
    states: dict[UUID, Mapping[str, Any] | None] = dict(existing)
    changed: list[dict[str, Any]] = []
    for kind, alert in batch:
        before = states.get(alert.alert_id)
        after = advance(before, kind, alert, evidence, targets)
        if after is not None and after != before:
            states[alert.alert_id] = after
            changed.append({"before": before, "after": after})
    touched = list(dict.fromkeys(c["after"]["alert_id"] for c in changed))
    if not touched:
        return []
    old = [i for i in touched if i in existing]
    if old:
        await conn.execute(ALERTS.delta(BY_IDS.format(key="alert_id")), {"sign": -1, "ids": old})
    statement = insert(alerts)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=[alerts.c.alert_id],
            set_={c.name: statement.excluded[c.name] for c in alerts.columns if c.name != "alert_id"},
        ),
        [dict(states[i] or {}) for i in touched],
    )
    await conn.execute(ALERTS.delta(BY_IDS.format(key="alert_id")), {"sign": 1, "ids": touched})
    linked = [f for i in touched for f in (states[i] or {}).get("feedback_ids", [])]
    await conn.execute(LINK_ALERTS, {"ids": linked})
    return changed


async def _evidence(conn: AsyncConnection, feedback_ids: list[UUID]) -> dict[UUID, Mapping[str, Any]]:
    """The stored dimensions of the feedback that fired alerts (absent when it has not arrived yet)."""
    if not feedback_ids:
        return {}
    columns = [
        feedback.c[name] for name in ("feedback_id", "business_line", "channel", "region", "store_id", "tier")
    ]
    found = await conn.execute(select(*columns).where(feedback.c.feedback_id.in_(feedback_ids)))
    return {row["feedback_id"]: dict(row) for row in found.mappings()}
