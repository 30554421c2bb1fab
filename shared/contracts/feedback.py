"""Payloads of feedback.received.v1 (ingested feedback) and feedback.scored.v1 (with sentiment)."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, Field

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
    text: str = Field(default="", max_length=10_000)
    language: Language
    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    ces: int | None = Field(default=None, ge=1, le=7)
    stars: int | None = Field(default=None, ge=1, le=5)
    business_line: str | None = None
    region: str | None = None
    store_id: str | None = None
    product_id: str | None = None
    occurred_at: AwareDatetime
    metadata: dict[str, Any] = Field(default_factory=dict)
    pii_masked: dict[str, int] = Field(default_factory=dict)
    """How many items of personal data (by kind: email, phone, card, id_number) ingest masked."""


class ModelRef(Contract):
    id: str
    version: str
    backend: str | None = None


class Aspect(Contract):
    """A topic mentioned in the text (e.g. packaging, service) with its own polarity."""

    name: str
    label: SentimentLabel
    keywords: list[str] = Field(default_factory=list)


ScoreFlag = Literal["empty_text", "truncated", "score_text_disagreement", "unsupported_language"]


class FeedbackScored(Contract):
    """Feedback with the sentiment model's verdict; carries what alerting groups and filters by.

    `stars` is the model's verdict; the customer's own rating, if any, is `rated_stars`."""

    feedback_id: UUID
    client_id: str | None = None
    external_id: str | None = None
    customer_id: str
    channel: Channel
    language: Language
    text: str = Field(default="", max_length=10_000)
    stars: int = Field(ge=1, le=5)
    stars_expected: float = Field(ge=1, le=5)
    label: SentimentLabel
    score: float = Field(ge=-1, le=1)
    confidence: float = Field(ge=0, le=1)
    aspects: list[Aspect] = Field(default_factory=list)
    flags: list[ScoreFlag] = Field(default_factory=list)
    model: ModelRef
    rated_stars: int | None = Field(default=None, ge=1, le=5)
    csat: int | None = Field(default=None, ge=1, le=5)
    nps: int | None = Field(default=None, ge=0, le=10)
    ces: int | None = Field(default=None, ge=1, le=7)
    business_line: str | None = None
    region: str | None = None
    store_id: str | None = None
    product_id: str | None = None
    occurred_at: AwareDatetime
    metadata: dict[str, Any] = Field(default_factory=dict)
