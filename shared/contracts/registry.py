"""The topic registry: every topic's partitions, key, event models, DLQ, producers and consumers.

Code (producers, consumers, topic creation) and deployment manifests are generated from this one table,
so they cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from shared.contracts.alerts import ALERT_TRANSITIONS, CALLBACK_TRANSITIONS, AlertChanged, CallbackChanged
from shared.contracts.commerce import Purchase, Referral, Refund, SurveyCompleted
from shared.contracts.feedback import FeedbackReceived, FeedbackScored
from shared.contracts.loyalty import POINTS_CHANGES, ExpiryReminder, PointsChanged, TierChanged

Service = str
EventKey = tuple[str, int]
"""(envelope type, envelope version)."""

DAY_MS = 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    key: str
    events: dict[EventKey, type[BaseModel]]
    producers: tuple[Service, ...]
    consumers: tuple[Service, ...]
    retention_ms: int = 7 * DAY_MS
    description: str = ""
    dlq_partitions: int = 1
    dlq_retention_ms: int = 30 * DAY_MS
    config: dict[str, str] = field(default_factory=dict)

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"

    def model_for(self, event_type: str, version: int) -> type[BaseModel] | None:
        return self.events.get((event_type, version))


FEEDBACK_RECEIVED = TopicSpec(
    name="feedback.received.v1",
    partitions=6,
    key="customer_id",
    events={("feedback.received", 1): FeedbackReceived},
    producers=("ingest",),
    consumers=("sentiment", "loyalty"),
    description="Feedback accepted by ingest, PII masked.",
)
FEEDBACK_SCORED = TopicSpec(
    name="feedback.scored.v1",
    partitions=6,
    key="customer_id",
    events={("feedback.scored", 1): FeedbackScored},
    producers=("sentiment",),
    consumers=("alerting", "insights"),
    description="Feedback with its BERT sentiment (stars, label, score, aspects).",
)
COMMERCE_EVENTS = TopicSpec(
    name="commerce.events.v1",
    partitions=6,
    key="customer_id (referrer_id for referrals)",
    events={
        ("purchase", 1): Purchase,
        ("refund", 1): Refund,
        ("referral", 1): Referral,
        ("survey_completed", 1): SurveyCompleted,
    },
    producers=("ingest",),
    consumers=("loyalty", "alerting"),
    description="Business events posted by other systems.",
)
ALERTS = TopicSpec(
    name="alerts.v1",
    partitions=3,
    key="alert_id",
    events={
        **{(f"alert.{transition}", 1): AlertChanged for transition in ALERT_TRANSITIONS},
        **{(f"callback.{transition}", 1): CallbackChanged for transition in CALLBACK_TRANSITIONS},
    },
    producers=("alerting",),
    consumers=("loyalty", "insights"),
    retention_ms=30 * DAY_MS,
    description=(
        "Alert lifecycle: fired, escalated, acknowledged, reminded, reopened, sla_missed, resolved; "
        "and the callbacks (回访) of resolved cases: scheduled, done."
    ),
)
LOYALTY_CHANGES = TopicSpec(
    name="loyalty.changes.v1",
    partitions=3,
    key="customer_id",
    events={
        **{(change, 1): PointsChanged for change in POINTS_CHANGES},
        ("expiry_reminder", 1): ExpiryReminder,
        ("tier_changed", 1): TierChanged,
        ("tier_downgrade_warning", 1): TierChanged,
    },
    producers=("loyalty",),
    consumers=("alerting", "insights"),
    retention_ms=30 * DAY_MS,
    description="Points and tier changes, published through the loyalty outbox.",
)

TOPICS: dict[str, TopicSpec] = {
    spec.name: spec for spec in (FEEDBACK_RECEIVED, FEEDBACK_SCORED, COMMERCE_EVENTS, ALERTS, LOYALTY_CHANGES)
}


def consumed_by(service: Service) -> list[TopicSpec]:
    return [spec for spec in TOPICS.values() if service in spec.consumers]
