"""The consumer: scored feedback, alert transitions, callbacks and member tiers → facts and rollup
cells, one transaction per batch, each event id claimed with its effect."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from services.insights import metrics
from services.insights.alertfacts import AlertTargets, elapsed_s
from services.insights.config import InsightsSettings
from services.insights.models import processed_events
from services.insights.store import record_alerts, record_feedback, record_tiers
from shared.contracts.alerts import AlertChanged, CallbackChanged
from shared.contracts.feedback import FeedbackScored
from shared.contracts.loyalty import TierChanged
from shared.db.idempotency import claim_events, fresh_events
from shared.kafka.consumer import ConsumedEvent, Handler
from shared.service import Runtime

CLAIM_GROUP = "insights"
"""Event ids are claimed under this name, not the consumer group's: a replay under a new group counts
nothing twice."""


def insights_handler(settings: InsightsSettings) -> Callable[[Runtime], Handler]:
    targets = AlertTargets(
        settings.zone(),
        settings.response_target_s,
        settings.resolution_target_s,
        settings.closure_working_days,
    )

    def build(runtime: Runtime) -> Handler:
        async def handle(events: list[ConsumedEvent]) -> None:
            async with runtime.database.connection() as conn:
                claimed = await claim_events(
                    conn,
                    processed_events,
                    CLAIM_GROUP,
                    [(e.envelope.event_id, e.envelope.type) for e in events],
                )
                fresh = fresh_events(events, claimed, lambda e: e.envelope.event_id)
                tiers = [
                    p
                    for e in fresh
                    if isinstance(p := e.envelope.payload, TierChanged) and e.envelope.type == "tier_changed"
                ]
                if tiers:
                    await record_tiers(conn, tiers)
                scored = [p for e in fresh if isinstance(p := e.envelope.payload, FeedbackScored)]
                written = (
                    await record_feedback(conn, scored, settings.time_zone, settings.recurrence_days)
                    if scored
                    else None
                )
                transitions = [
                    (e.envelope.type, p)
                    for e in fresh
                    if isinstance(p := e.envelope.payload, AlertChanged | CallbackChanged)
                ]
                changed = await record_alerts(conn, transitions, targets) if transitions else []
            if written is not None:
                count_feedback(written.first_seen, settings)
            count_alerts(changed)

        return handle

    return build


def count_feedback(first_seen: Sequence[FeedbackScored], settings: InsightsSettings) -> None:
    for s in first_seen:
        place = (
            metrics.bounded(s.business_line, settings.business_lines),
            metrics.bounded(s.region, settings.regions),
        )
        metrics.FEEDBACK.labels(*place, s.channel, s.label).inc()
        if s.nps is not None:
            metrics.NPS.labels(*place, metrics.nps_category(s.nps)).inc()
        if s.csat is not None:
            metrics.CSAT.labels(*place).inc()
            metrics.CSAT_POINTS.labels(*place).inc(s.csat)
            if s.csat >= 4:
                metrics.CSAT_SATISFIED.labels(*place).inc()
        if s.ces is not None:
            metrics.CES.labels(*place).inc()
            metrics.CES_POINTS.labels(*place).inc(s.ces)


def count_alerts(changed: Sequence[Mapping[str, Any]]) -> None:
    """Observes each first answer and resolution once (the transition that set it)."""
    for change in changed:
        before, after = change["before"] or {}, change["after"]
        level = after["level"]
        for until, due, histogram, sla in (
            ("acknowledged_at", "response_due_at", metrics.RESPONSE, "response"),
            ("resolved_at", "resolution_due_at", metrics.RESOLUTION, "resolution"),
        ):
            seconds = elapsed_s(after, until)
            if seconds is None or before.get(until) is not None:
                continue
            histogram.labels(level).observe(seconds)
            met = after[until] <= after[due]
            metrics.SLA.labels(level, sla, "met" if met else "missed").inc()
