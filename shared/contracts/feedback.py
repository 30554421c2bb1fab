"""Payloads of feedback.received.v1 (ingested feedback) and feedback.scored.v1 (with sentiment)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from shared.contracts.bounds import (
    Ces,
    Count,
    Csat,
    FreeText,
    IdText,
    LabelText,
    Nps,
    Number,
    Stars,
    Timestamp,
)
from shared.contracts.envelope import Contract

Channel = Literal["web", "app", "email", "phone", "chat", "social", "survey", "store", "sms", "im"]
Language = Literal["zh", "en", "other"]
SentimentLabel = Literal["negative", "neutral", "positive"]


class FeedbackReceived(Contract):
    """One feedback record as accepted by ingest; text has PII masked before publication."""

    feedback_id: UUID
    client_id: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=200)
    channel: Channel
    customer_id: str = Field(min_length=1, max_length=200)
    text: FreeText = ""
    language: Language
    csat: Csat | None = None
    nps: Nps | None = None
    ces: Ces | None = None
    stars: Stars | None = None
    business_line: LabelText | None = None
    region: LabelText | None = None
    store_id: LabelText | None = None
    product_id: LabelText | None = None
    occurred_at: Timestamp
    metadata: dict[str, Any] = Field(default_factory=dict)
    pii_masked: dict[LabelText, Count] = Field(default_factory=dict)
    """How many items of personal data (by kind: email, phone, card, id_number) ingest masked."""


class ModelRef(Contract):
    id: IdText
    version: IdText
    backend: IdText | None = None


class Aspect(Contract):
    """A topic mentioned in the text (e.g. packaging, service) with its own polarity."""

    name: LabelText
    label: SentimentLabel
    keywords: list[LabelText] = Field(default_factory=list, max_length=100)


ScoreFlag = Literal["empty_text", "truncated", "score_text_disagreement", "unsupported_language", "rescored"]
"""`rescored`: a later model's verdict on feedback scored before (services.sentiment.rescore)."""


class FeedbackScored(Contract):
    """Feedback with the sentiment model's verdict; carries what alerting groups and filters by.

    `stars` is the model's verdict; the customer's own rating, if any, is `rated_stars`."""

    feedback_id: UUID
    client_id: LabelText | None = None
    external_id: IdText | None = None
    customer_id: IdText
    channel: Channel
    language: Language
    text: FreeText = ""
    stars: Stars
    stars_expected: Number = Field(ge=1, le=5)
    label: SentimentLabel
    score: Number = Field(ge=-1, le=1)
    confidence: Number = Field(ge=0, le=1)
    aspects: list[Aspect] = Field(default_factory=list, max_length=100)
    flags: list[ScoreFlag] = Field(default_factory=list, max_length=10)
    model: ModelRef
    rated_stars: Stars | None = None
    csat: Csat | None = None
    nps: Nps | None = None
    ces: Ces | None = None
    business_line: LabelText | None = None
    region: LabelText | None = None
    store_id: LabelText | None = None
    product_id: LabelText | None = None
    occurred_at: Timestamp
    metadata: dict[str, Any] = Field(default_factory=dict)
