"""The loyalty consumer: claim event ids, load the members, apply, save — one transaction per batch."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from services.loyalty.apply import MemberState, apply_purchase, apply_refund, apply_reward
from services.loyalty.metrics import APPLY_LATENCY, EVENTS_APPLIED
from services.loyalty.models import processed_events
from services.loyalty.repository import load, save
from services.loyalty.rules import LoyaltyRules
from shared.contracts.alerts import AlertChanged, CallbackChanged
from shared.contracts.commerce import Purchase, Referral, Refund, SurveyCompleted
from shared.contracts.feedback import FeedbackReceived
from shared.contracts.registry import LOYALTY_CHANGES
from shared.db.idempotency import claim_events, fresh_events
from shared.kafka.consumer import ConsumedEvent, Handler
from shared.service import Runtime

LOOKBACK = timedelta(days=366)
CLAIM_GROUP = "ledger"
"""Event ids are claimed under this name, not the Kafka consumer group's, so replaying a topic under a
new group (or renaming the group) can never apply an effect twice."""


def customers_of(event: ConsumedEvent) -> list[str]:
    payload = event.envelope.payload
    if isinstance(payload, Referral):
        return [payload.referrer_id, payload.referee_id]
    if isinstance(payload, AlertChanged):
        return (
            [payload.customer_id] if payload.customer_id and event.envelope.type == "alert.resolved" else []
        )
    if isinstance(payload, CallbackChanged):
        return []  # a callback earns nothing: only the case's resolution does
    customer = getattr(payload, "customer_id", None)
    return [customer] if isinstance(customer, str) else []


def loyalty_handler(rules: Callable[[], LoyaltyRules]) -> Callable[[Runtime], Handler]:
    """Guarantees: each event id's effect is applied once (the claim commits with the effect); a batch that
    fails rolls back whole and is retried by the consumer loop."""

    def build(runtime: Runtime) -> Handler:
        topic = LOYALTY_CHANGES.name + runtime.settings.kafka.topic_suffix

        async def handle(events: list[ConsumedEvent]) -> None:
            current = rules()
            with APPLY_LATENCY.time():
                async with runtime.database.connection() as conn:
                    fresh_ids = await claim_events(
                        conn,
                        processed_events,
                        CLAIM_GROUP,
                        [(e.envelope.event_id, e.envelope.type) for e in events],
                    )
                    fresh = fresh_events(events, fresh_ids, lambda e: e.envelope.event_id)
                    if not fresh:
                        return
                    customers = [c for e in fresh for c in customers_of(e)]
                    orders = [
                        (p.customer_id, p.order_id)
                        for e in fresh
                        if isinstance(p := e.envelope.payload, Purchase | Refund)
                    ]
                    times = [e.envelope.occurred_at for e in fresh]
                    first, last = min(times), max(times)
                    spending = [p.customer_id for e in fresh if isinstance(p := e.envelope.payload, Refund)]
                    states = await load(
                        conn,
                        customers,
                        orders,
                        first - LOOKBACK,
                        event_times=(first, last),
                        spending=spending,
                    )
                    for event in fresh:
                        apply_event(event, states, current)
                        EVENTS_APPLIED.labels(event.envelope.type).inc()
                    await save(conn, list(states.values()), topic)

        return handle

    return build


def apply_event(event: ConsumedEvent, states: dict[str, MemberState], current: LoyaltyRules) -> None:
    envelope, payload = event.envelope, event.envelope.payload
    at, event_id, rewards = envelope.occurred_at, envelope.event_id, current.rewards
    if isinstance(payload, Purchase):
        apply_purchase(states[payload.customer_id], event_id, payload, current)
    elif isinstance(payload, Refund):
        apply_refund(states[payload.customer_id], event_id, payload, at)
    elif isinstance(payload, Referral):
        apply_reward(
            states[payload.referrer_id],
            "referral_referrer",
            rewards.referral_referrer,
            event_id,
            at,
            f"referred {payload.referee_id}",
            current,
        )
        apply_reward(
            states[payload.referee_id],
            "referral_referee",
            rewards.referral_referee,
            event_id,
            at,
            f"referred by {payload.referrer_id}",
            current,
        )
    elif isinstance(payload, SurveyCompleted):
        apply_reward(
            states[payload.customer_id],
            "survey_completed",
            rewards.survey_completed,
            event_id,
            at,
            f"survey {payload.survey_id}",
            current,
        )
    elif isinstance(payload, FeedbackReceived):
        apply_reward(
            states[payload.customer_id],
            "feedback_submitted",
            rewards.feedback_submitted,
            event_id,
            at,
            f"feedback {payload.feedback_id}",
            current,
        )
    elif isinstance(payload, AlertChanged) and envelope.type == "alert.resolved" and payload.customer_id:
        apply_reward(
            states[payload.customer_id],
            "complaint_resolved_goodwill",
            rewards.complaint_resolved_goodwill,
            event_id,
            at,
            f"complaint {payload.alert_id} resolved",
            current,
        )
