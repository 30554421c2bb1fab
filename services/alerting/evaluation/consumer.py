"""The consumer: feedback.scored.v1, commerce.events.v1 (and loyalty tier changes) → rule evaluation →
alerts, in one transaction per batch with the event claims and the window cells it changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from services.alerting.evaluation.columns import columns
from services.alerting.evaluation.commerce import Sale
from services.alerting.evaluation.engine import Cell, Outcome, Signal
from services.alerting.evaluation.sales import sales_of
from services.alerting.evaluation.state import AlertingState
from services.alerting.lifecycle.escalation import open_timers
from services.alerting.lifecycle.firing import Firing, fire_or_repeat_many
from services.alerting.lifecycle.mute import inhibited
from services.alerting.lifecycle.silences import active_silences, alert_labels, open_sources, silenced
from services.alerting.lifecycle.transitions import Evidence, group_text
from services.alerting.metrics import (
    EVALUATION_SECONDS,
    LATE_EVENTS,
    PRUNED_CELLS,
    UNATTRIBUTED_REFUNDS,
)
from services.alerting.models import member_tiers, processed_events
from services.alerting.rules import AlertingConfig
from shared.contracts.commerce import Purchase, Refund
from shared.contracts.envelope import Envelope
from shared.contracts.feedback import FeedbackScored
from shared.contracts.loyalty import TierChanged
from shared.contracts.registry import ALERTS
from shared.db.idempotency import claim_events, fresh_events
from shared.kafka.consumer import ConsumedEvent, Handler
from shared.service import Runtime

CLAIM_GROUP = "alerting"


_WATERMARK = text("""
    INSERT INTO alerting.engine_state (name, value)
    SELECT n, v FROM unnest(CAST(:names AS text[]), CAST(:values AS float8[])) AS u(n, v)
    ON CONFLICT (name) DO UPDATE SET value = greatest(alerting.engine_state.value, excluded.value)
""")


_SAVE_CELLS = text("""
    INSERT INTO alerting.window_cells (rule_id, group_text, bucket, group_key, sums)
    SELECT r, g, b, CAST(k AS jsonb), CAST(s AS float8[])
    FROM unnest(CAST(:rules AS text[]), CAST(:groups AS text[]), CAST(:buckets AS bigint[]),
                CAST(:keys AS text[]), CAST(:sums AS text[])) AS u(r, g, b, k, s)
    ON CONFLICT (rule_id, group_text, bucket) DO UPDATE SET sums = excluded.sums, updated_at = now()
""")


async def _save_cells(conn: AsyncConnection, cells: list[Cell]) -> None:
    """Upserts the changed window cells in one array-bound statement (sums as Postgres array literals)."""
    if not cells:
        return
    latest = {(c.rule_id, group_text(c.group_key), c.bucket): c for c in cells}
    await conn.execute(
        _SAVE_CELLS,
        {
            "rules": [k[0] for k in latest],
            "groups": [k[1] for k in latest],
            "buckets": [k[2] for k in latest],
            "keys": [json.dumps(dict(c.group_key), ensure_ascii=False) for c in latest.values()],
            "sums": ["{" + ",".join(repr(v) for v in c.values) + "}" for c in latest.values()],
        },
    )


_PRUNE_CELLS = text("""
    DELETE FROM alerting.window_cells AS w
    USING unnest(CAST(:rules AS text[]), CAST(:oldest AS bigint[])) AS k(r, oldest)
    WHERE w.rule_id = k.r AND w.bucket < k.oldest
      AND EXISTS (
        SELECT 1 FROM alerting.window_cells AS f
        WHERE f.rule_id = w.rule_id AND f.group_text = w.group_text AND f.bucket < w.bucket
      )
""")


async def _prune_cells(conn: AsyncConnection, oldest: dict[str, int]) -> None:
    """Deletes the stored cells that rings have moved past, so the table (and the read after a restart)
    stays as large as the windows, not the history. Each group's first cell stays: baseline and
    order-drop rules date a group's history from it."""
    if oldest:
        deleted = await conn.execute(_PRUNE_CELLS, {"rules": list(oldest), "oldest": list(oldest.values())})
        PRUNED_CELLS.inc(max(0, deleted.rowcount))


_CLEAR_MANY = text("""
    UPDATE alerting.alerts SET clear_since = coalesce(clear_since, :now)
    FROM unnest(CAST(:rules AS text[]), CAST(:groups AS text[])) AS k(r, g)
    WHERE rule_id = k.r AND group_text = k.g AND status <> 'resolved' AND auto_resolve_s IS NOT NULL
""")


async def _save_watermarks(conn: AsyncConnection, marks: dict[str, float]) -> None:
    await conn.execute(_WATERMARK, {"names": list(marks), "values": list(marks.values())})


def _evidence(event: FeedbackScored, offset: str) -> Evidence:
    return Evidence(
        str(event.feedback_id),
        event.text[:200],
        event.stars,
        event.label,
        f"{event.model.id}@{event.model.version}",
        event.occurred_at.isoformat(),
        offset,
        event.channel,
        event.customer_id,
        tuple({"name": a.name, "label": a.label} for a in event.aspects),
        event.business_line or "",
    )


Backing = Callable[[Signal], tuple[list[Evidence], set[str]]]
"""A signal's evidence (the latest few) and the customers behind it."""


def _feedback_backing(batch: list[FeedbackScored], offsets: list[str]) -> Backing:
    def backing(signal: Signal) -> tuple[list[Evidence], set[str]]:
        evidence = [_evidence(batch[i], offsets[i]) for i in signal.rows[:5]]
        return evidence, {batch[i].customer_id for i in signal.rows}

    return backing


def _sales_backing(sales: list[Sale]) -> Backing:
    """Commerce alerts carry no feedback; their customer is the group's (order drops) or the one
    customer behind the batch's refunds."""

    def backing(signal: Signal) -> tuple[list[Evidence], set[str]]:
        group = dict(signal.group_key)
        if "customer_id" in group:
            return [], {group["customer_id"]}
        return [], {sales[i].customer_id for i in signal.rows}

    return backing


async def _alerts_from(
    conn: AsyncConnection,
    outcome: Outcome,
    backing: Backing,
    config: AlertingConfig,
    now: datetime,
    topic: str,
) -> int:
    """Fires or repeats the batch's alerts; marks clear groups of auto-resolving rules. Returns how many
    notifications may now be due (0: the notifier need not be woken)."""
    silences = await active_silences(conn, now)
    sources = await open_sources(conn, config.inhibit_rules) if config.inhibit_rules else []
    clear: list[tuple[str, str]] = []
    firings: list[Firing] = []
    for signal in outcome.signals:
        rule = signal.rule
        if not signal.firing:
            if rule.auto_resolve_after is not None:
                clear.append((rule.id, group_text(signal.group_key)))
            continue
        timers = open_timers(rule, config.policies[rule.policy], now, signal.max_tier)
        evidence, customers = backing(signal)
        latest = evidence[-1].__dict__ if evidence else None
        labels = alert_labels(rule.id, timers.level, dict(signal.group_key), latest)
        held_by = (
            "silence"
            if silenced(silences, labels)
            else ("inhibition" if inhibited(config.inhibit_rules, labels, sources) else None)
        )
        firings.append(
            Firing(
                rule_id=rule.id,
                group=signal.group_key,
                timers=timers,
                summary=f"{rule.description or rule.id} [{group_text(signal.group_key)}]",
                value=signal.value,
                count=len(signal.rows),
                customer_id=customers.pop() if len(customers) == 1 else None,
                silenced=held_by is not None,
                held_by=held_by,
                auto_resolve=rule.auto_resolve_after,
                evidence=evidence,
            )
        )
    if clear:
        await conn.execute(
            _CLEAR_MANY, {"now": now, "rules": [c[0] for c in clear], "groups": [c[1] for c in clear]}
        )
    return await fire_or_repeat_many(conn, firings, now, topic, config)


def alerting_handler(state: AlertingState) -> Callable[[Runtime], Handler]:
    """Guarantees: an event's effect (window counts, alert fired or counted) commits once, with its claim;
    a failed batch rolls back whole and the in-memory engine is rebuilt from what was committed."""

    def build(runtime: Runtime) -> Handler:
        topic = ALERTS.name + runtime.settings.kafka.topic_suffix

        async def handle(events: list[ConsumedEvent]) -> None:
            try:
                async with runtime.database.connection() as conn:
                    engine = await state.ready_engine(conn)
                    fresh_ids = await claim_events(
                        conn,
                        processed_events,
                        CLAIM_GROUP,
                        [(e.envelope.event_id, e.envelope.type) for e in events],
                    )
                    unique = fresh_events(events, fresh_ids, lambda e: e.envelope.event_id)
                    fresh = [e.envelope.payload for e in unique]
                    for change in (p for p in fresh if isinstance(p, TierChanged)):
                        await conn.execute(
                            pg_insert(member_tiers)
                            .values(customer_id=change.customer_id, tier=change.to_tier)
                            .on_conflict_do_update(
                                index_elements=["customer_id"], set_={"tier": change.to_tier}
                            )
                        )
                        state.tiers[change.customer_id] = change.to_tier
                    batch = [p for p in fresh if isinstance(p, FeedbackScored)]
                    with EVALUATION_SECONDS.time():
                        outcome = engine.process(columns(batch, state.tiers))
                    LATE_EVENTS.inc(outcome.late)
                    await _save_cells(conn, outcome.cells())
                    if batch:
                        await _save_watermarks(conn, engine.watermarks())
                        await _prune_cells(conn, state.to_prune(engine.oldest_held()))
                    offsets = [
                        f"{e.topic}/{e.partition}/{e.offset}"
                        for e in unique
                        if isinstance(e.envelope.payload, FeedbackScored)
                    ]
                    config, now = state.config(), state.clock()
                    fired = await _alerts_from(
                        conn, outcome, _feedback_backing(batch, offsets), config, now, topic
                    )
                    trade: list[Envelope[Any]] = [
                        e.envelope for e in unique if isinstance(e.envelope.payload, Purchase | Refund)
                    ]
                    commerce = state.commerce
                    if trade and commerce is not None and commerce.rules:
                        sales = await sales_of(conn, trade, commerce.remembers_orders)
                        sold, unattributed = commerce.process(sales, state.tiers)
                        LATE_EVENTS.inc(sold.late)
                        UNATTRIBUTED_REFUNDS.inc(unattributed)
                        await _save_cells(conn, sold.cells())
                        await _save_watermarks(conn, commerce.watermarks())
                        await _prune_cells(conn, state.to_prune(commerce.oldest_held()))
                        fired += await _alerts_from(conn, sold, _sales_backing(sales), config, now, topic)
            except BaseException:
                state.engine = None
                raise
            if fired:
                state.notify.set()  # committed: the notifier sends them now rather than at its next poll

        return handle

    return build
