"""Request and response bodies of the ingest API. Unknown fields are refused so integrators see mistakes."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from services.ingest.shapes import (
    EMAIL_SUBJECT_OR_BODY,
    FEEDBACK_TEXT_OR_SCORE,
    NOT_BLANK,
    TRANSCRIPT_CUSTOMER_OR_CSAT,
    AmountIn,
    PriceIn,
)
from services.ingest.times import EventTime
from shared.contracts.bounds import Ces, Csat, Nps, Number, Quantity, Stars
from shared.contracts.commerce import MAX_LINE_ITEMS
from shared.contracts.feedback import Channel, Language

MAX_METADATA_BYTES = 8 * 1024
NOT_BLANK_SCHEMA: dict[str, Any] = {"pattern": NOT_BLANK}
"""min_length counts after stripping, which the document says so (the pattern is for it, not enforced)."""
Id = Annotated[str, Field(min_length=1, max_length=200, json_schema_extra=NOT_BLANK_SCHEMA)]
Label = Annotated[str, Field(min_length=1, max_length=100, json_schema_extra=NOT_BLANK_SCHEMA)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class FeedbackIn(Strict):
    """One feedback record. `text` may be empty only when at least one score is given."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            **FEEDBACK_TEXT_OR_SCORE,
            "examples": [
                {
                    "external_id": "web-2026-000123",
                    "channel": "web",
                    "customer_id": "C10086",
                    "text": "包装破损但客服很专业",
                    "csat": 3,
                    "nps": 6,
                    "business_line": "retail",
                    "region": "east",
                    "store_id": "SH-017",
                    "occurred_at": "2026-11-20T09:30:00+08:00",
                }
            ],
        },
    )

    external_id: Id
    channel: Channel
    customer_id: Id
    csat: Csat | None = None
    nps: Nps | None = None
    ces: Ces | None = None
    stars: Stars | None = None
    # Declared after the scores so that its validator can see them.
    text: str = Field(default="", max_length=10_000, validate_default=True)
    language: Language | None = None
    business_line: Label | None = None
    region: Label | None = None
    store_id: Label | None = None
    product_id: Label | None = None
    occurred_at: EventTime
    metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _metadata_size(cls, value: dict[str, Any]) -> dict[str, Any]:
        if value and len(json.dumps(value, ensure_ascii=False).encode()) > MAX_METADATA_BYTES:
            raise ValueError("must be at most 8 KB as JSON")
        return value

    @field_validator("text", mode="after")
    @classmethod
    def _text_or_score(cls, value: str, info: ValidationInfo) -> str:
        if value:
            return value
        data = info.data  # a copy each time it is read
        if all(data.get(name) is None for name in ("csat", "nps", "ces", "stars")):
            raise ValueError("required when no score (csat, nps, ces, stars) is given")
        return value


class FeedbackBatchIn(Strict):
    records: list[dict[str, Any]] = Field(min_length=1, max_length=1000)
    """Each item is validated on its own, so one bad record does not reject the others."""


class LineItemIn(Strict):
    sku: Id
    quantity: Quantity
    unit_price: PriceIn


class PurchaseIn(Strict):
    type: Literal["purchase"]
    external_id: Id
    order_id: Id
    customer_id: Id
    amount: AmountIn
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    occurred_at: EventTime
    items: list[LineItemIn] = Field(default_factory=list, max_length=MAX_LINE_ITEMS)
    channel: Channel | None = None
    store_id: Label | None = None
    business_line: Label | None = None


class RefundIn(Strict):
    type: Literal["refund"]
    external_id: Id
    order_id: Id
    customer_id: Id
    amount: AmountIn
    occurred_at: EventTime | None = None
    business_line: Label | None = None
    """Defaults to the line of the order's purchase."""


class ReferralIn(Strict):
    type: Literal["referral"]
    external_id: Id
    referrer_id: Id
    referee_id: Id
    occurred_at: EventTime | None = None


class SurveyCompletedIn(Strict):
    type: Literal["survey_completed"]
    external_id: Id
    customer_id: Id
    survey_id: Id
    occurred_at: EventTime | None = None


EventIn = Annotated[PurchaseIn | RefundIn | ReferralIn | SurveyCompletedIn, Field(discriminator="type")]


class EmailWebhookIn(Strict):
    """An inbound e-mail as mail gateways post it."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=EMAIL_SUBJECT_OR_BODY
    )

    message_id: Id
    from_: str = Field(alias="from", min_length=3, max_length=320)
    to: str | None = Field(default=None, max_length=320)
    subject: str = Field(default="", max_length=1000)
    body: str = Field(default="", max_length=10_000)
    received_at: EventTime
    customer_id: Id | None = None
    business_line: Label | None = None


MAX_CALL_S = 86_400.0
"""A segment starting later than a day into the call is a unit mistake (milliseconds), not a call."""


class TranscriptSegment(Strict):
    speaker: Literal["customer", "agent", "ivr"]
    text: str = Field(max_length=10_000)
    start_s: Number | None = Field(default=None, ge=0, le=MAX_CALL_S)


class CallTranscriptIn(Strict):
    """A call-centre transcript: what the customer said becomes the feedback text."""

    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra=TRANSCRIPT_CUSTOMER_OR_CSAT
    )

    call_id: Id
    customer_id: Id
    agent_id: Label | None = None
    started_at: EventTime
    segments: list[TranscriptSegment] = Field(min_length=1, max_length=2000)
    csat: Csat | None = None
    business_line: Label | None = None
    region: Label | None = None


Outcome = Literal["accepted", "duplicate", "conflict", "rejected"]


class Accepted(BaseModel):
    id: UUID
    status: Literal["accepted", "duplicate"]


class FeedbackAccepted(BaseModel):
    feedback_id: UUID
    status: Literal["accepted", "duplicate"]


class EventAccepted(BaseModel):
    event_id: UUID
    status: Literal["accepted", "duplicate"]


class FieldError(BaseModel):
    field: str
    message: str


class BatchItemResult(BaseModel):
    index: int
    external_id: str | None
    status: Outcome
    feedback_id: UUID | None = None
    errors: list[FieldError] = Field(default_factory=list)


class BatchResult(BaseModel):
    accepted: int
    duplicate: int
    conflict: int
    rejected: int
    results: list[BatchItemResult]
